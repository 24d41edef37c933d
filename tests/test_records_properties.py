"""Property tests: the record logic agrees with the plain oracle on arbitrary lines.

Every generated chunk is run through ``map_chunk`` whole, line by line, and through
``map_line``; all three must give the oracle's records, counts and bad lines.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamjobs.counters import chunk_counters
from streamjobs.records import REASONS, BadRecord, ThresholdFilter, map_line
from tests.oracle import canonical, classify, expected

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Numbers that sit on every edge the semantics has: the threshold, huge integers, float
# overflow, signed zero, exponents.
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, 1.99, 0.99, 1.0, -0.0, 2**53 + 1, 10**400, 1e308]),
)
scalars = st.one_of(
    st.none(), st.booleans(), numbers, st.text(max_size=8), st.sampled_from(["1.5", "NaN"])
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def _dump(value, ensure_ascii: bool) -> str:
    # json.dumps writes NaN, Infinity and 1e400-style floats as the extensions that the
    # semantics refuse: exactly the near misses wanted here.
    return json.dumps(value, ensure_ascii=ensure_ascii)


@st.composite
def near_miss_objects(draw) -> bytes:
    """Objects close to good records: fields missing, mistyped, duplicated, reordered."""
    members = []
    for key in ("index", "total"):
        if draw(st.integers(0, 9)):  # usually present
            members.append((key, draw(st.one_of(numbers, numbers, scalars))))
    members += draw(st.lists(st.tuples(st.text(max_size=5), json_values), max_size=2))
    if draw(st.booleans()):
        members.append(("sum_val", draw(scalars)))
    if members and draw(st.integers(0, 4)) == 0:
        members.append(draw(st.sampled_from(members)))  # a duplicate key: the last wins
    members = draw(st.permutations(members))
    ascii_only = draw(st.booleans())
    space = draw(st.sampled_from(["", " ", "\t", "  "]))
    body = ",".join(f"{_dump(k, ascii_only)}:{space}{_dump(v, ascii_only)}" for k, v in members)
    text = f"{space}{{{body}}}{space}"
    return text.encode("utf-8", "surrogatepass")


lines = st.one_of(
    near_miss_objects(),
    near_miss_objects(),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")),
    st.sampled_from(
        [
            b"",
            b" ",
            b"\t \r",
            b"\r",
            b"{",
            b"}",
            b'{"index":1,"total":1}{"index":1,"total":1}',
            b'{"index":1,"total":1,"s":"\x00"}',
            b'{"index":1,"total":1,"s":"\xff"}',
            b'{"index":1,"total":1,"s":"\xed\xa0\x80"}',
            b'{"index":1,"total":1,"s":"\\ud800"}',
            b'{"index":NaN,"total":1}',
            b'{"index":1e400,"total":1}',
            b'{"index":-Infinity,"total":1}',
            b"\xef\xbb\xbf{}",
        ]
    ),
)


@st.composite
def chunks(draw) -> bytes:
    """Lines joined with LF or CRLF, maybe without a final newline."""
    body = draw(st.lists(lines, max_size=12))
    ends = draw(st.lists(st.sampled_from([b"\n", b"\r\n"]), min_size=len(body), max_size=len(body)))
    data = b"".join(line + end for line, end in zip(body, ends, strict=True))
    if data and draw(st.booleans()):
        data = data.rstrip(b"\n")
    return data


def _lines_with_offsets(chunk: bytes):
    offset = 0
    out = []
    for raw in chunk.split(b"\n"):
        out.append((offset, raw))
        offset += len(raw) + 1
    if chunk.endswith(b"\n") or not chunk:
        out.pop()
    return out


def _objects(output: list[bytes]) -> list[dict]:
    assert all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in output)
    return [json.loads(line) for line in output]


def _check_against_oracle(chunk: bytes, threshold: float):
    kept, counts = expected([chunk], threshold)
    result = ThresholdFilter(threshold).map_chunk(chunk, "f", 100, 7)
    assert canonical(_objects(result.output)) == canonical(kept)
    # Order is kept too: output lines follow input lines.
    assert [json.dumps(o, sort_keys=True) for o in _objects(result.output)] == [
        json.dumps(o, sort_keys=True) for o in kept
    ]
    assert result.read == sum(counts.values())
    assert result.blank == counts["blank"]
    assert len(result.bad) == counts["bad"]
    # Every bad line is the oracle's bad line at the offset and line number given.
    bad_lines = [
        (offset, number)
        for number, (offset, raw) in enumerate(_lines_with_offsets(chunk), start=7)
        if classify(raw, threshold)[0] == "bad"
    ]
    assert [(b.offset - 100, b.line) for b in result.bad] == bad_lines
    for bad in result.bad:
        assert bad.reason in REASONS
        assert chunk[bad.offset - 100 :].startswith(bad.text)
        assert json.loads(bad.to_json())["reason"] == bad.reason
    return result


@SETTINGS
@given(chunks(), st.sampled_from([1.99, 0.0, -1.0, 1e300]))
def test_map_chunk_agrees_with_oracle(chunk, threshold):
    _check_against_oracle(chunk, threshold)


@SETTINGS
@given(chunks())
def test_whole_chunk_equals_line_by_line(chunk):
    mapper = ThresholdFilter()
    whole = mapper.map_chunk(chunk, "f", 0, 1)
    output, bad, read, blank = [], [], 0, 0
    for number, (offset, raw) in enumerate(_lines_with_offsets(chunk), start=1):
        part = mapper.map_chunk(raw + b"\n", "f", offset, number)
        output += part.output
        bad += part.bad
        read += part.read
        blank += part.blank
        # map_line, the readable statement, says the same about each line.
        stripped = raw[:-1] if raw.endswith(b"\r") else raw
        if not stripped.strip(b" \t\r"):
            assert part.blank == 1
            continue
        try:
            line_out = map_line(stripped)
        except BadRecord as error:
            assert [b.reason for b in part.bad] == [error.reason]
        else:
            assert part.output == ([line_out + b"\n"] if line_out is not None else [])
    assert whole.output == output
    assert (whole.read, whole.blank) == (read, blank)
    assert [(b.offset, b.line, b.reason, b.text) for b in whole.bad] == [
        (b.offset, b.line, b.reason, b.text) for b in bad
    ]
    counters = chunk_counters(whole)
    assert counters["records"]["bad"] == sum(counters["bad_records"].values())


@SETTINGS
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash(data):
    _check_against_oracle(data, 1.99)


def test_deep_nesting_is_a_bad_record_not_a_crash():
    deep = b'{"index":1,"total":2,"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    result = ThresholdFilter().map_chunk(deep + b"\n" + b'{"index":1,"total":2}\n', "f", 0, 1)
    assert [(b.line, b.reason) for b in result.bad] == [(1, "invalid_json")]
    assert _objects(result.output) == [{"index": 1, "total": 2, "sum_val": 3}]
