"""The whole story as a new user meets it: an unseen directory of good lines in unusual
forms, bad lines of every kind, CRLF, no final newline, a .gz file and an empty file."""

from __future__ import annotations

import glob
import gzip
import json
import os

from streamjobs.inputs import DEFAULT_MAX_LINE_BYTES
from tests.conftest import run_luigi
from tests.oracle import canonical, expected

# (line, reason): bad lines of every reason the post's job can meet.
BAD = [
    (b"not json", "invalid_json"),
    (b'{"index": 1, "total": 2', "invalid_json"),
    (b"[1, 2]", "not_an_object"),
    (b'{"index": 1}', "missing_field"),
    (b'{"index": "1", "total": 2}', "not_a_number"),
    (b'{"index": true, "total": 2}', "not_a_number"),
    (b'{"index": NaN, "total": 1}', "invalid_json"),
    (b'{"index": 1e400, "total": 1}', "not_finite"),
    (b'{"index": 1e308, "total": 1e308}', "not_finite"),
    (b'{"index": 1, "total": 2, "s": "\xff\xfe"}', "invalid_utf8"),
    (b"[" * 600 + b"]" * 600, "too_deep"),
    (b'{"index": 1, "total": 2, "pad": "' + b"x" * (DEFAULT_MAX_LINE_BYTES + 10) + b'"}',
     "line_too_long"),
]  # fmt: skip

UNUSUAL_GOOD = [
    b'   {"index": 1, "total": 1}\t',  # white space around
    b'{"total": 0.5, "index": 1.75}',  # key order
    b'{"index": 2, "total": 0, "user": {"id": 7, "tags": ["a", "b"]}, "ok": true}',
    b'{"index": -3, "total": 10}',  # negative
    b'{"index": 25e-1, "total": -1.0E-2}',  # exponents
    b'{"index": 0, "total": 0, "index": 5, "total": 9}',  # duplicate keys: the last wins
    b'{"index": 1, "total": 1, "name": "\xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x98\x80 \\u00e9"}',
    b'{"index": 123456789012345678901234567890, "total": -1}',  # exact big integer
    b'{"index": 1, "total": 0.98, "sum_val": "replaced"}',
    b'{"index": 0.5, "total": 0.5}',  # filtered out
]


def write_unseen_directory(directory) -> list[bytes]:
    """Write the input files; their (decompressed) contents."""
    os.makedirs(directory)
    lf = b"".join(line + b"\n" for line in UNUSUAL_GOOD)
    crlf_mixed = b"".join(
        good + b"\r\n" + bad + b"\r\n"
        for good, (bad, _) in zip(UNUSUAL_GOOD * 2, BAD, strict=False)
    )
    no_final_newline = b"\n\n" + b"\n".join(UNUSUAL_GOOD[:4]) + b"\n  \n" + UNUSUAL_GOOD[4]
    compressed = lf + b"not json\n" + UNUSUAL_GOOD[0]
    files = {
        "events-1.json": lf,
        "events-2.json": crlf_mixed,
        "events-3.json": no_final_newline,
        "empty.json": b"",
    }
    for name, data in files.items():
        with open(os.path.join(directory, name), "wb") as stream:
            stream.write(data)
    with gzip.open(os.path.join(directory, "events-4.json.gz"), "wb") as stream:
        stream.write(compressed)
    return [*files.values(), compressed]


def test_unseen_directory_gives_exactly_the_expected_records(tmp_path):
    contents = write_unseen_directory(tmp_path / "unseen")
    kept, counts = expected(contents, 1.99, DEFAULT_MAX_LINE_BYTES)
    assert counts["bad"] == len(BAD) + 1

    result = run_luigi(
        ["--module", "luigi_hadoop", "TestTaskMR", "--local-scheduler"]
        + ["--input-path", "unseen", "--output-path", "result"],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout
    records = []
    for part in sorted(glob.glob(str(tmp_path / "result" / "part-*"))):
        with open(part, "rb") as stream:
            records += [json.loads(line) for line in stream]
    assert canonical(records) == canonical(kept)
    assert {"index": 123456789012345678901234567890, "total": -1,
            "sum_val": 123456789012345678901234567889} in records  # fmt: skip
    with open(tmp_path / "result" / "_COUNTERS.json") as stream:
        counters = json.load(stream)
    assert counters["records"] == {
        "read": sum(counts.values()),
        "written": len(kept),
        "bad": counts["bad"],
        "blank": counts["blank"],
    }
    assert sum(counters["bad_records"].values()) == counts["bad"]
    quarantined = []
    for path in glob.glob(str(tmp_path / "result" / "_quarantine" / "*.jsonl")):
        with open(path) as stream:
            quarantined += [json.loads(line) for line in stream]
    assert len(quarantined) == counts["bad"]


def test_max_bad_records_fails_the_run_without_creating_the_output(tmp_path):
    write_unseen_directory(tmp_path / "unseen")
    result = run_luigi(
        ["--module", "luigi_hadoop", "TestTaskMR", "--local-scheduler"]
        + ["--input-path", "unseen", "--output-path", "result", "--max-bad-records", "5"],
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stdout
    (line,) = [line for line in result.stdout.splitlines() if "TooManyBadRecords" in line]
    assert "more than --max-bad-records 5" in line
    assert "unseen/events-2.json:2: invalid_json" in line  # file:line: reason
    assert not os.path.exists(tmp_path / "result")
    assert sorted(os.listdir(tmp_path)) == ["unseen"]  # no staging directory left


def test_max_bad_records_at_the_count_still_publishes(tmp_path):
    contents = write_unseen_directory(tmp_path / "unseen")
    _, counts = expected(contents, 1.99, DEFAULT_MAX_LINE_BYTES)
    result = run_luigi(
        ["--module", "luigi_hadoop", "TestTaskMR", "--local-scheduler"]
        + ["--input-path", "unseen", "--output-path", "result"]
        + ["--max-bad-records", str(counts["bad"])],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout
    assert os.path.exists(tmp_path / "result" / "_SUCCESS")
