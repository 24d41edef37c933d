"""A user's job on every supported Python: ``nox`` (or ``nox -s mrjob-3.12``).

mrjob is a dependency of the project, and 0.7.4 needs help to import on 3.12 (distutils)
and 3.13 (pipes), which the project's dependencies declare. Each session installs the
project alone (its wheel, no extras) into a fresh virtualenv and runs
``examples/sales_job.py``'s SalesOver, a module that was never installed, with ``python -m
streamjobs.mrjob ... -r inline`` and ``-r local``, and with ``luigi`` on the local engine
(two worker processes) and one task per file. Interpreters come from pyenv
(``~/.pyenv/versions/3.1x.*``) when present, else from PATH.
"""

from __future__ import annotations

import functools
import glob
import os
import subprocess
import sys
import tempfile

import nox

nox.options.reuse_existing_virtualenvs = False
nox.options.error_on_missing_interpreters = True

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
ROOT = os.path.dirname(os.path.abspath(__file__))


def interpreter(version: str) -> str:
    """pyenv's newest ``version`` interpreter, else the ``pythonX.Y`` on PATH."""
    pattern = os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python")
    found = sorted(
        glob.glob(pattern),
        key=lambda path: [int(p) for p in path.split("/")[-3].split(".") if p.isdigit()],
    )
    return found[-1] if found else version


@functools.cache
def project_wheel() -> str:
    """The project's wheel (pure Python: one for every version), built once by the Python
    running nox, without build isolation: sessions download no build tools."""
    out = tempfile.mkdtemp(prefix="streamjobs-nox-")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
        + ["-w", out, ROOT],
        check=True,
    )
    (wheel,) = glob.glob(os.path.join(out, "streamjobs-*.whl"))
    return wheel


CHECK_OUTPUT = """
import json, os, sys
out = sys.argv[1]
assert os.path.exists(os.path.join(out, "_SUCCESS")), "no _SUCCESS"
records = [json.loads(line) for name in sorted(os.listdir(out)) if name.startswith("part-")
           for line in open(os.path.join(out, name))]
assert records and all(r["amount"] == r["price"] * r["qty"] > 100 for r in records)
counters = json.load(open(os.path.join(out, "_COUNTERS.json")))
assert counters["records"]["read"] == 2000 and counters["records"]["written"] == len(records)
"""

CHECK_PER_FILE = """
import json, os, sys
out = sys.argv[1]
names = sorted(n for n in os.listdir(out) if not n.startswith("_"))
assert names == ["sales_0.json", "sales_1.json"], names
read = sum(json.load(open(os.path.join(out, "_counters", n)))["records"]["read"] for n in names)
assert read == 2000, read
"""


def _mrjob_session(session: nox.Session) -> None:
    session.install(project_wheel())
    work = session.create_tmp()
    sales = os.path.join(work, "sales")
    outs = {runner: os.path.join(work, f"out-{runner}") for runner in ("inline", "local")}
    for path in (sales, *outs.values()):
        if os.path.exists(path):
            session.run("rm", "-r", path, external=True)
    session.run("python", "-m", "streamjobs.generate", "--kind", "sales", "--files", "2",
                "--lines", "1000", "--out", sales)  # fmt: skip
    # inline: in the session's Python; local: the installed task script in subprocesses.
    for runner, out in outs.items():
        session.run(
            "python", "-m", "streamjobs.mrjob", "sales_job.SalesOver", "-r", runner,
            "--min-amount", "100", "-o", out, sales,
            env={"PYTHONPATH": os.path.join(ROOT, "examples")},
        )  # fmt: skip
        session.run("python", "-c", CHECK_OUTPUT, out)
    # The luigi command on the local engine, whole input (2 processes) and one task per file.
    luigi = ["luigi", "--module", "sales_job", "SalesOver", "--local-scheduler"]
    luigi += ["--input-path", sales, "--min-amount", "100"]
    for shape, extra in (("whole", ["--processes", "2"]), ("per-file", ["--per-file"])):
        out = os.path.join(work, f"out-luigi-{shape}")
        if os.path.exists(out):
            session.run("rm", "-r", out, external=True)
        session.run(
            *luigi, "--output-path", out, *extra,
            env={"PYTHONPATH": os.path.join(ROOT, "examples")},
        )  # fmt: skip
    session.run("python", "-c", CHECK_OUTPUT, os.path.join(work, "out-luigi-whole"))
    session.run("python", "-c", CHECK_PER_FILE, os.path.join(work, "out-luigi-per-file"))


for _version in PYTHONS:
    nox.session(python=interpreter(_version), name=f"mrjob-{_version}")(_mrjob_session)
