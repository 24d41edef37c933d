"""Errors a user can act on: the message alone says what went wrong and where.

A job that fails with one of these shows its message on one line (see ``tasks``); any
other exception is a bug and keeps its full traceback.
"""

from __future__ import annotations


class JobError(Exception):
    """A run failed for a reason its message states in full: a path, a count, a signal."""


class ToolMissing(JobError):
    """An engine's command or package is not installed; the message says what to do."""


class TooManyBadRecords(JobError):
    """The bad-record limit was passed; the message gives the count and examples."""


def quote_path(path: str) -> str:
    """``path`` as is when it prints plainly; quoted with escapes when it holds control
    characters, so that a file name can never forge a log line."""
    if path.isprintable():
        return path
    return repr(path)
