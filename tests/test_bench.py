"""The benchmark's smoke run: every variant the dev extra installs runs, and each selects the
same records as the plain Python mapper of its data.

Timings are printed, never asserted."""

from __future__ import annotations

import json
import subprocess
import sys

from streamjobs.bench import CORE_VARIANTS
from tests.conftest import luigi_env

# The dev extra brings DuckDB and polars (through the bench extra): their rows must be there.
INSTALLED_TOOLS = ("duckdb (post)", "duckdb (sales)", "polars (post)", "polars (sales)")


def main_table_rows(output: str) -> dict[str, list[str]]:
    """The cells of each row of the first markdown table (the variants), by first cell."""
    rows = {}
    for line in output.splitlines():
        if line.startswith("|---"):
            continue
        if line.startswith("| "):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            rows[cells[0]] = cells
        elif rows:
            break
    return rows


def test_quick_bench_runs_every_variant_and_their_records_match(tmp_path):
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
    rows = main_table_rows(run.stdout)
    for name in (*CORE_VARIANTS, *INSTALLED_TOOLS):
        assert name in rows, f"no row for {name!r} in:\n{run.stdout}"
        records = rows[name][7]
        assert records.endswith(" same"), rows[name]
    # Where DuckDB's and polars' semantics differ is said in the table.
    assert "dropped" in rows["duckdb (post)"][8] and "dropped" in rows["polars (post)"][8]
    assert "records: every variant selected the same records" in run.stdout

    results = json.loads((work / "bench.json").read_text())
    by_name = {v["name"]: v for v in results["variants"]}
    reference = by_name[CORE_VARIANTS[0]]
    assert reference["records"] > 0 and reference["walls"]  # the reference selected something
    assert by_name["sales mapper"]["records"] > 0
    # The start-up table: tiny runs of the job and of its plain mapper.
    assert {"luigi TestTaskMR, 2 processes", "post's mapper"} <= set(results["startup"])
    assert all(times for times in results["startup"].values())
    # The scaling table: 1 and 2 processes on 1x, 4x and 16x the data.
    scaling = {(row["factor"], row["processes"]) for row in results["scaling"]}
    assert scaling == {(f, p) for f in (1, 4, 16) for p in (1, 2)}
    assert all(row["peak_rss"] > 0 for row in results["scaling"])
    assert (work / "bench.png").stat().st_size > 0
