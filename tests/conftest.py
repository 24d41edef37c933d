"""Shared fixtures: sample data, and running the Luigi command line as a user would."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def luigi_env(**extra: str) -> dict[str, str]:
    """An environment for a ``luigi`` subprocess that finds this checkout's code."""
    env = dict(os.environ)
    paths = [os.path.join(ROOT, "src"), os.path.join(ROOT, "jobs")]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.update(extra)
    return env


def run_luigi(args: list[str], cwd, timeout: float = 300, **env: str):
    """Run ``luigi ARGS`` in ``cwd``; the CompletedProcess (output in .stdout)."""
    return subprocess.run(
        [sys.executable, "-m", "luigi", *args],
        cwd=cwd,
        env=luigi_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def run_luigi_cmd():
    return run_luigi


@pytest.fixture(scope="session")
def s3_server():
    """A SeaweedFS S3 server on 127.0.0.1 for the whole session (an S3Server)."""
    from tests.s3_server import SeaweedS3

    server = SeaweedS3()
    try:
        yield server.start()
    finally:
        server.stop()
