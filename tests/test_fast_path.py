"""The chunk fast path is exact: random chunks of ordinary and awkward lines, against the
oracle and against the line-by-line path, plus the reader's cheap long-line test."""

from __future__ import annotations

import json

from hypothesis import example, given, settings
from hypothesis import strategies as st

from streamjobs.inputs import has_long_line
from streamjobs.job import _lines_at, mapper_for
from tests import oracle, property_jobs

NUMBERS = [
    "0.5",
    "1",
    "-3",
    "1.5e0",
    "0.9999999999999999",
    "9007199254740993",  # 2**53 + 1: not a float, compared exactly
    "18446744073709551616",  # 2**64: beyond msgspec's integers
    "1e308",
    "-1.7e308",  # two of these overflow to -inf: not_finite
    "1.7e308",
    "1e400",
    "true",
    '"1"',
    "null",
    "NaN",
]
LINES = st.one_of(
    st.builds(
        lambda i, t, extra: f'{{"index": {i}, "total": {t}{extra}}}',
        st.sampled_from(NUMBERS),
        st.sampled_from(NUMBERS),
        st.sampled_from(
            [
                "",
                ', "name": "x"',
                ', "n": {"a": [1, 2]}',
                ', "sum_val": 0',
                ', "x": 1E400',
                ', "x": -1e999',
                ', "x": 1.7976931348623159e308',
                ', "x": ' + "9" * 4301,
            ]
        ),
    ),
    st.sampled_from(
        [
            "",
            "   ",
            '{"index": 1, "total": 1}\r',
            '{"index": 1, "total": 1} {"index": 1, "total": 1}',
            '{"index": 1, "total": 1},{"index": 1, "total": 1}',
            '{"index": 1, "total": 1, "a": {"b": 1}',  # with the next line "}" ...
            "}",
            '{"index": 1,',
            '"total": 1}',
            '{"total": 2}',
            "[1, 2]",
            '{"index": 1, "total": 1, "s": "\u00e9"}',
            '{"index": 1, "total": 1, "s": "\udcff"}',  # not UTF-8 once written
            '{"index": 1, "total": 1, "s": "\\ud800"}',
            ' {"index": 1.5, "total": 1.5}',
            '{"index": 1.5, "total": 1.5}\t ',
            '{"index": 1.5, "total": 1.5}\r\r',
            '{"index": 1, "total": 1, "s": "} {", "t": "}\\n{"}',
            '{"index": 1, "total": 1, "a": [{"b": 1}, {"c": [{}]}]}',
        ]
    ),
)
# What may stand between two lines: a newline, with blanks (CRs) around it, or two.
SEPARATORS = ["\n"] * 6 + ["\r\n", "\r\n", " \n", "\n\t", "\t\r\n ", "\n\n", "\n \n"]


def run_both_paths(job, chunk: bytes):
    mapper = mapper_for(job)
    return mapper.map_chunk(chunk, "", 0, 0), mapper.map_by_line(chunk)


