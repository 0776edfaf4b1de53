"""Services: what the API does, combining the filter language, the store and the models.

Each module serves one resource (data rows, datasets, slices, the metadata schema) and speaks
in models and plain values; only :mod:`shared.store` below them talks to Firestore.
"""
