"""Membership fields: entry times survive while a row stays in a slice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.documents import label_fields, set_membership
from shared.models import Annotation, BBox

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)


def test_entering_records_the_time_and_staying_keeps_it() -> None:
    doc: dict[str, Any] = {}
    assert set_membership(doc, ["b", "a"], T0)
    assert doc == {"sliceIds": ["a", "b"], "sliceEnteredAt": {"a": T0, "b": T0}}
    assert not set_membership(doc, ["a", "b"], T1)
    assert doc["sliceEnteredAt"] == {"a": T0, "b": T0}


def test_leaving_forgets_and_re_entering_is_a_new_arrival() -> None:
    doc: dict[str, Any] = {}
    set_membership(doc, ["a"], T0)
    assert set_membership(doc, [], T1)
    assert doc == {"sliceIds": [], "sliceEnteredAt": {}}
    set_membership(doc, ["a"], T1)
    assert doc["sliceEnteredAt"] == {"a": T1}


def test_labels_are_flattened_for_filtering() -> None:
    labels = [
        Annotation(name="car", bbox=BBox(left=0, top=0, width=1, height=1)),
        Annotation(name="car", bbox=BBox(left=5, top=5, width=1, height=1)),
        Annotation(name="daytime"),
    ]
    fields = label_fields(labels)
    assert fields["labelClasses"] == ["car", "daytime"]
    assert fields["labelCount"] == 3
    assert fields["labels"][2] == {"name": "daytime"}
