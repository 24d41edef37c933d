"""Property tests: any job, on generated input, gives what the plain oracle (tests/oracle.py)
says, through ``map_chunk`` at any chunk boundaries and end to end through the local engine.

Generated: numbers beyond a double's range in any field and any position, integers of more
than 4,300 digits, nesting around MAX_DEPTH, bools in numeric fields, duplicate keys, blank
lines, CRLF and lone CR, no final newline, invalid UTF-8, lines over the length limit.
"""

from __future__ import annotations

import glob
import gzip
import io
import json
import os
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamjobs.engines.local import LocalEngine
from streamjobs.job import REASONS, mapper_for
from streamjobs.spec import JobSpec
from streamjobs.stream import map_stream
from tests import oracle, property_jobs

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


def _deep(levels: int, opener: str = "[") -> str:
    closer = "]" if opener == "[" else "}"
    inner = "0" if opener == "[" else ""
    if opener == "{":
        return '{"d":' * (levels - 1) + "{}" + "}" * (levels - 1)
    return opener * levels + inner + closer * levels


# Number texts on every edge: beyond a double (either sign, either exponent letter), the
# largest double and the first beyond it, underflow, signed zero, integers beyond int64
# and beyond Python's 4,300-digit str->int guard.
EDGE_NUMBERS = [
    "1E400",
    "-1e999",
    "1.7976931348623159e308",
    "1.7976931348623157e308",
    "-1.7976931348623158E+308",
    "4.9e-324",
    "1e-400",
    "-0",
    "-0.0",
    "2.0",
    "1e2",
    "9007199254740993",
    "18446744073709551616",
    "9" * 4301,
    "-1" + "0" * 4400,
]
numbers = st.one_of(
    st.sampled_from(EDGE_NUMBERS),
    st.integers(-5, 5).map(str),
    st.floats(-5, 5).map(repr),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)
strings = st.one_of(
    st.text(max_size=6).map(lambda s: json.dumps(s, ensure_ascii=False)),
    st.sampled_from(['"\\ud800"', '"caf\\u00e9"', '"x\\"[{"', '"\\\\"']),
    # Raw: "\u00e9" is valid UTF-8; a lone surrogate, written with surrogatepass, is not.
    st.sampled_from(['"caf\u00e9"', '"\udcff"']),
)
# Each level inside a line's object is one more: the object is level 1.
deep_values = st.sampled_from([510, 511, 512, 513]).flatmap(
    lambda n: st.sampled_from([_deep(n, "["), _deep(n, "{")])
)
scalars = st.one_of(numbers, strings, st.sampled_from(["true", "false", "null"]))
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3).map(lambda items: "[" + ",".join(items) + "]"),
    st.lists(st.tuples(strings, scalars), max_size=3).map(
        lambda pairs: "{" + ",".join(f"{k}:{v}" for k, v in pairs) + "}"
    ),
    deep_values,
    st.sampled_from(["NaN", "-Infinity", "Infinity"]),
)


def typed_value(kind, clean: bool = False):
    """A value of the declared type, most of the time (always when ``clean``); else
    anything."""
    good = {
        float: st.one_of(st.floats(-3, 3).map(repr), st.integers(-3, 3).map(str)),
        int: st.integers(-10, 10).map(str),
        str: strings,
        bool: st.sampled_from(["true", "false"]),
        list: st.lists(scalars, max_size=3).map(lambda items: "[" + ",".join(items) + "]"),
        dict: st.lists(st.tuples(strings, scalars), max_size=3).map(
            lambda pairs: "{" + ",".join(f"{k}:{v}" for k, v in pairs) + "}"
        ),
    }[kind]
    return good if clean else st.one_of(good, good, good, values)


space = st.sampled_from(["", "", " ", "\t", "\r", " \r "])


