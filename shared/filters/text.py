"""The text form of a filter, for people: ``parse(text)`` and ``to_text(tree)``.

Grammar (keywords are case-insensitive; NOT binds tighter than AND, AND tighter than OR)::

    metadata.split IN ("train", "valid") AND labels.classes CONTAINS "car"
    NOT (metrics.f1 >= 0.5 OR metadata.weather EXISTS)

``TRUE`` is the empty AND (every row) and ``FALSE`` the empty OR (no row); empty text is
``TRUE``. Strings are double-quoted with JSON's backslash escapes (a raw control character,
say a newline, is an error that names the escape to write); numbers are JSON numbers, an
integer stays an integer and ``1.0`` stays a float. ``to_text`` writes the canonical form
(upper-case keywords, single spaces, only the parentheses the tree needs), so
``parse(to_text(tree)) == tree`` for every tree :func:`~shared.filters.validation.validate`
accepts, and ``to_text(parse(text))`` normalises any text.

Parsing is LALR with the tree built while parsing, so no step recurses over the input: a
pathological text fails on a limit, never on Python's recursion limit.
"""

from __future__ import annotations

import json
import math
import re
from functools import cache
from itertools import chain
from typing import Any, NamedTuple, cast

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError

from shared.errors import FilterError
from shared.filters.ast import And, Filter, Leaf, Not, Op, Or, Scalar
from shared.filters.limits import MAX_TEXT_LENGTH
from shared.filters.positions import Written
from shared.filters.structure import check_structure

_GRAMMAR = r"""
?start: or_expr
      |                                     -> true_
?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: _NOT not_expr                    -> not_
         | atom
?atom: _LPAR or_expr _RPAR
     | TRUE                                 -> true_
     | FALSE                                -> false_
     | comparison
?comparison: FIELD CMP value                -> compare
           | FIELD _BETWEEN value _AND value -> between
           | FIELD _IN values                 -> in_
           | FIELD _NOT _IN values            -> not_in
           | FIELD _CONTAINS value          -> contains
           | FIELD _CONTAINS _ANY values      -> contains_any
           | FIELD _CONTAINS _ALL values      -> contains_all
           | FIELD _STARTS _WITH value      -> prefix
           | FIELD _EXISTS                  -> exists
values: _LPAR [value (_COMMA value)*] _RPAR
?value: STRING | NUMBER | TRUE | FALSE

FIELD: /[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*/i
CMP: "==" | "=" | "!=" | "<=" | "<" | ">=" | ">"
STRING: /"(?:[^"\\\x00-\x1f]|\\["\\\/bfnrt]|\\u[0-9a-fA-F]{4})*"/
NUMBER: /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/
_OR.2: /or\b/i
_AND.2: /and\b/i
_NOT.2: /not\b/i
_IN.2: /in\b/i
_BETWEEN.2: /between\b/i
_CONTAINS.2: /contains\b/i
_ANY.2: /any\b/i
_ALL.2: /all\b/i
_STARTS.2: /starts\b/i
_WITH.2: /with\b/i
_EXISTS.2: /exists\b/i
TRUE.2: /true\b/i
FALSE.2: /false\b/i
_LPAR: "("
_RPAR: ")"
_COMMA: ","
%ignore /[ \t\r\n]+/
"""

KEYWORDS = frozenset(
    {"and", "or", "not", "in", "between", "contains", "any", "all", "starts", "with", "exists"}
    | {"true", "false"}
)
FIELD_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")

_COMPARISONS = {"=": Op.EQ, "==": Op.EQ, "!=": Op.NE, "<": Op.LT, "<=": Op.LTE, ">": Op.GT}
_COMPARISONS[">="] = Op.GTE
_SYMBOLS = {Op.EQ: "=", Op.NE: "!=", Op.LT: "<", Op.LTE: "<=", Op.GT: ">", Op.GTE: ">="}
_LIST_WORDS = {
    Op.IN: "IN",
    Op.NOT_IN: "NOT IN",
    Op.CONTAINS_ANY: "CONTAINS ANY",
    Op.CONTAINS_ALL: "CONTAINS ALL",
}

# How a parse error names what it expected instead.
_TERMINAL_NAMES = {
    "FIELD": "a field name",
    "CMP": "a comparison (= != < <= > >=)",
    "STRING": "a string",
    "NUMBER": "a number",
    "LPAR": "'('",
    "RPAR": "')'",
    "COMMA": "','",
    "$END": "the end of the filter",
}


def _literal(token: Token) -> Scalar:
    """The value a literal token stands for; ints stay ints, floats stay floats."""
    text = str(token)
    if token.type == "STRING":
        value: str = json.loads(text)
        return value
    if token.type == "TRUE":
        return True
    if token.type == "FALSE":
        return False
    if any(c in text for c in ".eE"):
        number = float(text)
        if not math.isfinite(number):
            raise FilterError(f"number {text} is out of range", position=token.start_pos)
        return number
    return int(text)


