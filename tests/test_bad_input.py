"""Bad input never crashes a run nor loses a good record: each bad line is counted by
reason and quarantined with its file and line number (or byte offset)."""

from __future__ import annotations

import glob
import gzip
import json
import os

import luigi_hadoop

from streamjobs.engines.local import LocalEngine
from streamjobs.inputs import DEFAULT_MAX_LINE_BYTES
from streamjobs.spec import JobSpec
from tests.conftest import run_luigi
from tests.oracle import expected, read_json_line, typed

GOOD = [
    b'{"index": 1.5, "total": 0.9}',
    b'  {"total": 3, "index": -0.5, "extra": [1, {"a": null}]}  ',
    b'{"index": 1e1, "total": -2E0, "name": "caf\xc3\xa9 \xe2\x82\xac"}',
    b'{"index": 1, "total": 1, "index": 7}',
    b'{"index": 1000000000000000000000000000001, "total": 1}',
    b'{"index": 1, "total": 2, "s": "\\ud800 lone surrogate escape"}',
    b'{"index": 0.1, "total": 0.2}',  # filtered: below the threshold
    b'{"index": 1, "total": 2, "big": ' + b"9" * 4301 + b"}",  # beyond int()'s 4,300 digits
    b'{"index": 0, "total": 0, "x": 1E400}',  # filtered: the infinity is never written
    b'{"index": 1, "total": 2, "x": ' + b"[" * 511 + b"]" * 511 + b"}",  # 512 levels
]
# (line, reason): one of each kind of bad line.
BAD = [
    (b"not json", "invalid_json"),
    (b'{"index": 1, "total": 2', "invalid_json"),
    (b"[1, 2]", "not_an_object"),
    (b'"a string"', "not_an_object"),
    (b'{"index": 1}', "missing_field"),
    (b'{"total": 1}', "missing_field"),
    (b'{"index": "1", "total": 2}', "not_a_number"),
    (b'{"index": true, "total": 2}', "not_a_number"),
    (b'{"index": null, "total": 2}', "not_a_number"),
    (b'{"index": NaN, "total": 1}', "invalid_json"),
    (b'{"index": Infinity, "total": 1}', "invalid_json"),
    (b'{"index": -Infinity, "total": 1}', "invalid_json"),
    (b'{"index": 1e400, "total": 1}', "not_finite"),
    (b'{"index": 1e308, "total": 1e308}', "not_finite"),  # the sum overflows
    (b'{"index": 1, "total": 2, "x": 1E400}', "not_finite"),  # kept, but not writable
    (b'{"index": 1' + b"0" * 400 + b', "total": 1.5}', "mapper_error"),  # int + float
    (b'{"index": 1, "total": 2, "x": ' + b"[" * 512 + b"]" * 512 + b"}", "too_deep"),
    (b'{"index": 1, "total": 2, "s": "\xff\xfe"}', "invalid_utf8"),
    (b'{"index": 1, "total": 2, "s": "\xed\xa0\x80"}', "invalid_utf8"),  # encoded surrogate
    (b'{"index": 1, "total": 2, "s": "a\x00b"}', "invalid_json"),
    (b"\x00", "invalid_json"),
    (b'{"index": 1, "total": 2, "pad": "' + b"x" * (3 << 20) + b'"}', "line_too_long"),
]


def mixed_file() -> bytes:
    """Good and bad lines interleaved, CRLF here and there, blank lines, no final newline."""
    lines = []
    for i, (bad, _) in enumerate(BAD):
        lines.append(GOOD[i % len(GOOD)])
        lines.append(bad)
        if i % 4 == 0:
            lines.append(b"   ")
    body = b"".join(line + (b"\r\n" if i % 3 == 0 else b"\n") for i, line in enumerate(lines))
    return body + GOOD[0]


def run_local(source, out, processes: int, split_bytes: int = 16 << 20) -> dict:
    job = luigi_hadoop.TestTaskMR(threshold=1.99)
    spec = JobSpec.of_task(job, [str(source)], str(out), split_bytes=split_bytes)
    return LocalEngine(spec, processes=processes, progress=False).run()


def read_output(directory) -> list[dict]:
    records = []
    for part in sorted(glob.glob(os.path.join(directory, "part-*"))):
        with open(part, "rb") as stream:
            records += [read_json_line(line) for line in stream]
    return records


def read_quarantine(directory) -> list[dict]:
    entries = []
    for path in sorted(glob.glob(os.path.join(directory, "_quarantine", "*.jsonl"))):
        with open(path, "rb") as stream:
            entries += [json.loads(line) for line in stream]
    return entries


