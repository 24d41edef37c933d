"""The record semantics, case by case, against the plain oracle in tests/oracle.py; and the
cases that once broke a run or depended on neighbouring lines."""

from __future__ import annotations

import collections
import json

import luigi_hadoop
import pytest

from streamjobs.job import MAX_DEPTH, REASONS, BadRecord, mapper_for
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
    b'{"index": 1, "total": 1, "x": 1E400}',
    b'{"index": 1, "total": 1, "x": -1e999}',
    b'{"index": 1, "total": 1, "x": 1.7976931348623159e308}',
    b'{"index": 0, "total": 0, "x": 1E400}',
    b'{"index": 1, "total": 1, "x": ' + b"7" * 4301 + b"}",
    b'{"index": 1, "total": 1, "x": -' + b"7" * 5000 + b"}",
    b'{"index": 1, "total": 1, "x": ' + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1) + b"}",
    b'{"index": 1, "total": 1, "x": ' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}",
    b'{"index": 1, "total": 1, "x": "' + b"[" * 600 + b'"}',  # brackets in a string
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
    b'{"index": 1.5,\r"total": 1.5}',
    b"",
    b"   ",
    b'{"index": 1, "total": 0.99, "u": "\xc3\xa9\xe2\x82\xac"}',
]


@pytest.mark.parametrize("raw", CASES)
@pytest.mark.parametrize("threshold", [1.99, 0.0, -10.0])
def test_map_line_agrees_with_the_oracle(raw, threshold):
    job = luigi_hadoop.TestTaskMR(threshold=threshold)
    mapper = mapper_for(job)
    try:
        want = oracle.map_line(oracle.Threshold(threshold), raw)
    except oracle.Bad as bad:
        with pytest.raises(BadRecord) as caught:
            mapper.map_line(raw)
        assert caught.value.reason == bad.reason
        return
    got = mapper.map_line(raw)
    if want is None:
        assert got is None
    else:
        assert [oracle.typed(oracle.read_json_line(line)) for line in got] == [
            oracle.typed(record) for record in want
        ]


@pytest.mark.parametrize("threshold", [1.99, 0.0, 1.5])
def test_map_chunk_equals_the_oracle_on_a_mixed_chunk(threshold):
    chunk = b"\n".join(CASES) + b"\n"
    result = mapper_for(luigi_hadoop.TestTaskMR(threshold=threshold)).map_chunk(
        chunk, "mixed.json", 0, 1
    )
    want = oracle.run(oracle.Threshold(threshold), [chunk])
    assert [oracle.typed(oracle.read_json_line(line)) for line in result.lines()] == [
        oracle.typed(record) for record in want.output
    ]
    assert [(0, b.line, b.offset, b.reason) for b in result.bad] == want.bad
    assert (result.read, result.blank) == (want.read, want.blank)


ORDINARY = b"".join(b'{"index": %d, "total": 0.5}\n' % i for i in range(99))


@pytest.mark.parametrize("value", [b"1E400", b"-1e999", b"1.7976931348623159e308"])
@pytest.mark.parametrize("where", ["last", "first", "middle"])
def test_a_number_beyond_a_double_is_one_bad_line_wherever_it_sits(value, where):
    # It reads as infinity; the kept record holding it cannot be written as JSON.
    line = b'{"index":1,"total":1,"x":' + value + b"}\n"
    lines = ORDINARY.splitlines(keepends=True)
    position = {"first": 0, "middle": 50, "last": 99}[where]
    chunk = b"".join(lines[:position]) + line + b"".join(lines[position:])
    for job in (luigi_hadoop.TestTaskMR(threshold=1.99), luigi_hadoop.TestTaskMR(threshold=1000.0)):
        result = mapper_for(job).map_chunk(chunk, "f", 0, 1)
        kept = job.threshold < 2
        assert [(b.line, b.reason) for b in result.bad] == ([(position + 1, "not_finite")] * kept)
        for out in result.lines():
            oracle.read_json_line(out)  # strict JSON: no null for it, no Infinity
        assert result.read == 100


@pytest.mark.parametrize("digits", [4300, 4301, 10_000])
def test_a_huge_integer_is_good_whatever_its_neighbours(digits):
    line = b'{"index":1,"total":1,"big":' + b"8" * digits + b"}\n"
    mapper = mapper_for(luigi_hadoop.TestTaskMR(threshold=1.99))
    alone = mapper.map_chunk(ORDINARY + line)  # could take the fast path
    beside_a_blank = mapper.map_chunk(b"\n" + ORDINARY + line)  # goes line by line
    assert alone.bad == beside_a_blank.bad == []
    assert alone.lines() == beside_a_blank.lines()
    assert oracle.read_json_line(alone.lines()[-1])["big"] == oracle.exact_int("8" * digits)


def _deep_at(stack: int, fn):
    """Call ``fn`` with ``stack`` more frames on the stack."""
    return fn() if stack == 0 else _deep_at(stack - 1, fn)


