"""The filter language shared by ingest, the API and the scheduled jobs.

A filter is a JSON tree (:mod:`shared.filters.ast`) with a text form for people::

    tree = load('metadata.split IN ("train", "valid") AND NOT metrics.f1 >= 0.5', registry)
    to_text(tree)                       # the canonical text
    evaluate(tree, row, registry)       # the reference interpreter
    matcher = compile_slices({"s1": tree, ...}, registry); matcher(row) -> ["s1", ...]
    plan(tree, registry)                # Firestore constraints + an in-memory residual
"""

from shared.filters.ast import And, Filter, Leaf, Not, Op, Or
from shared.filters.codegen import SliceMatcher, compile_filter, compile_slices
from shared.filters.fields import FieldRegistry, FieldSpec, FieldType, Scope
from shared.filters.interpreter import evaluate
from shared.filters.planner import Constraint, Plan, plan
from shared.filters.text import parse, to_text
from shared.filters.validation import from_json, load, normalize, to_json, validate

__all__ = [
    "And",
    "Constraint",
    "FieldRegistry",
    "FieldSpec",
    "FieldType",
    "Filter",
    "Leaf",
    "Not",
    "Op",
    "Or",
    "Plan",
    "Scope",
    "SliceMatcher",
    "compile_filter",
    "compile_slices",
    "evaluate",
    "from_json",
    "load",
    "normalize",
    "parse",
    "plan",
    "to_json",
    "to_text",
    "validate",
]
