"""Turning user input into a checked filter: ``load`` (text or JSON) and ``validate``.

Misuse fails here, loudly and once, never at evaluation time: an unknown field, an operator
that does not apply to the field's type, a literal of the wrong type (a number compared with a
string field is an error, not a silent no-match), or a limit exceeded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from shared.errors import FilterError
from shared.filters.ast import And, Filter, Leaf, Not, Op, Or, Scalar
from shared.filters.fields import FieldRegistry, FieldSpec, FieldType
from shared.filters.operators import ALLOWED_OPS, literal_value
from shared.filters.positions import Written, nth, placed, position
from shared.filters.structure import check_raw_size, check_structure
from shared.filters.text import parse_located
from shared.filters.tree import walk
from shared.rfc3339 import parse_datetime

FILTER_ADAPTER: TypeAdapter[Filter] = TypeAdapter(Filter)

_TYPE_NAMES = {
    FieldType.STRING: "a string",
    FieldType.NUMBER: "a number",
    FieldType.DATETIME: "an RFC 3339 datetime string with offset (2024-05-01T12:00:00Z)",
    FieldType.BOOLEAN: "true or false",
    FieldType.STRING_LIST: "a string",
}
_ORDERING_OPS = frozenset({Op.LT, Op.LTE, Op.GT, Op.GTE, Op.BETWEEN})


def load(value: str | dict[str, Any] | Filter, registry: FieldRegistry) -> Filter:
    """A checked, normalised filter from its text, its JSON tree, or a tree built in code.

    See :func:`normalize`: what ``load`` returns always round-trips through text. Text and
    JSON are held to the limits as written; a tree built in code (say, a user's filter ANDed
    with a scope condition) is held to them once normalised. An error about one comparison of
    a text names its position.
    """
    written: tuple[Written, ...] = ()
    if isinstance(value, str):
        tree, written = parse_located(value)
    elif isinstance(value, dict):
        check_raw_size(value)
        tree = from_json(value)
    elif isinstance(value, And | Or | Not | Leaf):
        tree = value
    else:
        raise FilterError(f"a filter is text or a JSON object, not {type(value).__name__}")
    tree = normalize(tree)  # keeps the leaves in order, so ``written`` still lines up
    validate(tree, registry, written)
    return tree


def from_json(value: Any) -> Filter:
    """The tree of a JSON filter; shape errors become a :class:`FilterError` saying where."""
    try:
        return FILTER_ADAPTER.validate_python(value)
    except ValidationError as error:
        raise FilterError(_describe(error.errors()[0])) from None


def to_json(tree: Filter) -> dict[str, Any]:
    """The canonical JSON tree (what the API returns and the store keeps)."""
    dumped: dict[str, Any] = FILTER_ADAPTER.dump_python(tree, by_alias=True, exclude_none=True)
    return dumped


def normalize(tree: Filter) -> Filter:
    """The same filter with an AND inside an AND (an OR inside an OR) merged into its parent
    and every single-child AND / OR replaced by its child.

    The meaning is unchanged (an empty AND inside an AND is TRUE AND ..., so it just vanishes);
    the single-child forms are the only trees the text cannot spell.
    """
    if isinstance(tree, And | Or):
        kind = And if isinstance(tree, And) else Or
        kids: list[Filter] = []
        for child in tree.and_ if isinstance(tree, And) else tree.or_:
            normal = normalize(child)
            if isinstance(normal, kind):
                kids.extend(normal.and_ if isinstance(normal, And) else normal.or_)
            else:
                kids.append(normal)
        if len(kids) == 1:
            return kids[0]
        return And(and_=kids) if kind is And else Or(or_=kids)
    if isinstance(tree, Not):
        return Not(not_=normalize(tree.not_))
    return tree


def validate(tree: Filter, registry: FieldRegistry, written: Sequence[Written] = ()) -> None:
    """Raise a :class:`FilterError` unless ``tree`` is a filter the registry's rows can answer.

    Checks the limits, that no AND / OR has exactly one child (see :func:`load`), each field,
    each operator against the field's type, and each literal against the field. ``written``
    places the leaves in the text they came from (see :mod:`~shared.filters.positions`), so
    that an error about one of them says where it is.
    """
    check_structure(tree, written)
    leaf_index = 0
    for node, _ in walk(tree):
        if isinstance(node, And) and len(node.and_) == 1:
            raise FilterError("an 'and' with a single child: use the child itself")
        if isinstance(node, Or) and len(node.or_) == 1:
            raise FilterError("an 'or' with a single child: use the child itself")
        if isinstance(node, Leaf):
            where = nth(written, leaf_index)
            leaf_index += 1
            try:
                spec = registry.lookup(node.field)
            except FilterError as unknown:
                raise placed(unknown, where) from None
            check_leaf(node, spec, where)


def check_leaf(leaf: Leaf, spec: FieldSpec, where: Written | None = None) -> None:
    """The operator applies to the field's type and every literal has the field's type."""
    allowed = ALLOWED_OPS[spec.type]
    if leaf.op not in allowed:
        names = ", ".join(op.value for op in Op if op in allowed)
        raise FilterError(
            f"operator '{leaf.op}' does not apply to {spec.name} ({spec.type.value}); "
            f"it takes: {names}",
            position=position(where),
        )
    values: list[Scalar] = (
        leaf.values if leaf.values is not None else [] if leaf.value is None else [leaf.value]
    )
    for index, value in enumerate(values):
        if not _literal_fits(spec, value):
            raise FilterError(
                f"{spec.name} {leaf.op}: {spec.name} is a {spec.type.value} field, so the "
                f"value must be {_TYPE_NAMES[spec.type]}, got {_describe_literal(value)}",
                position=position(where, index),
            )
        if spec.enum is not None and leaf.op is not Op.PREFIX and value not in spec.enum:
            shown = ", ".join(repr(v) for v in sorted(spec.enum)[:20])
            raise FilterError(
                f"{spec.name} {leaf.op}: {value!r} is not one of: {shown}",
                position=position(where, index),
            )
    if leaf.op is Op.BETWEEN:
        low, high = (literal_value(spec, value) for value in values)
        if low > high:
            raise FilterError(
                f"{spec.name} between: the low end is above the high end",
                position=position(where),
            )


def _literal_fits(spec: FieldSpec, value: Scalar) -> bool:
    kind = spec.type
    if kind is FieldType.NUMBER:
        return type(value) in (int, float)
    if kind is FieldType.BOOLEAN:
        return type(value) is bool
    if not isinstance(value, str):
        return False
    return kind is not FieldType.DATETIME or parse_datetime(value) is not None


def _describe_literal(value: Scalar) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    return f"the string {value!r:.80}"


# The members of the literal union, as pydantic names them in an error's location.
_SCALAR_MEMBERS = frozenset({"bool", "int", "float", "str"})


def _describe(error: ErrorDetails) -> str:
    """One pydantic error as a sentence: where in the tree, then what is wrong."""
    parts: list[str] = []
    loc = list(error["loc"])
    literal = False
    for index, part in enumerate(loc):
        if isinstance(part, int):
            parts[-1:] = [f"{parts[-1]}[{part}]" if parts else f"[{part}]"]
        elif _is_tag(loc, index):
            continue
        elif _is_scalar_member(loc, index):
            literal = True
        else:
            parts.append(str(part))
    message = error["msg"]
    if literal:
        message = f"a value must be a string, number or boolean, got {_json_kind(error['input'])}"
    if error["type"] == "union_tag_not_found":
        message = (
            f"a node must be an object, a comparison or an and / or / not, "
            f"got {_json_kind(error['input'])}"
        )
    if error["type"] == "enum" and parts and parts[-1].endswith("op"):
        message = f"unknown operator {error['input']!r}; known: {', '.join(op.value for op in Op)}"
    if error["type"] == "extra_forbidden":
        message = f"unknown key {parts[-1]!r}" if parts else message
    if error["type"].startswith("value_error"):
        message = message.removeprefix("Value error, ")
    return (
        f"invalid filter at {'.'.join(parts)}: {message}" if parts else f"invalid filter: {message}"
    )


def _is_tag(loc: list[int | str], index: int) -> bool:
    """A discriminator tag ('leaf', 'and', ...), which repeats the key that follows it."""
    part = loc[index]
    return part == "leaf" or (
        part in ("and", "or", "not") and index + 1 < len(loc) and loc[index + 1] == part
    )


def _is_scalar_member(loc: list[int | str], index: int) -> bool:
    """A union member under ``value`` or ``values[i]``: pydantic's name, not the user's."""
    if loc[index] not in _SCALAR_MEMBERS or index == 0:
        return False
    before = loc[index - 1]
    return before == "value" or (
        isinstance(before, int) and loc[index - 2 : index - 1] == ["values"]
    )


def _json_kind(value: Any) -> str:
    """What a JSON value is, in words: 'a list', 'null', ..."""
    if value is None:
        return "null"
    kinds = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    kinds |= {list: "a list", dict: "an object"}
    return kinds.get(type(value), type(value).__name__)
