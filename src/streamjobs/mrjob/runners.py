"""mrjob's local runner as streamjobs runs it: bounded, and leaving nothing behind.

It runs its task subprocesses from threads instead of a ``multiprocessing.Pool``: mrjob
0.7.4's pool can hang for good in ``Pool._terminate_pool`` when a run is interrupted or a
task fails. A task that fails or a run that is interrupted stops every other task (its
whole process group: the task's shell wrapper and its Python) within ``STOP_SECONDS``; on
Linux, tasks also die with a run killed by SIGKILL. Tasks read their input files in place
(linked, not copied) and decompress them themselves, as every engine does, and leave no
lock file in ``/tmp``. (The client removes the run's scratch directory when it fails; see
``cli``.)
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from mrjob.local import LocalMRJobRunner, _TaskFailedException
from mrjob.util import cmd_line

from streamjobs.mrjob.mrtask import TASK_ERROR_PREFIX

# The shell variables of mrjob's manifest wrapper that hold an input's path or URI.
_QUOTED_VARIABLES = re.compile(r'(?<!")(\$(?:INPUT_URI|INPUT_PATH|FILE_EXT))\b(?!")')
# Runs a command that the kernel kills (SIGKILL) when the thread that started it dies,
# even by SIGKILL (Linux's PR_SET_PDEATHSIG, kept across exec): a run killed with kill -9
# takes its task wrappers with it, and each task dies with its wrapper (mrtask.main).
_EXEC_DYING_WITH_PARENT = """
import ctypes, os, signal, sys
ctypes.CDLL(None).prctl(1, signal.SIGKILL)
if os.getppid() != int(sys.argv[1]):
    sys.exit(1)  # the run died before the request took effect
os.execvp(sys.argv[2], sys.argv[2:])
"""
# How long stopped tasks get to end after SIGTERM before SIGKILL.
STOP_SECONDS = 5


class LocalRunner(LocalMRJobRunner):
    """mrjob's local runner with bounded task processes (see the module docstring)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._tasks: set[subprocess.Popen] = set()
        self._tasks_lock = threading.Lock()
        self._stopping = False

    def _invoke_task_func(self, task_type, step_num, task_num):
        args = self._substep_args(step_num, task_type)
        num_steps = self._num_steps()

        def invoke_task(stdin, stdout, stderr, wd, env):
            with self._tasks_lock:
                if self._stopping:
                    return
                # A session of its own: the task's shell wrapper and its Python are
                # stopped together (see _stop_tasks).
                task = subprocess.Popen(
                    _dying_with_this_process(args),
                    stdin=stdin,
                    stdout=stdout,
                    stderr=stderr,
                    cwd=wd,
                    env=env,
                    start_new_session=True,
                )
                self._tasks.add(task)
            try:
                returncode = task.wait()
            finally:
                with self._tasks_lock:
                    self._tasks.discard(task)
            if returncode and not self._stopping:
                raise _TaskFailedException(
                    reason=f"{cmd_line(args)} exited with {returncode}",
                    step_num=step_num,
                    num_steps=num_steps,
                    task_type=task_type,
                    task_num=task_num,
                )

        return invoke_task

    def _run_multiple(self, funcs, num_processes=None):
        funcs = list(funcs)
        if not funcs:
            return
        pool = ThreadPoolExecutor(max(1, min(self._num_cores(), len(funcs))))
        try:
            for future in [pool.submit(func) for func in funcs]:
                future.result()
        except BaseException:
            self._stop_tasks()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _stop_tasks(self) -> None:
        """SIGTERM to every running task's process group, SIGKILL to what outlives it."""
        with self._tasks_lock:
            self._stopping = True
            tasks = list(self._tasks)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for task in tasks:
                if task.poll() is None:
                    try:
                        os.killpg(task.pid, sig)
                    except ProcessLookupError:
                        pass
            for task in tasks:
                try:
                    task.wait(STOP_SECONDS)
                except subprocess.TimeoutExpired:
                    pass
            tasks = [task for task in tasks if task.poll() is None]
            if not tasks:
                return

    def _manifest_download_commands(self):
        # A local input file is linked into the task's directory, not copied.
        return [("/*", "ln -s")]

    def _manifest_uncompress_commands(self):
        # The task reads .gz and .bz2 itself, as every engine does: a corrupt file is then
        # the task's one-line error naming it, not a gunzip failure.
        return []

    def _manifest_download_content(self):
        # mrjob 0.7.4 leaves the input's path unquoted in the task's shell wrapper, so a
        # file name with a space fails the task: every use of it is quoted here.
        return [
            line if 'echo "' in line else _QUOTED_VARIABLES.sub(r'"\1"', line)
            for line in super()._manifest_download_content()
        ]

    def _setup_wrapper_script_content(self, setup, manifest=False, wrap_python=False):
        # The wrapper takes a lock in /tmp/wrapper.lock.JOB_KEY, meant for a cluster node,
        # and never removes it: here it goes in the run's own temporary directory.
        lines = super()._setup_wrapper_script_content(
            setup, manifest=manifest, wrap_python=wrap_python
        )
        shared_lock = f"exec 9>/tmp/wrapper.lock.{self._job_key}"
        own_lock = os.path.join(self._get_local_tmp_dir(), "wrapper.lock")
        own = f"exec 9>{shlex.quote(own_lock)}"
        return [own if line == shared_lock else line for line in lines]

    def task_error(self, exception) -> str | None:
        """The one-line reason a failed task gave on its stderr, if it gave one."""
        if not isinstance(exception, _TaskFailedException):
            return None
        path = self._task_stderr_path(exception.task_type, exception.step_num, exception.task_num)
        try:
            with open(path, encoding="utf-8", errors="replace") as stderr:
                lines = [line.rstrip("\n") for line in stderr if line.startswith(TASK_ERROR_PREFIX)]
        except OSError:
            return None
        return lines[-1][len(TASK_ERROR_PREFIX) :] if lines else None


def _dying_with_this_process(args: list[str]) -> list[str]:
    if not sys.platform.startswith("linux"):
        return args
    return [sys.executable, "-c", _EXEC_DYING_WITH_PARENT, str(os.getpid()), *args]
