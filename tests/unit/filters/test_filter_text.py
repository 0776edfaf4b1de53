"""The text form: parsing, canonical printing, and syntax errors with positions."""

from __future__ import annotations

import json

import pytest
from filter_strategies import REGISTRY, trees
from hypothesis import given, settings

from shared.errors import FilterError
from shared.filters import And, Leaf, Not, Op, Or, load, parse, to_json, to_text, validate
from shared.filters.limits import MAX_TEXT_LENGTH


def leaf(field: str, op: Op, value: object = None, values: list[object] | None = None) -> Leaf:
    return Leaf.model_validate({"field": field, "op": op, "value": value, "values": values})


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ('dataset = "a"', leaf("dataset", Op.EQ, "a")),
        ('dataset == "a"', leaf("dataset", Op.EQ, "a")),
        ('dataset != "a"', leaf("dataset", Op.NE, "a")),
        ("media.width < 640", leaf("media.width", Op.LT, 640)),
        ("media.width <= 640", leaf("media.width", Op.LTE, 640)),
        ("media.width > 640.5", leaf("media.width", Op.GT, 640.5)),
        ("media.width >= -1e3", leaf("media.width", Op.GTE, -1000.0)),
        ("metrics.f1 BETWEEN 0.2 AND 0.6", leaf("metrics.f1", Op.BETWEEN, values=[0.2, 0.6])),
        ('dataset IN ("a", "b")', leaf("dataset", Op.IN, values=["a", "b"])),
        ('dataset NOT IN ("a")', leaf("dataset", Op.NOT_IN, values=["a"])),
        ('labels.classes CONTAINS "car"', leaf("labels.classes", Op.CONTAINS, "car")),
        (
            'labels.classes CONTAINS ANY ("car")',
            leaf("labels.classes", Op.CONTAINS_ANY, values=["car"]),
        ),
        (
            'labels.classes CONTAINS ALL ("a", "b")',
            leaf("labels.classes", Op.CONTAINS_ALL, values=["a", "b"]),
        ),
        ('globalKey STARTS WITH "gs://b/"', leaf("globalKey", Op.PREFIX, "gs://b/")),
        ("metadata.weather EXISTS", leaf("metadata.weather", Op.EXISTS)),
        ("flagged = true", leaf("flagged", Op.EQ, True)),
        ("flagged != FALSE", leaf("flagged", Op.NE, False)),
        ("", And(and_=[])),
        ("TRUE", And(and_=[])),
        ("false", Or(or_=[])),
    ],
)
def test_each_operator_parses(text: str, tree: object) -> None:
    assert parse(text) == tree


def test_keywords_are_case_insensitive() -> None:
    assert parse('dataset in ("a") and not metadata.weather exists or flagged = True') == parse(
        'dataset IN ("a") AND NOT metadata.weather EXISTS OR flagged = true'
    )


def test_precedence_is_not_then_and_then_or() -> None:
    a, b, c = (leaf(name, Op.EXISTS) for name in ("dataset", "flagged", "createdAt"))
    assert parse("dataset EXISTS OR flagged EXISTS AND createdAt EXISTS") == Or(
        or_=[a, And(and_=[b, c])]
    )
    assert parse("NOT dataset EXISTS AND flagged EXISTS") == And(and_=[Not(not_=a), b])
    assert parse("NOT (dataset EXISTS AND flagged EXISTS)") == Not(not_=And(and_=[a, b]))


def test_parentheses_keep_nesting_and_redundant_ones_vanish() -> None:
    assert to_text(parse("((dataset EXISTS))")) == "dataset EXISTS"
    assert to_text(parse("(a EXISTS AND b EXISTS) AND c EXISTS")) == (
        "(a EXISTS AND b EXISTS) AND c EXISTS"
    )
    assert (
        to_text(parse("(a EXISTS OR b EXISTS) OR c EXISTS")) == "(a EXISTS OR b EXISTS) OR c EXISTS"
    )
    assert (
        to_text(parse("(a EXISTS AND b EXISTS) OR c EXISTS")) == "a EXISTS AND b EXISTS OR c EXISTS"
    )


def test_canonical_text() -> None:
    text = ' dataset  in("a","b")and   not  metrics.f1>=0.5 or flagged=TRUE '
    assert (
        to_text(parse(text)) == 'dataset IN ("a", "b") AND NOT metrics.f1 >= 0.5 OR flagged = true'
    )


def test_ints_and_floats_stay_distinct() -> None:
    assert type(parse("media.width = 1").value) is int  # type: ignore[union-attr]
    assert type(parse("media.width = 1.0").value) is float  # type: ignore[union-attr]
    assert to_text(parse("media.width = 1.0")) == "media.width = 1.0"
    assert to_text(parse("media.width = 1e20")) == "media.width = 1e+20"
    assert parse("media.width = 1e20").value == 1e20  # type: ignore[union-attr]


