"""The same tricky input through every engine and task shape: identical records, counters
and quarantine, as the README promises.

The input holds bad lines of every reason, blank lines, CRLF line ends, a lone CR inside a
line, a last line without a newline, .gz and .bz2 files, and two files of one name in
different directories. Each job (the post's, a user's JSON job without prefilter, a text
job) runs on the local engine with 1 and 2 processes, one task per file, the Hadoop engine
on its stand-in, Spark, and mrjob's inline and local runners. Quarantine entries are
compared by file, reason and text (where a line is located differs: an engine that reads
a byte range knows offsets, not line numbers).
"""

from __future__ import annotations

import bz2
import gzip
import json
import os
import subprocess
import sys
from collections import Counter

import pytest

from tests import oracle
from tests.conftest import ROOT, luigi_env, run_luigi

JOBS = {
    "post": ("luigi_hadoop", "TestTaskMR", ["--threshold", "3.5"]),
    "pairs": ("cross_jobs", "Pairs", ["--scale", "1e306"]),
    "text": ("cross_jobs", "Shout", []),
}
TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


def json_lines(seed: int, count: int) -> list[bytes]:
    lines = []
    for i in range(count):
        index = (seed * 31 + i * 7) % 23
        total = round(((seed + i) % 13) / 4, 2)
        lines.append(b'{"index":%d,"total":%s,"tags":["t%d"]}' % (index, repr(total).encode(), i))
    return lines


BAD_LINES = [
    b"\xff\xfe not utf-8",  # invalid_utf8
    b"[" * 600 + b"]" * 600,  # too_deep
    b'{"index": 1, "total": ',  # invalid_json
    b'{"index": NaN, "total": 1}',  # invalid_json (not strict JSON)
    b"[1, 2]",  # not_an_object
    b'{"total": 2}',  # missing_field
    b'{"index": "4", "total": 1, "tags": []}',  # not_a_number
    b'{"index": true, "total": 1, "tags": []}',  # a bool is not a number
    b'{"index": 4, "total": 1e400, "tags": []}',  # a number beyond range
    b'{"index": 4, "total": 1, "tags": "x"}',  # wrong_type (Pairs)
    b'{"index": 1, "total": 1.5}\r{"index": 2, "total": 2}',  # a lone CR inside a line
    b'{"index": 5, "total": 1e300, "tags": []}',  # Pairs: scaled to infinity
    b'{"index": 10, "total": 1, "tags": [], "big": 1' + b"0" * 5000 + b"}",  # big integer
    b"ERROR: BOOM",  # text: mapper_error
    b"x" * ((1 << 20) + 10),  # line_too_long
]


def tricky_input(directory) -> str:
    """Write the input under ``directory/in``; the glob that names it."""
    d1, d2 = directory / "in" / "d1", directory / "in" / "d2"
    d1.mkdir(parents=True)
    d2.mkdir()
    good = json_lines(1, 60)
    mixed = good[:20] + BAD_LINES + [b"", b"   ", b"ERROR: disk full"] + good[20:]
    (d1 / "a.json").write_bytes(b"\n".join(mixed) + b"\n")
    (d1 / "b.json").write_bytes(b"\r\n".join(json_lines(2, 50)))  # CRLF, no final newline
    (d1 / "c.json.gz").write_bytes(gzip.compress(b"\n".join(json_lines(3, 40) + BAD_LINES[:4])))
    (d1 / "d.json.bz2").write_bytes(bz2.compress(b"\n".join(json_lines(4, 40)) + b"\n"))
    (d1 / "_ignored.json").write_bytes(b"not read\n")
    # The same name in another directory: a per-file run writes both, as d1/a.json, d2/a.json.
    (d2 / "a.json").write_bytes(b"\n".join(json_lines(5, 30) + [b"WARN x", b"ERROR y"]))
    return str(directory / "in" / "d*" / "*")


def read_records(paths) -> Counter:
    """Output lines as a multiset (order across files is not promised)."""
    lines = Counter()
    for path in paths:
        with open(path, "rb") as stream:
            lines.update(stream.read().splitlines())
    return lines


def quarantine_of(paths, data: str) -> Counter:
    data = data.split("/in/")[0] + "/in/"
    entries = Counter()
    for path in paths:
        with open(path, "rb") as stream:
            for line in stream:
                entry = json.loads(line)
                source = entry["source"]
                # Where the input lies differs (a relative path, a URI): keep what is below.
                source = source[source.index(data) + len(data) :] if data in source else source
                entries[(source, entry["reason"], entry["text"])] += 1
    return entries


def files_under(directory: str):
    for root, _, names in os.walk(directory):
        for name in names:
            yield os.path.join(root, name)


def whole_output(out: str, data: str):
    parts = sorted(p for p in files_under(out) if os.path.basename(p).startswith("part-"))
    parts = [p for p in parts if "_quarantine" not in p]
    quarantine = [p for p in files_under(os.path.join(out, "_quarantine"))]
    with open(os.path.join(out, "_COUNTERS.json")) as stream:
        counters = json.load(stream)
    assert os.path.exists(os.path.join(out, "_SUCCESS"))
    return read_records(parts), counters, quarantine_of(quarantine, data)