def test_every_kind_of_bad_line_is_counted_and_quarantined(tmp_path):
    data = mixed_file()
    source = tmp_path / "in" / "mixed.json"
    source.parent.mkdir()
    source.write_bytes(data)
    out = tmp_path / "out"
    totals = run_local(source.parent, out, processes=2)
    kept, counts = expected([data], 1.99, DEFAULT_MAX_LINE_BYTES)
    assert typed(read_output(out)) == typed(kept)  # in input order
    assert counts["bad"] == len(BAD)
    with open(out / "_COUNTERS.json") as stream:
        saved = json.load(stream)
    assert saved == totals
    assert saved["records"] == {
        "read": sum(counts.values()),
        "written": len(kept),
        "bad": len(BAD),
        "blank": counts["blank"],
    }
    by_reason: dict[str, int] = {}
    for _, reason in BAD:
        by_reason[reason] = by_reason.get(reason, 0) + 1
    assert saved["bad_records"] == by_reason
    assert os.path.exists(out / "_SUCCESS")

    entries = read_quarantine(out)
    assert [e["reason"] for e in entries] == [reason for _, reason in BAD]
    lines = data.split(b"\n")
    for entry, (bad, _) in zip(entries, BAD, strict=True):
        assert entry["source"] == str(source)
        # The line number and the byte offset both point at the bad line itself.
        assert lines[entry["line"] - 1].rstrip(b"\r") == bad
        assert data[entry["offset"] :].startswith(bad[:4096])
        assert entry["length"] == len(bad)
        assert entry["text"] == bad[:4096].decode("utf-8", "backslashreplace")


def test_lines_in_later_splits_are_located_by_byte_offset(tmp_path):
    data = mixed_file()
    source = tmp_path / "mixed.json"
    source.write_bytes(data)
    out = tmp_path / "out"
    # Splits far smaller than the file: lines past the first split have no known number.
    run_local(source, out, processes=2, split_bytes=4096)
    assert len(glob.glob(str(out / "part-*"))) > 3
    kept, counts = expected([data], 1.99, DEFAULT_MAX_LINE_BYTES)
    assert typed(read_output(out)) == typed(kept)  # in input order
    entries = read_quarantine(out)
    assert sorted(e["offset"] for e in entries) == [e["offset"] for e in entries]
    assert [e["reason"] for e in entries] == [reason for _, reason in BAD]
    for entry, (bad, _) in zip(entries, BAD, strict=True):
        assert data[entry["offset"] :].startswith(bad[:4096])
        if "line" in entry:
            assert data.split(b"\n")[entry["line"] - 1].rstrip(b"\r") == bad


def test_per_file_tasks_quarantine_and_count_each_file(tmp_path):
    data = mixed_file()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a").write_bytes(data)
    with gzip.open(tmp_path / "data" / "b.gz", "wb") as stream:
        stream.write(data)
    result = run_luigi(
        ["--module", "luigi_multiprocess", "LotsOTasks", "--workers", "2", "--local-scheduler"],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout
    kept, counts = expected([data], 1.99, DEFAULT_MAX_LINE_BYTES)
    out = tmp_path / "out_data2"
    for name, file in (("a", "a"), ("b", "b.gz")):
        with open(out / name, "rb") as stream:
            assert typed([read_json_line(line) for line in stream]) == typed(kept)
        with open(out / "_counters" / name) as stream:
            records = json.load(stream)["records"]
        assert records["bad"] == len(BAD) == counts["bad"]
        with open(out / "_quarantine" / name, "rb") as stream:
            entries = [json.loads(line) for line in stream]
        assert [e["reason"] for e in entries] == [reason for _, reason in BAD]
        assert {e["source"] for e in entries} == {os.path.join("data", file)}
        assert all(isinstance(e["line"], int) for e in entries)


def edge_file() -> bytes:
    """Valid records that once broke runs or depended on their neighbours, among ordinary
    ones, with blank lines, CRLF and no final newline."""
    nested = b"[" * 511 + b"]" * 511
    edges = [
        b'{"index":1,"total":1,"x":1E400}',
        b'{"index":0,"total":0,"x":-1e999}',
        b'{"index":1,"total":1,"x":1.7976931348623159e308}',
        b'{"index":1,"total":1,"big":' + b"9" * 4301 + b"}",
        b'{"index":1,"total":1,"x":' + nested + b"}",
        b'{"index":1,"total":1,"x":[' + nested + b"]}",
        b'{"index":1,"total":1,"s":"\\ud800"}',
        b'{"index":true,"total":1}',
        b'{"index":1,"total":1,"index":0.5}',
        b"",
    ]
    lines = []
    for i in range(600):
        lines.append(b'{"index": %d, "total": 0.5, "i": %d}' % (i % 4, i))
        if i % 20 == 0:
            lines.append(edges[(i // 20) % len(edges)])
    body = b"".join(line + (b"\r\n" if i % 7 == 0 else b"\n") for i, line in enumerate(lines))
    return body + b'{"index":2,"total":2}'


def test_edge_values_give_the_oracles_results_on_the_hadoop_engine(tmp_path, node_python):
    from tests.test_hadoop_engine import write_config

    data = edge_file()
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "edges.json").write_bytes(data)
    config = write_config(tmp_path, node_python)
    args = ["--module", "luigi_hadoop", "TestTaskMR", "--local-scheduler", "--input-path", "in"]
    result = run_luigi([*args, "--output-path", "out"], tmp_path, LUIGI_CONFIG_PATH=config)
    assert result.returncode == 0, result.stdout
    kept, _ = expected([data], 1.99)
    want = oracle_run([data])
    assert typed(read_output(tmp_path / "out")) == typed(kept)
    with open(tmp_path / "out" / "_COUNTERS.json") as stream:
        assert json.load(stream) == want.counters()
    assert sorted(e["reason"] for e in read_quarantine(tmp_path / "out")) == sorted(
        reason for *_, reason in want.bad
    )


def oracle_run(files):
    from tests import oracle

    return oracle.run(oracle.Threshold(1.99), files, DEFAULT_MAX_LINE_BYTES)
