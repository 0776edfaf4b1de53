"""One line of an NDJSON upload (a manifest, a predictions file), from bytes to a JSON object or
the reason it is refused. Pure.

The rules every upload shares: a UTF-8 BOM is allowed at the start of the file only, CRLF line
ends are accepted, a line of nothing but spaces is blank (counted, neither landed nor
rejected), and a reason names what is wrong and where.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import ValidationError
from pydantic_core import ErrorDetails

if TYPE_CHECKING:
    from shared.storage import Line

MAX_LINE_BYTES = 256 * 1024
BOM = b"\xef\xbb\xbf"


class Blank:
    """A line with nothing on it."""


BLANK = Blank()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def decode_object(  # noqa: PLR0911 (one return per reason)
    data: bytes | None, *, first: bool = False, allow_constants: bool = False
) -> dict[str, Any] | Blank | str:
    """The line's JSON object, BLANK, or the reason it is refused.

    ``data`` is the line without its newline, None when it was over :data:`MAX_LINE_BYTES`;
    ``first`` says it starts the file. ``NaN`` and ``Infinity`` are refused as JSON unless
    ``allow_constants``, for a caller whose validation names the field they are in.
    """
    if data is None:
        return f"line longer than {MAX_LINE_BYTES} bytes"
    if first and data.startswith(BOM):
        data = data[len(BOM) :]
    if data.endswith(b"\r"):
        data = data[:-1]
    if not data.strip():
        return BLANK
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"not valid UTF-8 (byte {error.start + 1})"
    try:
        value = (
            json.loads(text)
            if allow_constants
            else json.loads(text, parse_constant=_reject_constant)
        )
    except json.JSONDecodeError as error:
        return f"invalid JSON: {error.msg} (column {error.colno})"
    except ValueError as error:
        return f"invalid JSON: {error}"
    except RecursionError:
        return "invalid JSON: nested too deeply"
    return value if isinstance(value, dict) else not_an_object(value)


def not_an_object(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return f"expected a JSON object, got {names.get(type(value), 'a number')}"


def describe(
    error: ValidationError, *, explain: Callable[[ErrorDetails], str | None] | None = None
) -> str:
    """The first three problems, each with where it is: ``labels[0].name: ...``.

    ``explain`` may word a problem in its caller's terms (None keeps pydantic's message).
    """
    problems = []
    for item in error.errors(include_url=False)[:3]:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in item["loc"])
        message = (explain and explain(item)) or str(item["msg"]).removeprefix("Value error, ")
        problems.append(f"{where.lstrip('.') or 'line'}: {message}")
    more = error.error_count() - len(problems)
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")


# ---- chunks: consecutive lines landed in one write --------------------------------------

T = TypeVar("T")
# A parsed line: the byte offset just past it (0 when not from a file), its size, and its row,
# the reason it is refused, or BLANK.
Parsed = tuple[int, int, T | str | Blank]


@dataclass(frozen=True)
class Bounds:
    """A chunk ends at whichever bound it reaches first."""

    rows: int
    lines: int
    row_bytes: int = sys.maxsize


@dataclass
class Chunk(Generic[T]):
    """Consecutive lines, ending at byte ``end`` of their object; numbered rows and reasons."""

    end: int = 0
    lines: int = 0
    blank: int = 0
    row_bytes: int = 0
    rows: list[tuple[int, T]] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)


def parse_lines(
    lines: Iterable[Line], parse: Callable[[bytes | None, bool], T | str | Blank]
) -> Iterator[Parsed[T]]:
    """Each line parsed by ``parse(data, first)``, with its end offset and size."""
    for line in lines:
        yield line.end, len(line.data or b""), parse(line.data, line.start == 0)


def chunks(
    parsed: Iterable[Parsed[T]], bounds: Bounds, *, after_line: int = 0
) -> Iterator[Chunk[T]]:
    """Group parsed lines into chunks; line numbers continue from ``after_line``."""
    chunk: Chunk[T] = Chunk()
    number = after_line
    for end, size, result in parsed:
        number += 1
        chunk.lines += 1
        chunk.end = end
        if isinstance(result, Blank):
            chunk.blank += 1
        elif isinstance(result, str):
            chunk.errors.append((number, result))
        else:
            chunk.rows.append((number, result))
            chunk.row_bytes += size
        if (
            len(chunk.rows) >= bounds.rows
            or chunk.lines >= bounds.lines
            or chunk.row_bytes >= bounds.row_bytes
        ):
            yield chunk
            chunk = Chunk()
    if chunk.lines:
        yield chunk