def per_file_output(out: str, data: str):
    # Names starting with "_" are not outputs (_counters/, _quarantine/, the _RUN marker).
    records = [p for p in files_under(out) if not os.path.relpath(p, out).startswith("_")]
    counters = {"records": Counter(), "bad_records": Counter()}
    for path in (p for p in files_under(out) if "/_counters/" in p):
        with open(path) as stream:
            one = json.load(stream)
        for group in counters:
            counters[group].update(one[group])
    counters = {group: {k: v for k, v in c.items() if v} for group, c in counters.items()}
    quarantine = [p for p in files_under(out) if "/_quarantine/" in p]
    return read_records(records), counters, quarantine_of(quarantine, data)


def normal_counters(counters: dict) -> dict:
    return {group: {k: v for k, v in names.items() if v} for group, names in counters.items()}


def run_engine(directory, engine: str, job: str, node_python: str):
    """Run ``job`` on ``engine``: (records, counters, quarantine)."""
    module, cls, params = JOBS[job]
    data = str(directory / "in" / "d*" / "*")
    out = str(directory / f"out-{job}-{engine}")
    paths = [os.path.join(ROOT, "src"), os.path.join(ROOT, "jobs"), CROSS_JOBS]
    env = {"PYTHONPATH": os.pathsep.join(paths)}
    if engine.startswith("mrjob-"):
        runner = engine.partition("-")[2]
        command = [sys.executable, "-m", "streamjobs.mrjob", f"{module}.{cls}", "-r", runner]
        result = subprocess.run(
            [*command, *params, "-o", out, data],
            cwd=directory,
            env=luigi_env(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout[-3000:]
        return whole_output(out, data)
    args = ["--module", module, cls, "--local-scheduler", "--input-path", data]
    args += ["--output-path", out, *params]
    if engine == "hadoop":
        from tests.test_hadoop_engine import cluster, write_config

        env["LUIGI_CONFIG_PATH"] = write_config(str(directory), node_python)
        env["HADOOP_CONF_DIR"] = cluster(str(directory), "yarn")
    elif engine == "per-file":
        args += ["--per-file", "--workers", "2"]
    elif engine.startswith("local-"):
        args += ["--engine", "local", "--processes", engine.partition("-")[2]]
    else:
        args += ["--engine", engine]
    result = run_luigi(args, directory, timeout=300, **env)
    assert result.returncode == 0, result.stdout[-3000:]
    if engine == "per-file":
        return per_file_output(out, data)
    return whole_output(out, data)


CROSS_JOBS = os.path.join(TESTS_DIR, "cross_jobs")
ENGINES = ["local-1", "local-2", "per-file", "hadoop", "spark", "mrjob-inline", "mrjob-local"]


@pytest.fixture(scope="module")
def tricky(tmp_path_factory):
    directory = tmp_path_factory.mktemp("cross")
    tricky_input(directory)
    return directory


def job_object(job: str):
    """The job as a Luigi task object in this process, for the oracle."""
    module_name, cls, params = JOBS[job]
    if CROSS_JOBS not in sys.path:
        sys.path.insert(0, CROSS_JOBS)
    task_class = getattr(__import__(module_name), cls)
    kwargs = {
        params[i].lstrip("-").replace("-", "_"): params[i + 1] for i in range(0, len(params), 2)
    }
    return task_class.from_str_params(kwargs)


def expected(directory, job: str):
    """The oracle's records (as a multiset of canonical lines) and counters."""
    files = []
    for path in sorted(files_under(str(directory / "in"))):
        if os.path.basename(path).startswith("_"):
            continue
        opener = {".gz": gzip.open, ".bz2": bz2.open}.get(os.path.splitext(path)[1], open)
        with opener(path, "rb") as stream:
            files.append(stream.read())
    result = oracle.run(job_object(job), files, max_line_bytes=1 << 20)
    return Counter(map(canonical, result.output)), normal_counters(result.counters())


def canonical(record) -> str:
    """A record as sorted-key JSON (integers of any size), a text line as it is."""
    if isinstance(record, bytes):
        record = record.decode("utf-8")
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        if isinstance(record, str):
            if not record.startswith("{"):
                return record  # a text job's line
            record = json.loads(record)
        return json.dumps(record, sort_keys=True)
    finally:
        sys.set_int_max_str_digits(limit)


@pytest.mark.parametrize("job", sorted(JOBS))
def test_every_engine_and_task_shape_agree(tricky, node_python, job):
    results = {engine: run_engine(tricky, engine, job, node_python) for engine in ENGINES}
    records, counters, quarantine = results["local-1"]
    counters = normal_counters(counters)
    # The reference is itself checked against the plain statement of the semantics.
    want_records, want_counters = expected(tricky, job)
    assert Counter(map(canonical, records.elements())) == want_records
    assert counters == want_counters
    assert records and quarantine, "the input must keep records and hold bad lines"
    assert sum(quarantine.values()) == counters["records"]["bad"]
    for engine, (got_records, got_counters, got_quarantine) in results.items():
        assert got_records == records, engine
        assert normal_counters(got_counters) == counters, engine
        assert got_quarantine == quarantine, engine
    if job != "text":
        # Every reason a JSON job can give is in this input, on every engine.
        reasons = set(counters["bad_records"])
        assert {"invalid_utf8", "too_deep", "invalid_json", "not_an_object"} <= reasons
        assert {"missing_field", "not_a_number", "line_too_long"} <= reasons
