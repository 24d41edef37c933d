"""The benchmark's smoke run: every core variant runs and all select the same records.

Timings are printed, never asserted."""

from __future__ import annotations

import json
import subprocess
import sys

from streamjobs.bench import CORE_VARIANTS
from tests.conftest import luigi_env


def test_quick_bench_runs_the_core_variants_and_their_records_match(tmp_path):
    work = tmp_path / "bench"
    run = subprocess.run(
        [sys.executable, "-m", "streamjobs.bench", "--quick", "--work", str(work)],
        cwd=tmp_path,
        env=luigi_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:]
    rows = {
        line.split("|")[1].strip(): line
        for line in run.stdout.splitlines()
        if line.startswith("| ")
    }
    for name in CORE_VARIANTS:
        assert name in rows, f"no row for {name!r} in:\n{run.stdout}"
        assert rows[name].rstrip(" |").endswith("same"), rows[name]
    assert "records: all variants selected the same records" in run.stdout
    results = json.loads((work / "bench.json").read_text())
    post = next(v for v in results["variants"] if v["name"] == CORE_VARIANTS[0])
    assert post["records"] > 0 and post["walls"]  # the reference selected something
    assert (work / "bench.png").stat().st_size > 0
