"""The same good and bad input through every engine CI has: identical records and counters.

Engines: the local engine, the Hadoop engine (on the streaming stand-in, with a node Python
that lacks the project), and mrjob's inline and local runners. (Spark is compared with the
local engine file for file in tests/test_spark.py.)
"""

from __future__ import annotations

import gzip
import json

import pytest

from tests import oracle
from tests.conftest import run_luigi
from tests.test_hadoop_engine import write_config
from tests.test_jobs_cli import read_output_dir, unseen_lines
from tests.test_mrjob_job import (
    expected_counters,
    printed_counters,
    run_job,
    with_bad_and_blank_lines,
)

THRESHOLD = "1.25"


@pytest.fixture(scope="module")
def mixed_input(tmp_path_factory):
    """Good lines in varied forms and bad lines of every reason; CRLF; no final newline;
    a .gz file; an empty file."""
    directory = tmp_path_factory.mktemp("cross")
    data = directory / "in"
    data.mkdir()
    contents = [
        with_bad_and_blank_lines(unseen_lines(31, 1500)),
        unseen_lines(32, 1500).replace(b"\n", b"\r\n").rstrip(b"\r\n"),
        unseen_lines(33, 1500),
        b"",
    ]
    (data / "a.json").write_bytes(contents[0])
    (data / "b.json").write_bytes(contents[1])
    (data / "c.json.gz").write_bytes(gzip.compress(contents[2]))
    (data / "d.json").write_bytes(contents[3])
    return directory, data, contents


def luigi_engine(directory, data, name: str, config: str | None = None):
    out = directory / f"out-{name}"
    env = {"LUIGI_CONFIG_PATH": config} if config else {}
    result = run_luigi(
        [
            "--module",
            "luigi_hadoop",
            "TestTaskMR",
            "--local-scheduler",
            "--input-path",
            str(data),
            "--output-path",
            str(out),
            "--threshold",
            THRESHOLD,
        ],
        cwd=directory,
        **env,
    )
    assert result.returncode == 0, result.stdout
    counters = json.loads((out / "_COUNTERS.json").read_text())
    return oracle.canonical(read_output_dir(out)), counters


def mrjob_runner(directory, data, runner: str):
    paths = sorted(str(path) for path in data.iterdir())
    result = run_job(["-r", runner, "--threshold", THRESHOLD, *paths], cwd=directory)
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 0, stderr
    records = oracle.canonical(json.loads(line) for line in result.stdout.splitlines())
    return records, printed_counters(stderr)


def test_every_engine_gives_the_same_records_and_counters(mixed_input, node_python):
    directory, data, contents = mixed_input
    results = {
        "local": luigi_engine(directory, data, "local"),
        "hadoop": luigi_engine(
            directory, data, "hadoop", write_config(str(directory), node_python)
        ),
        "mrjob-inline": mrjob_runner(directory, data, "inline"),
        "mrjob-local": mrjob_runner(directory, data, "local"),
    }
    kept, _ = oracle.expected(contents, float(THRESHOLD))
    want_records = oracle.canonical(kept)
    want_counters = expected_counters(contents, float(THRESHOLD))
    assert want_records, "the test data must keep some records"
    for engine, (records, counters) in results.items():
        assert records == want_records, engine
        assert counters == want_counters, engine
