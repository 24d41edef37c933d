"""How a ``luigi`` command ends when interrupted: its tasks stopped, one line, no traceback.

Left to Luigi, SIGTERM kills the command at once (exit -15) while the task processes of
``--workers N`` run on and publish after it returned, Ctrl-C prints a traceback, and
``kill -9`` of the command leaves its task processes running for good. ``install()``, called
in the command's own process when a job is scheduled, makes SIGTERM stop every running task
(each removes what it staged) and exit 2; Ctrl-C ends as Python does (SIGINT), after the
same clean-up, with one line instead of a traceback. ``follow_parent()``, called in each
task process, ends that process (cleanly, by SIGTERM) when the command dies.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading

logger = logging.getLogger("luigi-interface")

# The exit status of a command stopped by SIGTERM (README: 2, as for a failed task).
SIGTERM_EXIT = 2
# How long a stopped task process may take to remove what it staged.
_CLEAN_UP_S = 30


class Stopped(SystemExit):
    """The command was stopped by SIGTERM (a SystemExit: Luigi's loop must not go on)."""

    def __init__(self):
        super().__init__(SIGTERM_EXIT)

    def __str__(self) -> str:
        return "interrupted by SIGTERM: the running tasks were stopped, nothing of theirs published"


def in_command_process() -> bool:
    """Whether this is the ``luigi`` command's own process and main thread (not a task
    process of ``--workers N``, not a worker thread)."""
    return (
        threading.current_thread() is threading.main_thread()
        and multiprocessing.parent_process() is None
    )


def install() -> None:
    """In the command's process: SIGTERM and Ctrl-C stop the run as described above.
    A handler or excepthook someone else installed is left alone."""
    if not in_command_process():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _stop_on_sigterm)
    if sys.excepthook is sys.__excepthook__:
        sys.excepthook = _one_line_on_ctrl_c


def _stop_on_sigterm(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut clean-up
    logger.error("%s", Stopped())
    stop_task_processes()
    raise Stopped()


def stop_task_processes() -> None:
    """Terminate this process's task processes and wait while they clean up (Luigi's own
    clean-up terminates them without waiting unless psutil is installed)."""
    children = multiprocessing.active_children()
    for child in children:
        child.terminate()
    for child in children:
        child.join(_CLEAN_UP_S)


def _one_line_on_ctrl_c(kind, value, traceback):
    if not issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, traceback)
        return
    stop_task_processes()
    print(
        "ERROR: interrupted by Ctrl-C (SIGINT): the running tasks were stopped, nothing of "
        "theirs published",
        file=sys.stderr,
        flush=True,
    )


def follow_parent() -> None:
    """In a task process that Luigi started (``--workers N``): leave Ctrl-C to the command
    (which stops this process with SIGTERM), and get SIGTERM when the command dies, even by
    SIGKILL, so that no task outlives it."""
    if multiprocessing.parent_process() is None:
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(signal.SIGTERM)


def die_with_parent(signum: int) -> None:
    """Ask Linux to send ``signum`` to this process when its parent dies (even by SIGKILL).
    Elsewhere this does nothing."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes  # here, not at the top: only processes that run a job need it

    parent = os.getppid()
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signum)
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), signum)
