"""Loading and validating filters: each kind of misuse is rejected with a message naming it."""

from __future__ import annotations

from typing import Any

import pytest
from filter_strategies import REGISTRY

from shared.errors import FilterError, InvalidArgument
from shared.filters import (
    And,
    FieldRegistry,
    Leaf,
    Not,
    Op,
    Scope,
    evaluate,
    load,
    parse,
    to_json,
    to_text,
)
from shared.filters.limits import MAX_STRING_LENGTH
from shared.metadata import MetadataField, MetadataKind, check_value

CATALOG = FieldRegistry(Scope.CATALOG)


def leaf(field: str, op: str, value: Any = None, values: Any = None) -> dict[str, Any]:
    node: dict[str, Any] = {"field": field, "op": op}
    if value is not None:
        node["value"] = value
    if values is not None:
        node["values"] = values
    return node


@pytest.mark.parametrize(
    "source",
    [
        'metadata.split IN ("train", "valid") AND labels.classes CONTAINS "car"',
        {"and": [leaf("metadata.split", "in", values=["train"]), leaf("metrics.f1", "gte", 0.5)]},
        leaf("createdAt", "gt", "2024-05-01T00:00:00+02:00"),
        leaf(
            "metadata.captured", "between", values=["2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"]
        ),
        leaf("metadata.tags", "contains_all", values=["a", "b"]),
        leaf("flagged", "in", values=[True, False]),
        leaf("media.width", "eq", 1.5),
        leaf("metadata.split", "prefix", "tr"),
        {"or": []},
        "",
    ],
)
def test_valid_filters_load(source: str | dict[str, Any]) -> None:
    tree = load(source, REGISTRY)
    assert load(to_text(tree), REGISTRY) == tree
    assert load(to_json(tree), REGISTRY) == tree


