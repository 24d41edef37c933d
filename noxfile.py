"""The mrjob job on every supported Python: ``nox`` (or ``nox -s mrjob-3.12``).

mrjob 0.7.4 needs help to import on 3.12 (distutils) and 3.13 (pipes); the ``mrjob``
extra declares it. Each session installs the project with that extra into a fresh
virtualenv, imports mrjob, and runs the job on mrjob's inline runner. Interpreters come
from pyenv (``~/.pyenv/versions/3.1x.*``) when present, else from PATH.
"""

from __future__ import annotations

import glob
import os

import nox

nox.options.reuse_existing_virtualenvs = False
nox.options.error_on_missing_interpreters = True

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]


def interpreter(version: str) -> str:
    """pyenv's newest ``version`` interpreter, else the ``pythonX.Y`` on PATH."""
    pattern = os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python")
    found = sorted(
        glob.glob(pattern),
        key=lambda path: [int(p) for p in path.split("/")[-3].split(".") if p.isdigit()],
    )
    return found[-1] if found else version


def _mrjob_session(session: nox.Session) -> None:
    # The project is built once as a wheel without build isolation: no setuptools download.
    session.install("setuptools>=70.1")
    session.install("--no-build-isolation", ".[mrjob]", "pytest")
    session.run("python", "-c", "import mrjob.job, mrjob.emr")
    session.run(
        "python",
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "tests/test_mrjob_job.py",
        "-k",
        "inline and 1.5",
    )


for _version in PYTHONS:
    nox.session(python=interpreter(_version), name=f"mrjob-{_version}")(_mrjob_session)