@st.composite
def object_lines(draw, fields: dict, clean: bool = False) -> bytes:
    members = []
    for name, kind in fields.items():
        if clean or draw(st.integers(0, 11)):  # usually present
            # The name as is, or with its first letter escaped (the same key to JSON).
            key = draw(st.sampled_from([json.dumps(name), f'"\\u{ord(name[0]):04x}{name[1:]}"']))
            members.append((key, draw(typed_value(kind, clean))))
    extra_keys = st.sampled_from(['"x"', '"y"', '"sum_val"', '"amount"', '"k"', '"\\u0078"'])
    # A clean line holds an edge value now and then: in any field, at any position.
    extra = st.one_of(scalars, *[scalars] * 6, values) if clean else values
    members += draw(st.lists(st.tuples(extra_keys, extra), max_size=2))
    if members and draw(st.integers(0, 4)) == 0:
        members.append(draw(st.sampled_from(members)))  # a duplicate key: the last wins
    members = draw(st.permutations(members))
    gap = "" if clean else draw(space)
    body = ",".join(f"{gap}{key}{gap}:{gap}{value}" for key, value in members)
    if clean:  # as the fast path takes them: UTF-8 (often ASCII), nothing around the object
        text = "{" + body + "}"
        if draw(st.booleans()):
            return text.encode("ascii", "backslashreplace")
        return text.encode("utf-8", "surrogatepass")
    text = draw(space) + "{" + body + "}" + draw(space)
    return text.encode("utf-8", "surrogatepass")


other_lines = st.one_of(
    st.sampled_from(
        [
            b"",
            b" ",
            b"\t",
            b"\r",
            b" \r \r",
            b"[1, 2]",
            b"3",
            b'"s"',
            b"{",
            b"}",
            b'{"a":1}{"b":2}',
            b'{"a":1},{"b":2}',
            b'{"a":"\xff"}',
            b'{"a":"\xed\xa0\x80"}',
            b'{"a":"\x00"}',
            b"\xef\xbb\xbf{}",
            b"ERROR: disk full",
            b"WARN ERROR: \xff",
            b"ERROR\tTab: x",
            _deep(513).encode(),
            b'{"a":"' + b"[" * 600,
            b"{" * 600 + b"\xff",
            ("[" * 513 + '"]"').encode(),
        ]
    ),
    st.binary(max_size=20).map(lambda b: b.replace(b"\n", b"")),
)


def lines_for(job):
    if job.input_format == "text":
        texts = st.text(max_size=12).map(lambda s: s.encode("utf-8", "surrogatepass"))
        error = texts.map(lambda b: b"ERROR" + b.replace(b"\n", b""))
        return st.one_of(error, texts.map(lambda b: b.replace(b"\n", b"")), other_lines)
    return st.one_of(object_lines(job.fields), object_lines(job.fields), other_lines)


@st.composite
def file_contents(draw, job, max_lines: int = 14) -> bytes:
    """Lines of every kind; or, half of the time for a JSON job, the lines a fast path
    takes (one ASCII object a line, LF), edge values in them, perhaps one other line."""
    if job.input_format == "json" and draw(st.booleans()):
        body = draw(st.lists(object_lines(job.fields, clean=True), min_size=1, max_size=40))
        if draw(st.integers(0, 2)) == 0:
            body.insert(draw(st.integers(0, len(body))), draw(other_lines))
        data = b"\n".join(body) + draw(st.sampled_from([b"\n", b""]))
        return data
    body = draw(st.lists(lines_for(job), max_size=max_lines))
    ends = st.sampled_from([b"\n", b"\n", b"\r\n"])
    data = b"".join(line + draw(ends) for line in body)
    if data and draw(st.booleans()):
        data = data[:-1]  # no final newline (or a last line ending in a lone CR)
    return data


def make_jobs():
    jobs = property_jobs
    return {
        "TestTaskMR": jobs.TestTaskMR(threshold=1.99),
        "MRWithoutPrefilter": jobs.MRWithoutPrefilter(threshold=0.0),
        "SalesOver": jobs.SalesOver(min_amount=1.0),
        "RaisesOnSome": jobs.RaisesOnSome(),
        "ZeroOneTwo": jobs.ZeroOneTwo(),
        "ListsAndText": jobs.ListsAndText(),
        "NoFields": jobs.NoFields(),
        "ErrorLines": jobs.ErrorLines(),
    }