@pytest.mark.parametrize("stack", [0, 400, 800])
@pytest.mark.parametrize("beside", [b"1", b"null", b"1E400", b'"\\ud800"', b"9" * 5000])
def test_nesting_depth_is_a_fixed_rule_whatever_the_stack(stack, beside):
    # Values that take every way of reading and writing a record (msgspec, json, the
    # slow encoder, the non-finite check) beside a value nested to the limit.
    mapper = mapper_for(luigi_hadoop.TestTaskMR(threshold=0.0))

    def line(levels):  # the object is level 1
        inner = levels - 1
        nested = b"[" * inner + b"]" * inner
        return b'{"index":1,"total":1,"y":' + beside + b',"x":' + nested + b"}\n"

    chunk = line(MAX_DEPTH) + line(MAX_DEPTH + 1) + line(980) + line(MAX_DEPTH)
    result = _deep_at(stack, lambda: mapper.map_chunk(chunk, "f", 0, 1))
    kept = beside != b"1E400"  # an infinity kept cannot be written: not_finite
    want = [(1, "not_finite")] * (not kept) + [(2, "too_deep"), (3, "too_deep")]
    want += [(4, "not_finite")] * (not kept)
    assert [(b.line, b.reason) for b in result.bad] == want
    assert result.written == 2 * kept
    for out in result.lines():
        oracle.read_json_line(out)  # strict JSON
        assert oracle.depth(out.decode()) == MAX_DEPTH


def test_two_objects_on_a_line_are_one_bad_line_even_when_counts_balance():
    # One line holding two objects and two lines holding one object between them: a
    # reader that only counted objects would see three good records.
    chunk = (
        b'{"index": 1, "total": 1},{"index": 1, "total": 1}\n'
        b'{"index": 1, "total": 1, "a": {"b": 1}\n'
        b"}\n"
    )
    result = mapper_for(luigi_hadoop.TestTaskMR(threshold=0.0)).map_chunk(chunk, "tricky.json")
    assert result.written == 0 and result.lines() == []
    assert [bad.line for bad in result.bad] == [None, None, None]
    assert len(result.bad) == 3


def test_bad_lines_carry_source_offset_and_line_number():
    chunk = b'{"index": 1, "total": 1}\nnope\n{"index": 2}\n'
    result = mapper_for(luigi_hadoop.TestTaskMR()).map_chunk(
        chunk, "f.json", offset=100, first_line=10
    )
    assert [(b.source, b.offset, b.line, b.reason) for b in result.bad] == [
        ("f.json", 125, 11, "invalid_json"),
        ("f.json", 130, 12, "missing_field"),
    ]
    entry = json.loads(result.bad[0].to_json())
    assert entry["text"] == "nope" and entry["reason"] == "invalid_json"
    assert all(bad.reason in REASONS for bad in result.bad)


def test_kept_numbers_round_trip_exactly():
    raw = b'{"index": 0.1, "total": 1.9000000000000001, "big": 98765432109876543210}'
    (line,) = mapper_for(luigi_hadoop.TestTaskMR(threshold=1.0)).map_line(raw)
    out = oracle.read_json_line(line)
    assert out["sum_val"] == 0.1 + 1.9000000000000001
    assert out["big"] == 98765432109876543210


def test_a_float_plus_an_integer_beyond_float_range_is_a_mapper_error():
    # The mapper's own arithmetic fails (OverflowError): that line, and only it, is bad.
    huge = b"1" + b"0" * 400
    chunk = b'{"index": 1, "total": 1}\n{"index": 0.5, "total": ' + huge + b"}\n"
    result = mapper_for(luigi_hadoop.TestTaskMR(threshold=0.0)).map_chunk(chunk, "big.json")
    assert result.written == 1
    assert [bad.reason for bad in result.bad] == ["mapper_error"]
    assert "OverflowError" in result.bad[0].detail


class YieldsDictSubclasses(luigi_hadoop.TestTaskMR):
    """Yields an OrderedDict, a defaultdict and the record: each is a dict, written as one."""

    prefilter = None

    def mapper(self, record):
        yield collections.OrderedDict(k=record["index"])
        yield collections.defaultdict(int, {"k": record["total"]})
        yield record


def test_a_dict_subclass_is_written_as_a_record_on_every_path():
    chunk = b'{"index": 1, "total": 2}\n{"index": 3, "total": 4}\n'
    mapper = mapper_for(YieldsDictSubclasses())
    want = oracle.run(YieldsDictSubclasses(), [chunk])
    for result in (mapper.map_chunk(chunk, "f", 0, 1), mapper.map_by_line(chunk)):
        assert result.bad == []
        assert [oracle.typed(oracle.read_json_line(line)) for line in result.lines()] == [
            oracle.typed(record) for record in want.output
        ]
