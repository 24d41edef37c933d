"""Generated inputs through the engines that run in other processes, as users run them
(Spark through ``luigi --engine spark``, mrjob's inline runner through ``python -m
streamjobs.mrjob``), against the oracle: the same records, counters and bad lines.

Each example starts a command (Spark: a JVM), so these draw few examples; the in-process
property tests (test_records_properties.py) draw many through the same mapping code.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import tempfile
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import oracle
from tests.conftest import ROOT, luigi_env, run_luigi
from tests.test_hadoop_engine import published
from tests.test_records_properties import JOBS, expected_outputs, job_and_files, outputs_as_expected
from tests.test_spark import SPARK_TEST_CONFIG

PYTHONPATH = os.pathsep.join(os.path.join(ROOT, part) for part in ("src", "jobs", "examples", ""))
# What makes a job this run's job rather than how it runs.
RUN_PARAMETERS = {"input_path", "output_path", "per_file", "one_file", "engine", "processes"}


def job_arguments(name: str) -> tuple[str, str, list[str]]:
    """The job's module, class and its parameters as command-line options."""
    job = JOBS[name]
    options = []
    for key, value in job.to_str_params(only_significant=True).items():
        if key not in RUN_PARAMETERS:
            options += [f"--{key.replace('_', '-')}", value]
    return type(job).__module__, type(job).__name__, options


def write_inputs(directory: str, files: list[bytes], compress: list[bool]) -> list[str]:
    os.mkdir(os.path.join(directory, "in"))
    names = []
    for i, data in enumerate(files):
        names.append(f"f{i}.gz" if compress[i] else f"f{i}")
        with open(os.path.join(directory, "in", names[-1]), "wb") as stream:
            stream.write(gzip.compress(data) if compress[i] else data)
    return names


def agrees_with_the_oracle(job_files, compress, run_engine) -> None:
    """Write the generated files, run ``run_engine(directory, job arguments, out)`` (which
    asserts the command succeeded) and compare the published output with the oracle's."""
    name, files = job_files
    job = JOBS[name]
    with tempfile.TemporaryDirectory() as directory:
        names = write_inputs(directory, files, compress)
        out = os.path.join(directory, "out")
        run_engine(directory, job_arguments(name), out)
        got = published(out)
    want = oracle.run(job, files, 1 << 20)
    # Files may be mapped in any order: compare the records as multisets.
    lines = [record + b"\n" for record in got["records"]]
    assert Counter(map(repr, outputs_as_expected(job, lines))) == Counter(
        map(repr, expected_outputs(job, want))
    )
    assert got["counters"] == want.counters()
    seen = Counter(
        (os.path.basename(e["source"]), e["offset"], e["reason"]) for e in got["quarantine"]
    )
    assert seen == Counter((names[index], offset, reason) for index, _, offset, reason in want.bad)


FILES = job_and_files(max_files=2, max_lines=10)
COMPRESS = st.lists(st.booleans(), min_size=2, max_size=2)


@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(FILES, COMPRESS)
def test_mrjob_inline_agrees_with_the_oracle(job_files, compress):
    def run_engine(directory, arguments, out):
        module, cls, options = arguments
        command = [sys.executable, "-m", "streamjobs.mrjob", f"{module}.{cls}", "-r", "inline"]
        result = subprocess.run(
            [*command, *options, "-o", out, os.path.join(directory, "in")],
            cwd=directory,
            env=luigi_env(PYTHONPATH=PYTHONPATH),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr[-3000:]

    agrees_with_the_oracle(job_files, compress, run_engine)


@settings(max_examples=2, deadline=None, suppress_health_check=list(HealthCheck))
@given(FILES, COMPRESS)
def test_spark_agrees_with_the_oracle(job_files, compress):
    def run_engine(directory, arguments, out):
        module, cls, options = arguments
        config = os.path.join(directory, "spark.cfg")
        with open(config, "w") as stream:
            stream.write(SPARK_TEST_CONFIG)
        args = ["--module", module, cls, "--local-scheduler", "--engine", "spark", *options]
        args += ["--input-path", "in", "--output-path", out]
        result = run_luigi(
            args, directory, timeout=300, PYTHONPATH=PYTHONPATH, LUIGI_CONFIG_PATH=config
        )
        assert result.returncode == 0, result.stdout[-3000:]

    agrees_with_the_oracle(job_files, compress, run_engine)
