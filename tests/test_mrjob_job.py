"""`python -m mr_json_filter` on mrjob's own runners, run as a user runs it."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys

import pytest

from streamjobs.counters import BAD_RECORDS, RECORDS
from tests import oracle
from tests.conftest import luigi_env
from tests.test_jobs_cli import read_output_dir, unseen_lines

# Bad lines of every reason, and what each counts as.
BAD_LINES = [
    (b'{"index": 1, "total": ', "invalid_json"),
    (b'{"index": 1, "total": 2, "tag": "\xff"}', "invalid_utf8"),
    (b"[1, 2]", "not_an_object"),
    (b'{"index": 3}', "missing_field"),
    (b'{"index": "3", "total": 1}', "not_a_number"),
    (b'{"index": NaN, "total": 1}', "invalid_json"),
    (b'{"index": 1e308, "total": 1e308}', "not_finite"),
    (b'{"index": 1, "pad": "' + b"x" * (1 << 20), "line_too_long"),
]
BLANK_LINES = [b"", b"   ", b"\t"]


def with_bad_and_blank_lines(good: bytes) -> bytes:
    """``good`` with every bad and blank line spread among its lines."""
    lines = good.rstrip(b"\n").split(b"\n")
    extra = [line for line, _ in BAD_LINES] + BLANK_LINES
    step = len(lines) // (len(extra) + 1)
    for n, line in enumerate(extra):
        lines.insert((n + 1) * step + n, line)
    return b"\n".join(lines) + b"\n"


@pytest.fixture
def mixed_input(tmp_path):
    """Three unseen files: LF with bad lines, CRLF without a final newline, and gzip."""
    data = tmp_path / "in"
    data.mkdir()
    contents = [
        with_bad_and_blank_lines(unseen_lines(21, 2000)),
        unseen_lines(22, 2000).replace(b"\n", b"\r\n").rstrip(b"\r\n"),
        unseen_lines(23, 2000),
    ]
    paths = [data / "a.json", data / "b.json", data / "c.json.gz"]
    paths[0].write_bytes(contents[0])
    paths[1].write_bytes(contents[1])
    paths[2].write_bytes(gzip.compress(contents[2]))
    return [str(path) for path in paths], contents


def run_job(args: list[str], cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mr_json_filter", *args],
        cwd=cwd,
        env=luigi_env(),
        capture_output=True,
        timeout=300,
    )


def printed_counters(stderr: str) -> dict[str, dict[str, int]]:
    """The counters mrjob prints after a run (``Counters: N``, then groups and names)."""
    counters: dict[str, dict[str, int]] = {}
    lines = stderr.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("Counters: "))
    group = None
    for line in lines[start + 1 :]:
        if line.startswith("\t\t"):
            name, value = line.strip().split("=")
            counters[group][name] = int(value)
        elif line.startswith("\t"):
            group = line.strip()
            counters[group] = {}
        else:
            break
    return counters


def expected_counters(contents: list[bytes], threshold: float) -> dict[str, dict[str, int]]:
    kept, counts = oracle.expected(contents, threshold)
    reasons: dict[str, int] = {}
    for _, reason in BAD_LINES:
        reasons[reason] = reasons.get(reason, 0) + 1
    assert counts["bad"] == len(BAD_LINES)
    return {
        RECORDS: {
            "read": sum(counts.values()),
            "written": len(kept),
            "bad": counts["bad"],
            "blank": counts["blank"],
        },
        BAD_RECORDS: reasons,
    }


@pytest.mark.parametrize("runner", ["inline", "local"])
@pytest.mark.parametrize("threshold", ["1.5", "0.25"])
def test_prints_exactly_the_expected_records_and_counters(tmp_path, mixed_input, runner, threshold):
    paths, contents = mixed_input
    result = run_job(["-r", runner, "--threshold", threshold, *paths], cwd=tmp_path)
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 0, stderr

    lines = result.stdout.splitlines()
    assert all(b"\t" not in line for line in lines), "records are plain JSON lines"
    kept, _ = oracle.expected(contents, float(threshold))
    assert kept, "the test data must keep some records"
    assert oracle.canonical(json.loads(line) for line in lines) == oracle.canonical(kept)
    assert printed_counters(stderr) == expected_counters(contents, float(threshold))


def test_default_threshold_is_the_posts(tmp_path, mixed_input):
    paths, contents = mixed_input
    result = run_job(["-r", "inline", *paths], cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
    kept, _ = oracle.expected(contents, 1.99)
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    assert oracle.canonical(printed) == oracle.canonical(kept)


def test_output_dir_holds_the_records(tmp_path, mixed_input):
    paths, contents = mixed_input
    out = tmp_path / "out"
    result = run_job(["-r", "local", "--threshold", "1.5", "-o", str(out), *paths], cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
    kept, _ = oracle.expected(contents, 1.5)
    assert oracle.canonical(read_output_dir(out)) == oracle.canonical(kept)
    assert "_SUCCESS" in os.listdir(out)


def test_missing_input_fails_naming_it_and_publishes_nothing(tmp_path):
    missing = str(tmp_path / "no-such-dir")
    out = tmp_path / "out"
    result = run_job(["-r", "local", "-o", str(out), missing], cwd=tmp_path)
    assert result.returncode != 0
    assert missing in result.stderr.decode("utf-8", "replace")
    assert sorted(os.listdir(tmp_path)) == [], "no output and no staging directory is left"
