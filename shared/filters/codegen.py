"""The compiled evaluator: many slices decided at once by generated Python code.

Ingest evaluates every row it writes against every slice of its scope, so the slices of a scope
are compiled together, once per change of the slice set, into one function that reads each
field of the row once (into a local, already normalised to ``None`` when missing, null or of
the wrong type, exactly as :func:`~shared.filters.operators.read_value` does) and then decides
every slice with one expression over those locals.

Why ``exec`` is safe here: the generated source holds only identifiers we make up, operators,
and dictionary keys that come from the field registry (written with ``repr``). Every literal a
user wrote (strings, numbers, datetimes, sets of them) and every slice id reaches the code only
as a closure constant, never as source text, and the code runs with a minimal set of builtins.
Property tests check that it agrees with the interpreter on every row.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from datetime import datetime
from typing import Any

from shared.errors import FilterError
from shared.filters.ast import And, Filter, Leaf, Not, Op, Or
from shared.filters.fields import FieldRegistry, FieldSpec, FieldType
from shared.filters.operators import literal_value
from shared.filters.validation import validate

Row = Mapping[str, Any]

# How a raw value ``v`` becomes the local: the same rules as operators.ROW_TYPE_CHECKS.
_NORMALISE = {
    FieldType.STRING: "{f} = v if type(v) is str else None",
    FieldType.NUMBER: "{f} = v if type(v) is int or (type(v) is float and v == v) else None",
    FieldType.DATETIME: "{f} = v if isinstance(v, _datetime) and v.tzinfo is not None else None",
    FieldType.BOOLEAN: "{f} = v if type(v) is bool else None",
    # A list becomes the set of its hashable elements: membership then costs one lookup, and
    # an unhashable element (a map, a list) could never equal a string literal anyway.
    FieldType.STRING_LIST: (
        "if type(v) is list:\n"
        "    try:\n"
        "        {f} = frozenset(v)\n"
        "    except TypeError:\n"
        "        {f} = _hashable_set(v)\n"
        "else:\n"
        "    {f} = None"
    ),
}

_SYMBOLS = {Op.EQ: "==", Op.NE: "!=", Op.LT: "<", Op.LTE: "<=", Op.GT: ">", Op.GTE: ">="}

# All the generated code may name besides its own locals and constants.
_BUILTINS: dict[str, Any] = {
    "type": type, "isinstance": isinstance, "frozenset": frozenset, "TypeError": TypeError,
    "str": str, "int": int, "float": float, "list": list, "bool": bool, "dict": dict,
}  # fmt: skip


def _hashable_set(values: list[Any]) -> frozenset[Any]:
    return frozenset(v for v in values if _hashes(v))


def _hashes(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:  # a tuple holding a list, say
        return False
    return True


class SliceMatcher:
    """``matcher(row)`` is the list of ids of the slices ``row`` matches, in the given order."""

    __slots__ = ("_match", "ids", "source")

    def __init__(self, ids: tuple[str, ...], match: Callable[[Row], list[str]], source: str):
        self.ids = ids
        self.source = source
        self._match = match

    def __call__(self, row: Row) -> list[str]:
        return self._match(row)

    def __len__(self) -> int:
        return len(self.ids)


def compile_slices(filters: Mapping[str, Filter], registry: FieldRegistry) -> SliceMatcher:
    """One function deciding every slice of ``filters`` (slice id -> filter) for a row.

    Each filter is validated first; an invalid one raises a :class:`FilterError` naming it.
    """
    for slice_id, tree in filters.items():
        try:
            validate(tree, registry)
        except FilterError as error:
            raise FilterError(f"slice {slice_id!r}: {error.message}") from None
    code = _Codegen(registry)
    body = [
        f"if {code.expression(tree)}: add({code.constant(sid)})" for sid, tree in filters.items()
    ]
    source = code.function(["out = []", "add = out.append", *body, "return out"])
    match: Callable[[Row], list[str]] = code.build(source)
    return SliceMatcher(tuple(filters), match, source)


def compile_filter(tree: Filter, registry: FieldRegistry) -> Callable[[Row], bool]:
    """One filter as a function ``row -> bool``; validates the filter first."""
    validate(tree, registry)
    code = _Codegen(registry)
    expression = code.expression(tree)
    match: Callable[[Row], bool] = code.build(code.function([f"return {expression}"]))
    return match


class _Codegen:
    """Collects the fields and constants one generated function needs."""

    def __init__(self, registry: FieldRegistry) -> None:
        self._registry = registry
        self._fields: dict[str, tuple[str, FieldSpec]] = {}
        self._constants: list[Any] = []
        self._constant_names: dict[Hashable, str] = {}

    def constant(self, value: Any) -> str:
        """The closure name holding ``value`` (equal values of one type share a name)."""
        key = (type(value), value)
        name = self._constant_names.get(key)
        if name is None:
            name = f"c{len(self._constants)}"
            self._constants.append(value)
            self._constant_names[key] = name
        return name

    def _local(self, spec: FieldSpec) -> str:
        entry = self._fields.get(spec.name)
        if entry is None:
            entry = (f"f{len(self._fields)}", spec)
            self._fields[spec.name] = entry
        return entry[0]

    def expression(self, tree: Filter) -> str:
        if isinstance(tree, And):
            return f"({' and '.join(map(self.expression, tree.and_))})" if tree.and_ else "True"
        if isinstance(tree, Or):
            return f"({' or '.join(map(self.expression, tree.or_))})" if tree.or_ else "False"
        if isinstance(tree, Not):
            return f"(not {self.expression(tree.not_)})"
        return self._leaf(tree)

    def _leaf(self, leaf: Leaf) -> str:  # noqa: PLR0911 - one expression per operator
        spec = self._registry.lookup(leaf.field)
        f = self._local(spec)
        op = leaf.op
        if op is Op.EXISTS:
            return f"({f} is not None)"
        values = [literal_value(spec, v) for v in leaf.values or ()]
        one = self.constant(literal_value(spec, leaf.value)) if leaf.value is not None else ""
        if op is Op.EQ:  # None never equals a literal, so no presence test is needed
            return f"({f} == {one})"
        if op in _SYMBOLS:
            return f"({f} is not None and {f} {_SYMBOLS[op]} {one})"
        if op is Op.BETWEEN:
            low, high = self.constant(values[0]), self.constant(values[1])
            return f"({f} is not None and {low} <= {f} <= {high})"
        if op is Op.PREFIX:
            return f"({f} is not None and {f}.startswith({one}))"
        if op is Op.CONTAINS:
            return f"({f} is not None and {one} in {f})"
        group = self.constant(frozenset(values))
        if op is Op.IN:
            return f"({f} in {group})"
        if op is Op.NOT_IN:
            return f"({f} is not None and {f} not in {group})"
        if op is Op.CONTAINS_ANY:
            return f"({f} is not None and not {group}.isdisjoint({f}))"
        return f"({f} is not None and {group} <= {f})"  # CONTAINS_ALL

    def function(self, body: list[str]) -> str:
        """The source of ``_factory(constants...) -> match(row)``: reads, then ``body``."""
        lines = ["def match(row):", *_indent(self._reads(), 1), *_indent(body, 1)]
        params = ", ".join(
            ["_datetime", "_hashable_set"] + [f"c{i}" for i in range(len(self._constants))]
        )
        return "\n".join([f"def _factory({params}):", *_indent(lines, 1), "    return match", ""])

    def _reads(self) -> list[str]:
        """Read each field once, sharing the lookup of a common parent map."""
        by_parent: dict[tuple[str, ...], list[tuple[str, FieldSpec]]] = {}
        for local, spec in self._fields.values():
            by_parent.setdefault(spec.path[:-1], []).append((local, spec))
        lines: list[str] = []
        for index, (parent, fields) in enumerate(sorted(by_parent.items())):
            if not parent:
                lines.extend(_read_fields("row", fields))
                continue
            holder = f"m{index}"
            lines.append(f"{holder} = row.get({_key(parent[0])})")
            lines.extend(
                f"{holder} = {holder}.get({_key(key)}) if type({holder}) is dict else None"
                for key in parent[1:]
            )
            lines.append(f"if type({holder}) is dict:")
            lines.extend(_indent(_read_fields(holder, fields), 1))
            lines.append("else:")
            lines.append("    " + " = ".join(local for local, _ in fields) + " = None")
        return lines

    def build(self, source: str) -> Any:
        namespace: dict[str, Any] = {"__builtins__": _BUILTINS}
        exec(compile(source, "<compiled filters>", "exec"), namespace)  # noqa: S102 - see module doc
        return namespace["_factory"](datetime, _hashable_set, *self._constants)


def _read_fields(holder: str, fields: list[tuple[str, FieldSpec]]) -> list[str]:
    lines: list[str] = []
    for local, spec in fields:
        lines.append(f"v = {holder}.get({_key(spec.path[-1])})")
        lines.extend(_NORMALISE[spec.type].format(f=local).split("\n"))
    return lines


def _key(key: str) -> str:
    """A document key from the registry as a Python literal (repr round-trips any str)."""
    if type(key) is not str:
        raise TypeError(f"document keys are strings, got {key!r}")
    return repr(key)


def _indent(lines: list[str], levels: int) -> list[str]:
    pad = "    " * levels
    return [pad + line for line in lines]
