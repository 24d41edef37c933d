"""The record semantics, case by case, against the plain oracle in tests/oracle.py."""

from __future__ import annotations

import json

import pytest

from streamjobs.records import REASONS, BadRecord, ThresholdFilter, map_line
from tests import oracle

CASES = [
    b'{"index": 0.99, "total": 1.0}',
    b'{"index": 0.5, "total": 0.5}',
    b'{"total": 1.5, "index": 1, "name": "x", "nested": {"a": [1, 2, null]}}',
    b'{"index": 1, "total": 1}',
    b'{"index": 2, "total": -1}',
    b'{"index": 1e308, "total": 1e308}',
    b'{"index": 123456789012345678901234567890, "total": 1}',
    b'{"index": -5, "total": 10.25, "sum_val": "old"}',
    b'{"index": true, "total": 1}',
    b'{"index": "1", "total": 1}',
    b'{"index": null, "total": 1}',
    b'{"index": NaN, "total": 1}',
    b'{"index": Infinity, "total": 1}',
    b'{"index": 1e400, "total": 1}',
    b'{"total": 3}',
    b"[1, 2]",
    b"3",
    b'"text"',
    b"not json",
    b'{"index": 1, "total": 2',
    b'{"index": 1, "total": 2} {"index": 1, "total": 2}',
    b'{"index": 1, "total": 2, "s": "\xff"}',
    b'{"index": 1, "total": 2, "s": "\\ud800"}',
    b'{"index": 1, "index": 3, "total": 0}',
    b'  {"index": 1.5, "total": 1.5}  ',
    b'{"index": 1.5, "total": 1.5}\r',
    b"",
    b"   ",
    b'{"index": 1, "total": 0.99, "u": "\xc3\xa9\xe2\x82\xac"}',
]


@pytest.mark.parametrize("raw", CASES)
@pytest.mark.parametrize("threshold", [1.99, 0.0, -10.0])
def test_map_line_agrees_with_the_oracle(raw, threshold):
    kind, expected = oracle.classify(raw, threshold)
    if kind == "blank":
        return  # blank lines are the chunk reader's business, tested below
    stripped = raw[:-1] if raw.endswith(b"\r") else raw
    if kind == "bad":
        with pytest.raises(BadRecord) as caught:
            map_line(stripped, threshold)
        assert caught.value.reason in REASONS
    elif kind == "filtered":
        assert map_line(stripped, threshold) is None
    else:
        got = json.loads(map_line(stripped, threshold))
        assert got == expected
        assert list(got) == list(expected)  # the input's key order, sum_val set


@pytest.mark.parametrize("threshold", [1.99, 0.0, 1.5])
def test_map_chunk_equals_the_oracle_on_a_mixed_chunk(threshold):
    chunk = b"\n".join(CASES) + b"\n"
    result = ThresholdFilter(threshold).map_chunk(chunk, "mixed.json")
    kept, counts = oracle.expected([chunk], threshold)
    assert oracle.canonical(json.loads(line) for line in result.output) == oracle.canonical(kept)
    assert len(result.bad) == counts["bad"]
    assert result.blank == counts["blank"]
    assert result.read == sum(counts.values())


def test_fast_path_output_equals_the_line_by_line_output():
    lines = [b'{"index": %r, "total": %r, "k": [%d]}' % (i / 7, i / 3, i) for i in range(200)]
    chunk = b"\n".join(lines) + b"\n"
    job = ThresholdFilter(20.0)
    fast = job.map_chunk(chunk)
    slow = job.map_chunk(chunk + b"\n")  # a blank line sends the chunk down the exact path
    assert fast.output == slow.output
    assert fast.output  # some records are kept
    assert (fast.read, fast.blank, slow.blank) == (200, 0, 1)


def test_two_objects_on_a_line_are_one_bad_line_even_when_counts_balance():
    # One line holding two objects and two lines holding one object between them: a
    # reader that only counted objects would see three good records.
    chunk = (
        b'{"index": 1, "total": 1},{"index": 1, "total": 1}\n'
        b'{"index": 1, "total": 1, "a": {"b": 1}\n'
        b"}\n"
    )
    result = ThresholdFilter(0).map_chunk(chunk, "tricky.json")
    assert result.output == []
    assert [bad.line for bad in result.bad] == [None, None, None]
    assert len(result.bad) == 3


def test_bad_lines_carry_source_offset_and_line_number():
    chunk = b'{"index": 1, "total": 1}\nnope\n{"index": 2}\n'
    result = ThresholdFilter().map_chunk(chunk, "f.json", offset=100, first_line=10)
    assert [(b.source, b.offset, b.line, b.reason) for b in result.bad] == [
        ("f.json", 125, 11, "invalid_json"),
        ("f.json", 130, 12, "missing_field"),
    ]
    entry = json.loads(result.bad[0].to_json())
    assert entry["text"] == "nope" and entry["reason"] == "invalid_json"


def test_kept_numbers_round_trip_exactly():
    raw = b'{"index": 0.1, "total": 1.9000000000000001, "big": 98765432109876543210}'
    out = json.loads(map_line(raw, 1.0))
    assert out["sum_val"] == 0.1 + 1.9000000000000001
    assert out["big"] == 98765432109876543210


def test_a_float_plus_an_integer_beyond_float_range_is_not_finite():
    huge = b"1" + b"0" * 400
    chunk = b'{"index": 1, "total": 1}\n{"index": 0.0, "total": ' + huge + b"}\n"
    result = ThresholdFilter(0).map_chunk(chunk, "big.json")
    assert len(result.output) == 1
    assert [bad.reason for bad in result.bad] == ["not_finite"]


def test_an_integer_sum_beyond_float_range_is_not_finite_on_both_paths():
    huge = b"9" * 400
    line = b'{"index": ' + huge + b', "total": ' + huge + b"}"
    fast = ThresholdFilter(0).map_chunk(b'{"index": 1, "total": 1}\n' + line + b"\n")
    slow = ThresholdFilter(0).map_chunk(b"\n" + line + b"\n")
    assert [bad.reason for bad in fast.bad] == [bad.reason for bad in slow.bad] == ["not_finite"]
    assert oracle.classify(line, 0)[0] == "bad"