JOBS = make_jobs()


def job_and_files(max_files: int = 1, max_lines: int = 14):
    return st.sampled_from(sorted(JOBS)).flatmap(
        lambda name: st.tuples(
            st.just(name),
            st.lists(file_contents(JOBS[name], max_lines), min_size=1, max_size=max_files),
        )
    )


def outputs_as_expected(job, lines: list[bytes]):
    """The output lines in the oracle's terms (strict JSON read back, types explicit)."""
    if job.input_format == "text":
        assert all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in lines)
        return [line[:-1].decode("utf-8") for line in lines]
    return [oracle.typed(oracle.read_json_line(line)) for line in lines]


def expected_outputs(job, want: oracle.Expected):
    if job.input_format == "text":
        return want.output
    return [oracle.typed(record) for record in want.output]


def _boundaries(data: bytes, cuts: list[int]) -> list[int]:
    """Chunk boundaries: line starts picked by ``cuts``, plus both ends."""
    starts = [i + 1 for i, byte in enumerate(data) if byte == 0x0A and i + 1 < len(data)]
    chosen = sorted({starts[c % len(starts)] for c in cuts} if starts else set())
    return [0, *chosen, len(data)]


@SETTINGS
@given(job_and_files(), st.lists(st.integers(0, 100), max_size=4))
def test_map_chunk_at_any_boundaries_agrees_with_the_oracle(job_files, cuts):
    name, (data,) = job_files
    job = JOBS[name]
    want = oracle.run(job, [data])
    mapper = mapper_for(job)
    output, bad, read, blank = [], [], 0, 0
    bounds = _boundaries(data, cuts)
    for start, end in zip(bounds, bounds[1:], strict=False):
        first_line = data.count(b"\n", 0, start) + 1
        result = mapper.map_chunk(data[start:end], "f", start, first_line)
        output += result.lines()
        assert result.written == len(result.lines())
        bad += [(0, b.line, b.offset, b.reason) for b in result.bad]
        read, blank = read + result.read, blank + result.blank
        for b in result.bad:
            assert b.reason in REASONS and b.source == "f"
            assert data[b.offset :].startswith(b.text)
            assert json.loads(b.to_json())["reason"] == b.reason
    assert outputs_as_expected(job, output) == expected_outputs(job, want)
    assert bad == want.bad
    assert (read, blank) == (want.read, want.blank)
    # The plain line-by-line statement in job.py says the same of the whole chunk.
    whole = mapper.map_by_line(data) if data else None
    if whole is not None:
        assert whole.lines() == output
        assert [b.reason for b in whole.bad] == [reason for *_, reason in want.bad]


