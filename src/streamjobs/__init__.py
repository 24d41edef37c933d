"""streamjobs: line-oriented batch jobs written once as a Luigi task, run anywhere.

The public API is ``streamjobs.JobTask`` (JSON lines) and ``streamjobs.TextJobTask`` (text
lines), see their docstrings, and ``streamjobs.FiniteFloatParameter``, a float parameter
that refuses an unusable value in one line. They are imported on first use, so that
``import streamjobs`` alone (on a cluster node, say) does not import Luigi.
"""

__all__ = ["FiniteFloatParameter", "JobTask", "TextJobTask"]
_HOMES = {
    "JobTask": "streamjobs.tasks",
    "TextJobTask": "streamjobs.tasks",
    "FiniteFloatParameter": "streamjobs.parameters",
}


def __getattr__(name: str):
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'streamjobs' has no attribute {name!r}")
