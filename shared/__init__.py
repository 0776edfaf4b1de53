"""The package all three functions import: models, the filter language, metrics and the store."""