def _run_engine(job, directory: str, processes: int, split_bytes: int, max_line_bytes: int):
    out = os.path.join(directory, "out")
    spec = JobSpec.of_task(
        job,
        [os.path.join(directory, "in")],
        out,
        split_bytes=split_bytes,
        max_line_bytes=max_line_bytes,
    )
    counters = LocalEngine(spec, processes=processes, progress=False).run()
    lines = []
    for part in sorted(glob.glob(os.path.join(out, "part-*"))):
        with open(part, "rb") as stream:
            lines += stream.readlines()
    entries = []
    for path in sorted(glob.glob(os.path.join(out, "_quarantine", "*.jsonl"))):
        with open(path, "rb") as stream:
            entries += [json.loads(line) for line in stream]
    with open(os.path.join(out, "_COUNTERS.json")) as stream:
        assert json.load(stream) == counters
    assert os.path.exists(os.path.join(out, "_SUCCESS"))
    return lines, entries, counters


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    job_and_files(max_files=3, max_lines=10),
    st.sampled_from([1, 2]),
    st.integers(16, 300),
    st.sampled_from([64, 200, 5000, 1 << 20]),
    st.lists(st.booleans(), min_size=3, max_size=3),
)
def test_local_engine_agrees_with_the_oracle(
    job_files, processes, split_bytes, max_line_bytes, compress
):
    name, files = job_files
    job = JOBS[name]
    want = oracle.run(job, files, max_line_bytes)
    with tempfile.TemporaryDirectory() as directory:
        os.mkdir(os.path.join(directory, "in"))
        paths = []
        for i, data in enumerate(files):
            # A compressed file is one split, its offsets those of the decompressed text.
            paths.append(os.path.join(directory, "in", f"f{i}.gz" if compress[i] else f"f{i}"))
            with open(paths[-1], "wb") as stream:
                stream.write(gzip.compress(data) if compress[i] else data)
        lines, entries, counters = _run_engine(
            job, directory, processes, split_bytes, max_line_bytes
        )
    assert outputs_as_expected(job, lines) == expected_outputs(job, want)
    assert counters == want.counters()
    assert len(entries) == len(want.bad)
    for entry, (index, number, offset, reason) in zip(entries, want.bad, strict=True):
        assert (entry["source"], entry["offset"], entry["reason"]) == (paths[index], offset, reason)
        assert entry.get("line", number) == number
        raw = oracle.lines_of(files[index][offset:])[0]
        if reason != "line_too_long":
            raw = raw.removesuffix(b"\r")
        assert entry["length"] == len(raw)


@SETTINGS
@given(
    job_and_files(max_lines=10),
    st.integers(1, 64),
    st.sampled_from([16, 64, 1 << 20]),
)
def test_the_stream_loop_of_a_hadoop_task_agrees_with_the_oracle(
    job_files, chunk_bytes, max_line_bytes
):
    # What a Hadoop Streaming map task runs (stdin to stdout): the same records, counters
    # and quarantine, whatever the read size.
    name, (data,) = job_files
    job = JOBS[name]
    want = oracle.run(job, [data], max_line_bytes)
    out, quarantine = io.BytesIO(), io.BytesIO()
    counters = map_stream(
        mapper_for(job), io.BytesIO(data), out, "f", chunk_bytes, max_line_bytes, quarantine
    )
    lines = [line + b"\n" for line in out.getvalue().split(b"\n")[:-1]]
    assert outputs_as_expected(job, lines) == (expected_outputs(job, want))
    assert counters == want.counters()
    entries = [json.loads(line) for line in quarantine.getvalue().splitlines()]
    assert [(0, e["line"], e["offset"], e["reason"]) for e in entries] == want.bad


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(job_and_files(max_lines=10), st.sampled_from([64, 1 << 20]))
def test_one_task_of_a_per_file_run_agrees_with_the_oracle(job_files, max_line_bytes):
    name, (data,) = job_files
    job = JOBS[name]
    want = oracle.run(job, [data], max_line_bytes)
    with tempfile.TemporaryDirectory() as directory:
        source = os.path.join(directory, "f.json")
        with open(source, "wb") as stream:
            stream.write(data)
        out = os.path.join(directory, "out", "f.json")
        spec = JobSpec.of_task(job, [source], out, max_line_bytes=max_line_bytes)
        counters = LocalEngine(spec, processes=1, progress=False).run_file()
        with open(out, "rb") as stream:
            lines = stream.readlines()
        with open(os.path.join(directory, "out", "_counters", "f.json")) as stream:
            assert json.load(stream) == counters
        quarantine = os.path.join(directory, "out", "_quarantine", "f.json")
        entries = []
        if os.path.exists(quarantine):
            with open(quarantine, "rb") as stream:
                entries = [json.loads(line) for line in stream]
    assert outputs_as_expected(job, lines) == expected_outputs(job, want)
    assert counters == want.counters()
    assert [(0, e["line"], e["offset"], e["reason"]) for e in entries] == want.bad
