"""Model runs: predictions in, per-row metrics, run totals, generated slices, recomputes.

- ``documents``: the model-run row layout (a copy of the data row + predictions + metrics);
- ``writes``: the one way model-run rows are written (uploads, syncs, recomputes);
- ``sync``: model-run rows follow their data rows (called after every catalog write);
- ``totals``: the run's totals, kept by Increment deltas in the rows' own commits;
- ``lines``, ``uploads``: prediction lines, parsed and landed with a report;
- ``objects``, ``imports``, ``coco``, ``ground_truth``: what lands in the bucket;
- ``recompute``: rescoring after a threshold change, resumable;
- ``generated_slices``: the nine slices of every run.
"""