class _Built(NamedTuple):
    """A subtree and where each of its leaves was written, left to right."""

    tree: Filter
    written: tuple[Written, ...]


def _joined(children: list[_Built]) -> tuple[Written, ...]:
    return tuple(chain.from_iterable(child.written for child in children))


def _start(token: Token) -> int:
    return token.start_pos or 0


def _leaf(field: Token, op: Op, operand: Token | list[Token] | None = None) -> _Built:
    """A comparison, with the places of its field and of each literal."""
    tokens = [] if operand is None else operand if isinstance(operand, list) else [operand]
    literals = [_literal(token) for token in tokens]
    if operand is None:
        leaf = Leaf(field=str(field), op=op)
    elif isinstance(operand, list):
        leaf = Leaf(field=str(field), op=op, values=literals)
    else:
        leaf = Leaf(field=str(field), op=op, value=literals[0])
    return _Built(leaf, (Written(_start(field), tuple(_start(token) for token in tokens)),))


class _Build(Transformer[Token, _Built]):
    """Builds the pydantic tree as the parser reduces each rule, noting where leaves were."""

    def or_expr(self, children: list[_Built]) -> _Built:
        return _Built(Or(or_=[child.tree for child in children]), _joined(children))

    def and_expr(self, children: list[_Built]) -> _Built:
        return _Built(And(and_=[child.tree for child in children]), _joined(children))

    def not_(self, children: list[_Built]) -> _Built:
        return _Built(Not(not_=children[0].tree), children[0].written)

    def true_(self, _: list[Any]) -> _Built:
        return _Built(And(and_=[]), ())

    def false_(self, _: list[Any]) -> _Built:
        return _Built(Or(or_=[]), ())

    def values(self, children: list[Token | None]) -> list[Token]:
        return [token for token in children if token is not None]

    def compare(self, children: list[Token]) -> _Built:
        field, symbol, value = children
        return _leaf(field, _COMPARISONS[str(symbol)], value)

    def between(self, children: list[Token]) -> _Built:
        field, low, high = children
        return _leaf(field, Op.BETWEEN, [low, high])

    def in_(self, children: list[Any]) -> _Built:
        return _leaf(children[0], Op.IN, children[1])

    def not_in(self, children: list[Any]) -> _Built:
        return _leaf(children[0], Op.NOT_IN, children[1])

    def contains(self, children: list[Token]) -> _Built:
        return _leaf(children[0], Op.CONTAINS, children[1])

    def contains_any(self, children: list[Any]) -> _Built:
        return _leaf(children[0], Op.CONTAINS_ANY, children[1])

    def contains_all(self, children: list[Any]) -> _Built:
        return _leaf(children[0], Op.CONTAINS_ALL, children[1])

    def prefix(self, children: list[Token]) -> _Built:
        return _leaf(children[0], Op.PREFIX, children[1])

    def exists(self, children: list[Token]) -> _Built:
        return _leaf(children[0], Op.EXISTS)


@cache
def _parser() -> Lark:
    return Lark(_GRAMMAR, parser="lalr", transformer=_Build(), maybe_placeholders=True)


def parse(text: str) -> Filter:
    """The tree a filter text stands for; a :class:`FilterError` with a position if it has none.

    Only the syntax and the structural limits are checked here; fields and types are checked
    against a registry by :func:`~shared.filters.validation.validate`.
    """
    return parse_located(text)[0]


def parse_located(text: str) -> tuple[Filter, tuple[Written, ...]]:
    """The tree of :func:`parse` and where each of its leaves was written, left to right."""
    if not isinstance(text, str):
        raise FilterError(f"a filter text must be a string, not {type(text).__name__}")
    if len(text) > MAX_TEXT_LENGTH:
        raise FilterError(
            f"filter text is {len(text)} characters; the limit is {MAX_TEXT_LENGTH}",
            position=MAX_TEXT_LENGTH,
        )
    try:
        built = cast(_Built, _parser().parse(text))
    except UnexpectedInput as error:
        raise _syntax_error(text, error) from None
    except VisitError as error:  # a callback's own error, e.g. a number out of range
        if isinstance(error.orig_exc, FilterError):
            raise error.orig_exc from None
        raise
    check_structure(built.tree, built.written)
    return built.tree, built.written


