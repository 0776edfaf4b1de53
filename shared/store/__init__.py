"""The only code that talks to Firestore. Everything above it deals in models and plain dicts.

Document layout, every query and the index each one needs: docs/architecture.md.
"""