@settings(max_examples=400, deadline=None)
@given(
    lines=st.lists(LINES, min_size=1, max_size=30),
    separators=st.lists(st.sampled_from(SEPARATORS), min_size=29, max_size=29),
    final_newline=st.booleans(),
    threshold=st.sampled_from([1.99, 0.0, -1e308, 2.0, 9007199254740992.0]),
    prefilter=st.booleans(),
)
# One object over two lines and two objects on one line: as many objects as lines, first
# and last bytes as a good chunk's. Only the check of every line break catches it.
@example(
    lines=['{"index": 1,', '"total": 1}', '{"index": 1, "total": 1} {"index": 1, "total": 1}'],
    separators=["\n"] * 29,
    final_newline=True,
    threshold=0.0,
    prefilter=True,
)
def test_map_chunk_agrees_with_the_oracle_and_the_exact_path(
    lines, separators, final_newline, threshold, prefilter
):
    text = lines[0] + "".join(gap + line for gap, line in zip(separators, lines[1:], strict=False))
    chunk = text.encode("utf-8", "surrogatepass") + (b"\n" if final_newline else b"")
    jobs = property_jobs
    job = (jobs.TestTaskMR if prefilter else jobs.MRWithoutPrefilter)(threshold=threshold)
    fast, slow = run_both_paths(job, chunk)
    assert fast.lines() == slow.lines()
    assert [(b.offset, b.line, b.reason) for b in fast.bad] == [
        (b.offset, b.line, b.reason) for b in slow.bad
    ]
    assert (fast.read, fast.blank) == (slow.read, slow.blank)
    want = oracle.run(oracle.Threshold(threshold), [chunk])
    assert [oracle.typed(oracle.read_json_line(line)) for line in fast.lines()] == [
        oracle.typed(record) for record in want.output
    ]
    assert [b.reason for b in fast.bad] == [reason for *_, reason in want.bad]
    assert fast.blank == want.blank


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.floats(-10, 10, allow_nan=False), min_size=1, max_size=300),
    threshold=st.floats(-10, 10, allow_nan=False),
)
def test_good_chunks_take_the_fast_path_and_keep_the_input_order(values, threshold):
    lines = [f'{{"index": {v!r}, "total": 0.5, "k": {i}}}\n' for i, v in enumerate(values)]
    chunk = "".join(lines).encode()
    expected = [i for i, v in enumerate(values) if v + 0.5 > threshold]
    jobs = property_jobs
    for job in (jobs.TestTaskMR(threshold=threshold), jobs.MRWithoutPrefilter(threshold=threshold)):
        mapper = mapper_for(job)
        fast = mapper.map_fast(chunk)
        assert fast is not None  # every line is good: no fallback
        assert [json.loads(line)["k"] for line in fast.lines()] == expected
        assert fast.lines() == mapper.map_by_line(chunk).lines()


@given(st.lists(st.binary(max_size=20).map(lambda b: b.replace(b"\n", b"")), min_size=1))
def test_lines_at_finds_the_lines_a_split_would(lines):
    chunk = b"\n".join(lines) + b"\n"
    numbers = list(range(0, len(lines), 3))
    assert list(_lines_at(chunk, numbers, len(lines))) == [lines[i] for i in numbers]


@given(st.binary(max_size=60).map(lambda b: b.replace(b"a", b"\n")), st.integers(0, 12))
def test_the_long_line_test_matches_splitting_the_chunk(chunk, limit):
    expected = any(len(line) > limit for line in chunk.split(b"\n"))
    assert has_long_line(chunk, limit) == expected


def test_crlf_lines_and_blanks_around_objects_take_the_fast_path():
    # Windows line ends and blanks beside an object are still one object a line.
    lines = [
        b'{"index": 1.5, "total": 1}\r',
        b' {"index": 2, "total": -3}\t',
        b'{"index": 0, "total": 9}\r',
    ]
    chunk = b"\n".join(lines) + b"\n"
    for job in (property_jobs.MRWithoutPrefilter, property_jobs.TestTaskMR):
        mapper = mapper_for(job(threshold=0.0))
        fast = mapper.map_fast(chunk)
        assert fast is not None
        assert fast.lines() == mapper.map_by_line(chunk).lines()
        assert [json.loads(line)["sum_val"] for line in fast.lines()] == [2.5, 9]


def test_a_line_not_utf8_in_a_field_the_decoder_skips_is_bad_on_the_fast_path():
    # The prefilter's rows skip "s" without checking it; the chunk's UTF-8 check does.
    good = '{"index": 1.5, "total": 1, "s": "caf\u00e9"}'.encode()
    chunk = good + b'\n{"index": 0, "total": 0, "s": "\xff"}\n' + good + b"\n"
    for job in (property_jobs.TestTaskMR, property_jobs.MRWithoutPrefilter):
        mapper = mapper_for(job(threshold=0.0))
        result = mapper.map_chunk(chunk, "f", 0, 1)
        assert [(b.line, b.reason) for b in result.bad] == [(2, "invalid_utf8")]
        assert result.lines() == mapper.map_by_line(chunk).lines()
        assert result.written == 2


def test_a_line_that_is_not_an_object_is_bad_in_a_job_without_fields():
    mapper = mapper_for(property_jobs.NoFields())
    result = mapper.map_chunk(b'{}\n[1, 2]\n{"a": 1, "b": 2}\n', "f", 0, 1)
    assert [(b.line, b.reason) for b in result.bad] == [(2, "not_an_object")]
    assert result.written == 2
