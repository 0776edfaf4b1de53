"""The canonical form of a filter: a JSON tree, validated by pydantic.

A node is a leaf ``{"field", "op", "value" | "values"}`` or a combinator ``{"and": [...]}``,
``{"or": [...]}``, ``{"not": {...}}``. The tree is plain data: it is stored in Firestore as is,
sent over HTTP as is, and says nothing about how it is evaluated.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    Tag,
    model_validator,
)

# Literal values: no coercion, ever. Datetimes are RFC 3339 strings, typed by their field.
Scalar = StrictBool | StrictInt | StrictFloat | StrictStr


class Op(StrEnum):
    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LTE = "lte"
    GT = "gt"
    GTE = "gte"
    BETWEEN = "between"
    IN = "in"
    NOT_IN = "not_in"
    CONTAINS = "contains"
    CONTAINS_ANY = "contains_any"
    CONTAINS_ALL = "contains_all"
    PREFIX = "prefix"
    EXISTS = "exists"


# Which operand each operator takes: one ``value``, a list of ``values``, or nothing.
SINGLE_VALUE_OPS = frozenset({Op.EQ, Op.NE, Op.LT, Op.LTE, Op.GT, Op.GTE, Op.CONTAINS, Op.PREFIX})
LIST_VALUE_OPS = frozenset({Op.IN, Op.NOT_IN, Op.CONTAINS_ANY, Op.CONTAINS_ALL, Op.BETWEEN})


class _Node(BaseModel):
    """Immutable, no unknown keys, JSON keys ``and``/``or``/``not`` (``and_`` in code)."""

    # populate_by_name repeats validate_by_name for pydantic's mypy plugin, which reads only
    # a literal config: code builds nodes as And(and_=[...]).
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True,
        populate_by_name=True,
        serialize_by_alias=True,
    )


class Leaf(_Node):
    """One comparison of a field with literal values, e.g. ``metadata.split IN ("a", "b")``."""

    field: StrictStr
    op: Op
    value: Scalar | None = None
    values: list[Scalar] | None = None

    @model_validator(mode="after")
    def _operand_matches_op(self) -> Leaf:
        if self.op in SINGLE_VALUE_OPS:
            if self.value is None or self.values is not None:
                raise ValueError(f"operator '{self.op}' takes one 'value'")
        elif self.op in LIST_VALUE_OPS:
            if self.values is None or self.value is not None:
                raise ValueError(f"operator '{self.op}' takes a list of 'values'")
            if self.op is Op.BETWEEN and len(self.values) != 2:
                raise ValueError("operator 'between' takes exactly two 'values': low and high")
        elif self.value is not None or self.values is not None:
            raise ValueError(f"operator '{self.op}' takes no value")
        return self


class And(_Node):
    """All of the children match (an empty list matches every row)."""

    and_: list[Filter] = Field(alias="and")


class Or(_Node):
    """At least one child matches (an empty list matches no row)."""

    or_: list[Filter] = Field(alias="or")


class Not(_Node):
    """The child does not match."""

    not_: Filter = Field(alias="not")


def _node_kind(node: Any) -> str | None:  # noqa: PLR0911 - one answer per node kind
    if isinstance(node, dict):
        for key in ("and", "or", "not"):
            if key in node:
                return key
        return "leaf"
    if isinstance(node, And):
        return "and"
    if isinstance(node, Or):
        return "or"
    if isinstance(node, Not):
        return "not"
    if isinstance(node, Leaf):
        return "leaf"
    return None


Filter = Annotated[
    Annotated[And, Tag("and")]
    | Annotated[Or, Tag("or")]
    | Annotated[Not, Tag("not")]
    | Annotated[Leaf, Tag("leaf")],
    Discriminator(_node_kind),
]

for _model in (And, Or, Not):
    _model.model_rebuild()
