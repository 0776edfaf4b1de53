"""Pages of rows selected by an ad-hoc filter: the planner's query plus an in-memory residual.

The planner pushes to Firestore only what single-field indexes serve; the rest of the filter
(the residual) is evaluated on each document read. A page reads at most a budget of documents
(:func:`~shared.services.paging.read_budget`): when the budget runs out first, the page comes
back short, with a token that resumes after the last document *read*, so the next page goes
on scanning where this one stopped. A page is never wrong: every row it holds matches, and
rows come in the order asked, each exactly once across pages.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared import page_tokens
from shared.filters import FieldRegistry, Filter, compile_filter, plan, to_text
from shared.services.ordering import Ordering
from shared.services.paging import read_budget, value_at
from shared.store import queries

Document = dict[str, Any]

# The first query of a page with a residual asks for this many times the rows still wanted.
_FIRST_OVERREAD = 2
_MIN_MATCH_RATE = 0.02


@dataclass
class RowPage:
    """Row documents of one page, the token of the next ("" at the end), documents read."""

    docs: list[Document] = field(default_factory=list)
    next_page_token: str = ""
    documents_read: int = 0


def query_key(*parts: str) -> str:
    """What a page token is bound to, short: a hash of the query's defining parts."""
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:16]


def cursor_of(doc: Mapping[str, Any], doc_id: str, ordering: Ordering) -> tuple[list[Any], str]:
    values = [] if ordering.by_id else [value_at(doc, ordering.path_parts)]
    return values, doc_id


def filtered_page(
    scope_key: str,
    tree: Filter,
    registry: FieldRegistry,
    ordering: Ordering,
    *,
    size: int,
    page_token: str | None,
) -> RowPage:
    """One page of the scope's rows that ``tree`` selects, in ``ordering``."""
    key = query_key("rows", scope_key, to_text(tree), str(ordering))
    after = page_tokens.decode(page_token, key) if page_token else None
    planned = plan(tree, registry, None if ordering.by_id else ordering.field)
    constraints = [(c.path, c.client_op, c.value) for c in planned.constraints]
    matches: Callable[[Mapping[str, Any]], bool] | None = (
        compile_filter(planned.residual, registry) if planned.residual is not None else None
    )
    budget = read_budget(size)
    page = RowPage()
    while True:
        wanted = size - len(page.docs)
        limit = min(budget - page.documents_read, _chunk(wanted, page, matches is not None))
        chunk = list(
            queries.stream(
                scope_key,
                constraints,
                sort_path=ordering.path,
                descending=ordering.descending,
                after=after,
                max_reads=limit,
            )
        )
        page.documents_read += len(chunk)
        for snapshot in chunk:
            doc = snapshot.to_dict() or {}
            after = cursor_of(doc, snapshot.id, ordering)
            if matches is None or matches(doc):
                page.docs.append(doc)
                if len(page.docs) == size:
                    # Full: resume after this row, even if the chunk read a little further.
                    page.next_page_token = page_tokens.encode(key, *after)
                    return page
        if len(chunk) < limit:
            return page  # the query is exhausted: no token
        if page.documents_read >= budget:
            assert after is not None
            page.next_page_token = page_tokens.encode(key, *after)
            return page


def _chunk(wanted: int, page: RowPage, filtered: bool) -> int:
    """How many documents the next query asks for: all it needs, guessed from the match rate."""
    if not filtered:
        return wanted
    if page.documents_read == 0:
        return wanted * _FIRST_OVERREAD
    rate = max(len(page.docs) / page.documents_read, _MIN_MATCH_RATE)
    return max(math.ceil(wanted / rate), wanted)
