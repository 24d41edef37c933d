"""A throwaway Luigi central scheduler (``luigid``) on 127.0.0.1, for trying jobs and tests.

    with LocalLuigid(directory) as luigid:
        # luigi ... --scheduler-host 127.0.0.1 --scheduler-port {luigid.port}
        done = luigid.task_list("DONE")

The scheduler listens on loopback only, on a free port, keeps its state file and log in
``directory``, and is stopped on leaving the block.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

HOST = "127.0.0.1"


class LuigidError(Exception):
    """luigid did not start or did not answer; the message includes its log."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def luigid_command() -> str:
    """The ``luigid`` installed with this interpreter's luigi (or the first on PATH)."""
    beside = os.path.join(os.path.dirname(sys.executable), "luigid")
    found = beside if os.path.exists(beside) else shutil.which("luigid")
    if not found:
        raise LuigidError("luigid not found: install luigi (pip install luigi)")
    return found


class LocalLuigid:
    """A luigid process on 127.0.0.1; a context manager that starts and stops it."""

    def __init__(self, directory: str, start_timeout: float = 30.0):
        self.directory = os.path.abspath(directory)
        self.start_timeout = start_timeout
        self.port = 0
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> LocalLuigid:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def log_path(self) -> str:
        return os.path.join(self.directory, "luigid.out")

    def url(self, path: str = "/") -> str:
        return f"http://{HOST}:{self.port}{path}"

    def start(self) -> None:
        os.makedirs(os.path.join(self.directory, "logs"), exist_ok=True)
        self.port = free_port()
        command = [
            luigid_command(),
            "--address",
            HOST,
            "--port",
            str(self.port),
            "--logdir",
            os.path.join(self.directory, "logs"),
            "--state-path",
            os.path.join(self.directory, "state.pickle"),
        ]
        with open(self.log_path, "wb") as log:
            # cwd: luigid reads ./client.cfg and ./luigi.cfg; none of a project's apply here.
            self.process = subprocess.Popen(
                command, cwd=self.directory, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            self._wait_until_answering()
        except BaseException:
            self.stop()
            raise

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.process.poll() is not None:
                raise LuigidError(f"luigid exited ({self.process.returncode}): {self._log()}")
            try:
                self.task_list("DONE")
                return
            except (OSError, urllib.error.URLError):
                if time.monotonic() > deadline:
                    raise LuigidError(
                        f"luigid did not answer within {self.start_timeout} s: {self._log()}"
                    ) from None
                time.sleep(0.2)

    def _log(self) -> str:
        parts = []
        for path in (self.log_path, os.path.join(self.directory, "logs", "luigi-server.log")):
            if os.path.exists(path):
                with open(path, errors="replace") as log:
                    parts.append(log.read()[-4000:])
        return "\n".join(parts)

    def api(self, method: str, **arguments) -> dict:
        """Call luigid's HTTP API (``/api/METHOD?data=JSON``); the ``response`` field."""
        query = urllib.parse.urlencode({"data": json.dumps(arguments)})
        with urllib.request.urlopen(self.url(f"/api/{method}?{query}"), timeout=10) as reply:
            return json.load(reply)["response"]

    def task_list(self, status: str) -> dict:
        """Tasks luigid holds with ``status`` (PENDING, RUNNING, DONE, FAILED, ...), by id."""
        return self.api("task_list", status=status)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop luigid: SIGTERM (it saves its state), SIGKILL if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)
