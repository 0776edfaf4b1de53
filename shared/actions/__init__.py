"""Scheduled slice actions: export, publish, webhook and tag the rows that newly enter a slice.

``service`` answers the API (attach, list, read, delete, runs, run now); ``runner`` runs due
actions in the scheduled function (lease, collect since the watermark, act, record, advance);
``tick`` is that function's whole job, background builds and imports included. See
docs/actions.md.
"""
