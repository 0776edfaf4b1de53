"""Datasets: list them, read one, and list its rows (an ad-hoc filter within the dataset)."""

from __future__ import annotations

from typing import Any

from shared import page_tokens
from shared.errors import NotFound
from shared.filters import Leaf, Op
from shared.models import DataRow, Dataset
from shared.services import data_rows
from shared.services.listing import RowPage, query_key
from shared.services.paging import page_size
from shared.store import datasets as dataset_store

_LIST_KEY = query_key("datasets")


def list_datasets(*, size: int | None, page_token: str | None) -> tuple[list[Dataset], str]:
    """Datasets in id order, and the next page's token ("" at the end)."""
    limit = page_size(size)
    after = page_tokens.decode(page_token, _LIST_KEY)[1] if page_token else None
    docs = dataset_store.list_datasets(limit=limit, after=after)
    token = page_tokens.encode(_LIST_KEY, [], docs[-1]["id"]) if len(docs) == limit else ""
    return [_to_api(doc) for doc in docs], token


def get_dataset(dataset_id: str) -> Dataset:
    doc = dataset_store.get_dataset(dataset_id)
    if doc is None:
        raise NotFound(f"dataset {dataset_id!r} does not exist")
    return _to_api(doc)


def list_dataset_rows(
    dataset_id: str,
    *,
    filter_value: str | dict[str, Any] | None,
    order_by: str | None,
    size: int | None,
    page_token: str | None,
) -> tuple[list[DataRow], RowPage]:
    get_dataset(dataset_id)
    return data_rows.list_rows(
        filter_value=filter_value,
        order_by=order_by,
        size=size,
        page_token=page_token,
        within=Leaf(field="dataset", op=Op.EQ, value=dataset_id),
    )


def _to_api(doc: dict[str, Any]) -> Dataset:
    return Dataset.model_validate(
        {
            "id": doc["id"],
            "name": doc.get("name") or doc["id"],
            "description": doc.get("description") or "",
            "createdAt": doc.get("createdAt"),
        }
    )