def _syntax_error(text: str, error: UnexpectedInput) -> FilterError:
    expected: set[str] = set()
    position: int
    if isinstance(error, UnexpectedToken):
        token = error.token
        # The parser state knows exactly which tokens could follow; ``expected`` over-reports.
        parser = error.interactive_parser
        expected = set(parser.accepts()) if parser else set()  # type: ignore[no-untyped-call]
        if token.type == "$END":
            position = len(text)
            found = "end of filter"
        else:
            position = token.start_pos if token.start_pos is not None else 0
            found = repr(str(token))
    elif isinstance(error, UnexpectedCharacters):
        position = int(error.pos_in_stream or 0)
        expected = set(error.allowed)
        char = text[position]
        if char == '"':
            return _string_error(text, position)
        found = repr(char)
    else:  # pragma: no cover - the LALR parser raises only the two above
        position = 0
        found = "input"
    names = sorted({_TERMINAL_NAMES.get(name.lstrip("_"), name.lstrip("_")) for name in expected})
    hint = f"; expected {', '.join(names)}" if names else ""
    return FilterError(f"syntax error: unexpected {found}{hint}", position=position)


_ESCAPES = {'"', "\\", "/", "b", "f", "n", "r", "t"}
_SHORT_ESCAPES = {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_HEX = frozenset("0123456789abcdefABCDEF")
_ESCAPE_HELP = 'strings use JSON escapes: \\" \\\\ \\n \\t \\uXXXX ...'


def _as_written(escape: str) -> str:
    """An escape as the user wrote it, up to a quote or a control character."""
    end = next((i for i, c in enumerate(escape) if i and (c == '"' or c < " ")), len(escape))
    return escape[:end]


def _string_error(text: str, start: int) -> FilterError:
    """What is wrong with the string literal opening at ``start``, and where."""
    index = start + 1
    while index < len(text) and text[index] != '"':
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            after = text[index + 1]
            digits = text[index + 2 : index + 6]
            if after in _ESCAPES:
                index += 2
            elif after == "u" and len(digits) == 4 and set(digits) <= _HEX:
                index += 6
            else:
                shown = _as_written(text[index : index + (6 if after == "u" else 2)])
                return FilterError(
                    f"invalid escape {shown} in a string ({_ESCAPE_HELP})", position=index
                )
        elif ord(char) < 0x20:
            escape = _SHORT_ESCAPES.get(char, f"\\u{ord(char):04x}")
            return FilterError(
                f"control character U+{ord(char):04X} in a string; write {escape}", position=index
            )
        else:
            index += 1
    return FilterError(f"unterminated string: no closing quote ({_ESCAPE_HELP})", position=start)


def to_text(node: Filter) -> str:
    """The canonical text of a tree.

    An AND or OR with one child has no text of its own and is written as its child (the same
    meaning); :func:`~shared.filters.validation.load` removes such nodes, so this only matters
    for trees built by hand.
    """
    return _text(node, parent=None)


def _compound(node: Filter) -> Filter | None:
    """``node`` if it prints as an infix chain (AND or OR with at least two children)."""
    if isinstance(node, And) and len(node.and_) >= 2:
        return node
    if isinstance(node, Or) and len(node.or_) >= 2:
        return node
    return None


def _text(node: Filter, parent: Filter | None) -> str:
    if isinstance(node, Leaf):
        return _leaf_text(node)
    if isinstance(node, Not):
        return "NOT " + _text(node.not_, node)
    items = node.and_ if isinstance(node, And) else node.or_
    if not items:
        return "TRUE" if isinstance(node, And) else "FALSE"
    if len(items) == 1:
        return _text(items[0], parent)
    body = (" AND " if isinstance(node, And) else " OR ").join(_text(c, node) for c in items)
    # Parentheses keep the tree's shape: an infix chain inside NOT or AND, or an OR inside OR.
    if isinstance(parent, Not | And) or (isinstance(parent, Or) and isinstance(node, Or)):
        return f"({body})"
    return body


def _leaf_text(leaf: Leaf) -> str:
    field = leaf.field
    # A keyword first segment would lex as the keyword ("true.x"); later segments are safe.
    if not FIELD_PATTERN.fullmatch(field) or field.split(".")[0].lower() in KEYWORDS:
        raise FilterError(f"field name {field!r} cannot be written as filter text")
    op = leaf.op
    values = leaf.values or []
    if op in _SYMBOLS:
        return f"{field} {_SYMBOLS[op]} {_value_text(leaf.value)}"
    if op is Op.BETWEEN:
        return f"{field} BETWEEN {_value_text(values[0])} AND {_value_text(values[1])}"
    if op in _LIST_WORDS:
        return f"{field} {_LIST_WORDS[op]} ({', '.join(_value_text(v) for v in values)})"
    if op is Op.CONTAINS:
        return f"{field} CONTAINS {_value_text(leaf.value)}"
    if op is Op.PREFIX:
        return f"{field} STARTS WITH {_value_text(leaf.value)}"
    return f"{field} EXISTS"


def _value_text(value: Scalar | None) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FilterError(f"{value} is not a finite number and cannot be written as text")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    raise FilterError(f"{value!r} is not a literal")