def test_booleans_are_not_numbers() -> None:
    assert json.dumps(to_json(parse("flagged = true"))) != json.dumps(to_json(parse("flagged = 1")))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (r'dataset = "a\"b"', 'a"b'),
        (r'dataset = "back\\slash"', "back\\slash"),
        (r'dataset = "tab\tnew\nline"', "tab\tnew\nline"),
        (r'dataset = "\u00e9\u65e5"', "é日"),
        (r'dataset = "\ud83d\ude00"', "😀"),
        ('dataset = "日本 😀 é"', "日本 😀 é"),
    ],
)
def test_string_escapes_and_unicode(text: str, value: str) -> None:
    tree = parse(text)
    assert tree.value == value  # type: ignore[union-attr]
    assert parse(to_text(tree)) == tree


def test_control_characters_are_escaped_when_printed() -> None:
    tree = leaf("dataset", Op.EQ, "a\u0000b\u001f")
    assert to_text(tree) == 'dataset = "a\\u0000b\\u001f"'
    assert parse(to_text(tree)) == tree


@pytest.mark.parametrize(
    ("text", "position", "words"),
    [
        ('dataset = "a', 10, "unterminated string: no closing quote"),
        ('dataset = "a\\', 10, "unterminated string"),
        (r'dataset = "\x"', 11, "invalid escape \\x in a string"),
        (r'dataset = "ab\u12g4"', 13, "invalid escape \\u12g4 in a string"),
        (r'dataset = "ok\n" OR dataset = "\q"', 31, "invalid escape \\q"),
        ('dataset = "a\nb"', 12, "control character U+000A in a string; write \\n"),
        ('dataset = "\t"', 11, "control character U+0009 in a string; write \\t"),
        ('dataset = "a\x01"', 12, "control character U+0001 in a string; write \\u0001"),
        ('dataset = "\\\\" OR dataset = "a\x1f"', 30, "U+001F in a string; write \\u001f"),
        ('dataset ~ "a"', 8, "unexpected '~'"),
        ('dataset = "a" AND', 17, "unexpected end of filter"),
        ('(dataset = "a"', 14, "expected ')'"),
        ('dataset = "a" b', 14, "unexpected 'b'"),
        ('dataset IN ("a",)', 16, "unexpected ')'"),
        ("dataset = truex", 10, "unexpected 'truex'"),
        ('dataset STARTSWITH "a"', 8, "unexpected 'STARTSWITH'"),
        ("media.width BETWEEN 1 OR 2", 22, "expected AND"),
        ("media.width = 1e999", 14, "out of range"),
    ],
)
def test_syntax_errors_name_problem_and_position(text: str, position: int, words: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse(text)
    assert caught.value.position == position
    assert words in caught.value.message
    assert f"(at character {position})" in caught.value.message


def test_over_long_text_is_rejected_before_parsing() -> None:
    text = " OR ".join(['dataset = "a"'] * 1000)
    assert len(text) > MAX_TEXT_LENGTH
    with pytest.raises(FilterError, match=f"limit is {MAX_TEXT_LENGTH}"):
        parse(text)


def test_deep_nesting_fails_on_the_limit_not_on_recursion() -> None:
    with pytest.raises(FilterError, match="at most 8 levels"):
        parse("NOT " * 2400 + "dataset EXISTS")
    # Parentheses alone add no level.
    assert parse("(" * 4000 + "dataset EXISTS" + ")" * 4000) == leaf("dataset", Op.EXISTS)


def test_one_child_and_is_printed_as_its_child_and_load_normalises_it() -> None:
    child = leaf("dataset", Op.EQ, "a")
    assert to_text(And(and_=[child])) == 'dataset = "a"'
    assert load({"and": [{"field": "dataset", "op": "eq", "value": "a"}]}, REGISTRY) == child


@pytest.mark.parametrize("field", ["true", "not.x", "a b", "1x", "x.", ""])
def test_unprintable_field_names_are_refused(field: str) -> None:
    with pytest.raises(FilterError, match="cannot be written as filter text"):
        to_text(Leaf(field=field, op=Op.EXISTS))


def test_keyword_like_segments_after_the_first_are_fine() -> None:
    for field in ("metadata.and", "metadata.true", "android", "notes", "in_x"):
        assert parse(to_text(leaf(field, Op.EXISTS))) == leaf(field, Op.EXISTS)


def _typed(tree: object) -> str:
    # pydantic's == says 1 == 1.0 == True; JSON tells them apart.
    return json.dumps(to_json(tree), sort_keys=True)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(trees())
def test_every_valid_tree_round_trips_through_text(tree: object) -> None:
    validate(tree, REGISTRY)  # type: ignore[arg-type]
    text = to_text(tree)  # type: ignore[arg-type]
    again = parse(text)
    assert _typed(again) == _typed(tree)
    assert to_text(again) == text
    loaded = load(text, REGISTRY)  # normalised: nested ANDs / ORs merged
    assert _typed(parse(to_text(loaded))) == _typed(loaded)
