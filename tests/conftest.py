"""Shared fixtures: sample data, and running the Luigi command line as a user would."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import venv
from importlib import metadata

import pytest
from hypothesis import settings

# In CI the property tests draw the same examples on every run, so a red run is always
# reproducible; developers' runs keep exploring new examples.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

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


def node_requirements() -> list[str]:
    """The ``node`` extra of pyproject.toml: what a cluster node's Python needs."""
    with open(os.path.join(ROOT, "pyproject.toml")) as stream:
        text = stream.read()
    block = re.search(r"^node = \[(.*?)\]", text, re.S | re.M).group(1)
    return [re.split(r"[<>=!~ \[;]", item)[0] for item in re.findall(r'"([^"]+)"', block)]


def requirement_tree(names: list[str]) -> list[metadata.Distribution]:
    """The installed distributions of ``names`` and everything they require (extras and
    requirements whose markers do not hold here left out)."""
    from packaging.requirements import Requirement

    found: dict[str, metadata.Distribution] = {}
    pending = list(names)
    while pending:
        dist = metadata.distribution(pending.pop())
        key = dist.metadata["Name"].lower().replace("_", "-")
        if key in found:
            continue
        found[key] = dist
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return list(found.values())


@pytest.fixture(scope="session")
def node_python(tmp_path_factory) -> str:
    """A venv without system site-packages holding only the node requirements and their
    own requirements (copied from this environment's installs: no network)."""
    home = tmp_path_factory.mktemp("node-python")
    venv.EnvBuilder(system_site_packages=False, with_pip=False, symlinks=True).create(home)
    python = str(home / "bin" / "python")
    clean = {"PATH": "/usr/bin:/bin"}  # as the stand-in gives map tasks: no PYTHONPATH
    site = subprocess.check_output(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        text=True,
        env=clean,
    ).strip()
    for dist in requirement_tree(node_requirements()):
        for file in dist.files or []:
            source = dist.locate_file(file)
            if os.path.isfile(source) and "__pycache__" not in str(file):
                target = os.path.join(site, str(file))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.copy2(source, target)
    probe = "import importlib.util as u; print([bool(u.find_spec(m)) for m in MODULES])"
    probe = probe.replace("MODULES", repr(("msgspec", "luigi", "streamjobs")))
    found = subprocess.check_output([python, "-c", probe], text=True, env=clean).strip()
    assert found == "[True, True, False]"
    # Luigi's own requirements came along: a task importing luigi works.
    subprocess.check_call([python, "-c", "import luigi, luigi.task, msgspec"], env=clean)
    return python