@pytest.mark.parametrize(
    ("source", "words"),
    [
        # Unknown fields and operators.
        (leaf("nope", "exists"), "unknown field 'nope'"),
        (leaf("metadata.nope", "exists"), "unknown metadata field 'metadata.nope'"),
        (leaf("dataset", "like", "a"), "unknown operator 'like'"),
        ("dataset LIKE 'a'", "syntax error"),
        # Shape.
        ({"field": "dataset"}, "op: Field required"),
        (leaf("dataset", "eq"), "operator 'eq' takes one 'value'"),
        (leaf("dataset", "in", "a"), "operator 'in' takes a list of 'values'"),
        (leaf("dataset", "exists", "a"), "operator 'exists' takes no value"),
        (leaf("metrics.f1", "between", values=[1]), "exactly two 'values'"),
        ({"and": [leaf("dataset", "eq", "a")], "or": []}, "unknown key 'or'"),
        ({"not": [leaf("dataset", "exists")]}, "invalid filter at not: a node must be an object"),
        ({"and": [3]}, "at and[0]: a node must be an object, a comparison or an and / or / not"),
        ({"or": [leaf("dataset", "exists"), None]}, "at or[1]: a node must be an object"),
        # A literal of no JSON scalar type: the path is the user's, not pydantic's union.
        (leaf("dataset", "in", values=[["a"]]), "at values[0]: a value must be a string, number"),
        (leaf("dataset", "in", values=["a", None]), "at values[1]: a value must be a string"),
        (leaf("dataset", "eq", {"x": 1}), "at value: a value must be a string, number or boolean"),
        ({"or": [leaf("dataset", "eq", ["a"])]}, "at or[0].value: a value must be a string"),
        ({"and": [{"or": [leaf("dataset", "eq", "a", values=["b"])]}]}, "at and[0].or[0]"),
        # Types: operator against field type, literal against field type.
        (leaf("media.width", "eq", "640"), "media.width is a number field"),
        (leaf("media.width", "gt", True), "got the boolean true"),
        (leaf("dataset", "eq", 1), "dataset is a string field"),
        (leaf("flagged", "eq", 1), "must be true or false"),
        (leaf("labels.classes", "contains", 3), "labels.classes is a string list field"),
        (leaf("dataset", "contains", "a"), "operator 'contains' does not apply to dataset"),
        (leaf("labels.classes", "eq", "car"), "operator 'eq' does not apply to labels.classes"),
        (leaf("media.width", "prefix", "6"), "operator 'prefix' does not apply to media.width"),
        (leaf("flagged", "lt", True), "operator 'lt' does not apply to flagged"),
        (leaf("createdAt", "gt", "2024-05-01"), "RFC 3339 datetime"),
        (leaf("createdAt", "gt", "2024-05-01T00:00:00"), "with offset"),
        (leaf("metadata.split", "eq", "training"), "'training' is not one of"),
        (leaf("metadata.split", "in", values=["train", "x"]), "'x' is not one of"),
        (leaf("metrics.f1", "between", values=[0.6, 0.2]), "low end is above the high end"),
        # Limits.
        ("NOT " * 8 + "dataset EXISTS", "at most 8 levels"),
        (" OR ".join(["dataset EXISTS"] * 51), "at most 50 comparisons"),
        (leaf("dataset", "in", values=[str(i) for i in range(31)]), "at most 30 values"),
        (leaf("dataset", "in", values=[]), "list of values is empty"),
        (leaf("dataset", "eq", "x" * 4097), "at most 4096 characters, got 4097"),
        (leaf("dataset", "in", values=["x" * 400] * 26), "at most 10000 characters in all"),
        (
            {"or": [leaf("dataset", "eq", "x" * 4000), leaf("globalKey", "eq", "y" * 4000)] * 2},
            "string literals hold at most 10000 characters in all",
        ),
        (leaf("media.width", "gt", float("nan")), "must be finite"),
        (leaf("media.width", "gt", float("inf")), "must be finite"),
        (leaf("media.width", "gt", 2**63), "outside 64 bits"),
        (leaf("dataset", "eq", "\ud800"), "unpaired surrogate"),
        ({"and": [{"and": []}] * 201}, "at most 200 nodes"),
        (" OR ".join(["dataset EXISTS"] * 800), "the limit is 10000"),
        # Scope.
        (leaf("metrics.f1", "exists"), "exists only in a model run"),
    ],
)
def test_bad_filters_are_rejected_with_a_reason(source: str | dict[str, Any], words: str) -> None:
    registry = CATALOG if "model run" in words else REGISTRY
    with pytest.raises(FilterError) as caught:
        load(source, registry)
    assert words in caught.value.message
    assert isinstance(caught.value, InvalidArgument)
    assert caught.value.code == 400


LIST_31 = ", ".join(f'"{i}"' for i in range(31))


@pytest.mark.parametrize(
    ("text", "at", "words"),
    [
        # The position is that of the offending literal...
        ('dataset = "a" AND metadata.split = 5', "5", "the value must be a string"),
        ("flagged = 1", "1", "must be true or false"),
        ('metadata.split IN ("train", "x")', '"x"', "'x' is not one of"),
        ('createdAt BETWEEN "2024-01-01T00:00:00Z" AND "soon"', '"soon"', "RFC 3339"),
        ('dataset = "' + "x" * (MAX_STRING_LENGTH + 1) + '"', '"x', "a string literal is at most"),
        (r'dataset = "a" OR dataset = "\ud800"', r'"\ud800"', "unpaired surrogate"),
        ("media.width > 9223372036854775808", "9223", "outside 64 bits"),
        (f"dataset IN ({LIST_31})", '"30"', "at most 30 values"),
        # ... or of the comparison when no one literal is to blame.
        ('dataset = "a" OR nope EXISTS', "nope", "unknown field 'nope'"),
        ('flagged EXISTS AND metadata.nope = "a"', "metadata.nope", "unknown metadata field"),
        ('dataset = "a" AND dataset CONTAINS "a"', "dataset CONTAINS", "does not apply"),
        ('dataset = "a" AND dataset IN ()', "dataset IN", "list of values is empty"),
        ("media.width BETWEEN 5 AND 1", "media.width", "low end is above the high end"),
        (" OR ".join(["dataset EXISTS"] * 50 + ["flagged EXISTS"]), "flagged", "at most 50"),
        # Deep inside, and after normalisation merged nested ANDs.
        ('NOT (dataset EXISTS AND (flagged EXISTS OR media.width = "w"))', '"w"', "a number"),
        ('(dataset EXISTS AND (flagged EXISTS AND TRUE)) AND media.width = "w"', '"w"', "number"),
    ],
)
def test_errors_about_a_comparison_in_text_give_its_position(
    text: str, at: str, words: str
) -> None:
    with pytest.raises(FilterError) as caught:
        load(text, REGISTRY)
    assert words in caught.value.message
    assert caught.value.position == text.index(at)
    assert caught.value.message.endswith(f"(at character {text.index(at)})")
    assert caught.value.info == {"position": str(text.index(at))}


