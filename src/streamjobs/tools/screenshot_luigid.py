"""Regenerate the README's picture of luigid's web page (docs/luigid.png).

    python -m streamjobs.tools.screenshot_luigid [--out docs/luigid.png]

Generates a little sample data in a temporary directory, starts a luigid on 127.0.0.1,
runs ``luigi --module luigi_multiprocess LotsOTasks --workers 2`` against it, and takes a
screenshot of luigid's task list with headless Chromium (Debian: ``apt-get install
chromium``). Needs streamjobs and its job modules importable (``pip install -e .``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

from streamjobs.generate import generate
from streamjobs.tools.local_luigid import HOST, LocalLuigid

VISUALISER = "/static/visualiser/index.html"

# Headless, offline and quiet: without the background-networking flags Chromium keeps
# trying hosts it cannot reach; --no-sandbox because CI runs as root.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class ScreenshotError(Exception):
    """Chromium is missing or wrote no picture; the message says which."""


def chromium_command() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise ScreenshotError("Chromium not found (Debian: apt-get install chromium)")


def take_screenshot(
    url: str,
    path: str,
    width: int = 1280,
    height: int = 800,
    render_ms: int = 10_000,
    timeout: float = 90.0,
) -> None:
    """Save a PNG of ``url`` as headless Chromium renders it (its scripts given
    ``render_ms`` of virtual time), using a new empty profile."""
    path = os.path.abspath(path)
    if os.path.exists(path):
        os.remove(path)
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        command = [
            chromium_command(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--screenshot={path}",
            f"--window-size={width},{height}",
            f"--virtual-time-budget={render_ms}",
            url,
        ]
        result = subprocess.run(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout
        )
    if result.returncode != 0 or not os.path.exists(path):
        output = result.stdout.decode(errors="replace")[-4000:]
        raise ScreenshotError(f"Chromium wrote no screenshot ({result.returncode}): {output}")


def run_lots_o_tasks(directory: str, port: int, workers: int = 2) -> None:
    """``LotsOTasks --workers N`` over ``directory/data`` against the luigid on ``port``."""
    environment = dict(os.environ)
    if environment.get("PYTHONPATH"):  # the job runs from another directory
        environment["PYTHONPATH"] = os.pathsep.join(
            os.path.abspath(entry) for entry in environment["PYTHONPATH"].split(os.pathsep)
        )
    command = [
        sys.executable,
        "-m",
        "luigi",
        "--module",
        "luigi_multiprocess",
        "LotsOTasks",
        "--workers",
        str(workers),
        "--scheduler-host",
        HOST,
        "--scheduler-port",
        str(port),
    ]
    subprocess.run(command, cwd=directory, env=environment, check=True, timeout=600)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/luigid.png", help="PNG to write")
    parser.add_argument("--files", type=int, default=4, help="sample input files")
    parser.add_argument("--lines", type=int, default=10_000, help="lines per file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="luigid-screenshot-") as directory:
        generate(os.path.join(directory, "data"), args.files, args.lines)
        with LocalLuigid(os.path.join(directory, "luigid")) as luigid:
            run_lots_o_tasks(directory, luigid.port)
            take_screenshot(luigid.url(VISUALISER), args.out)
    print(args.out)


if __name__ == "__main__":
    main()