def test_the_longest_stored_string_can_be_named_in_a_filter() -> None:
    stored = check_value(MetadataField(kind=MetadataKind.STRING), "é" * MAX_STRING_LENGTH)
    row = {"metadata": {"weather": stored}}
    for source in (
        f'metadata.weather = "{stored}"',
        leaf("metadata.weather", "in", values=[stored, "other"]),
    ):
        assert evaluate(load(source, REGISTRY), row, REGISTRY)
    with pytest.raises(ValueError, match="at most"):
        check_value(MetadataField(kind=MetadataKind.STRING), stored + "x")


def test_errors_about_a_json_tree_have_no_position() -> None:
    with pytest.raises(FilterError) as caught:
        load(leaf("media.width", "eq", "640"), REGISTRY)
    assert caught.value.position is None
    assert caught.value.info == {}


def test_deep_json_is_rejected_before_pydantic_walks_it() -> None:
    node: dict[str, Any] = leaf("dataset", "exists")
    for _ in range(5000):
        node = {"not": node}
    with pytest.raises(FilterError, match="at most 8 levels"):
        load(node, REGISTRY)


def test_single_child_and_or_are_normalised_away() -> None:
    inner = leaf("dataset", "eq", "a")
    assert load({"or": [{"and": [inner]}]}, REGISTRY) == Leaf.model_validate(inner)
    assert load({"not": {"and": [inner]}}, REGISTRY) == load('NOT dataset = "a"', REGISTRY)


def test_nested_ands_and_ors_are_merged_by_load_but_kept_by_parse() -> None:
    text = (
        '(dataset = "a" AND (flagged = true AND TRUE)) AND (media.width > 1 OR (FALSE OR x EXISTS))'
    )
    assert to_text(parse(text)) == text
    loaded = load(text.replace("x EXISTS", "createdAt EXISTS"), REGISTRY)
    assert to_text(loaded) == (
        'dataset = "a" AND flagged = true AND (media.width > 1 OR createdAt EXISTS)'
    )


def test_a_tree_built_in_code_is_held_to_the_limits_once_normalised() -> None:
    user = load(
        "dataset EXISTS AND " + "NOT " * 5 + "(flagged EXISTS OR createdAt EXISTS)", REGISTRY
    )
    assert isinstance(user, And)  # 8 levels deep
    scope = Leaf(field="dataset", op=Op.EQ, value="a")
    assert load(And(and_=[scope, user]), REGISTRY) == And(and_=[scope, *user.and_])
    with pytest.raises(FilterError, match="at most 8 levels"):
        load(And(and_=[scope, Not(not_=user)]), REGISTRY)


def test_to_json_is_the_canonical_tree() -> None:
    tree = load('dataset IN ("a") AND NOT flagged EXISTS', REGISTRY)
    assert to_json(tree) == {
        "and": [
            {"field": "dataset", "op": "in", "values": ["a"]},
            {"not": {"field": "flagged", "op": "exists"}},
        ]
    }


def test_load_rejects_other_types() -> None:
    with pytest.raises(FilterError, match="text or a JSON object"):
        load(["dataset"], REGISTRY)  # type: ignore[arg-type]
