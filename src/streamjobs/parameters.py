"""Luigi parameters that refuse an unusable value in one line, before anything runs.

Luigi's ``FloatParameter`` turns ``--threshold abc`` into an 18-line traceback and accepts
``--threshold nan`` (which then keeps nothing). ``FiniteFloatParameter`` parses the same
strings but raises a ``ParameterError`` naming the command-line flag, which the ``luigi``
command reports on one line.
"""

from __future__ import annotations

import math

import luigi

from streamjobs.errors import JobError


class ParameterError(JobError, ValueError):
    """A parameter value that cannot be used; the message names the parameter. A
    ValueError too, as Luigi's own parameters raise for a value they cannot parse."""


def _flag(parameter) -> str:
    name = getattr(parameter, "_attribute_name", None)
    return f"--{name.replace('_', '-')}" if name else "a parameter"


class FiniteFloatParameter(luigi.FloatParameter):
    """A ``float`` that must be finite: ``abc``, ``nan`` and ``inf`` are refused."""

    def parse(self, x):
        try:
            value = float(x)
        except (TypeError, ValueError):
            raise ParameterError(f"{_flag(self)} must be a number, not {x!r}") from None
        return self.normalize(value)

    def normalize(self, x):
        if isinstance(x, int | float) and not math.isfinite(x):
            raise ParameterError(f"{_flag(self)} must be a finite number, not {x!r}")
        return x
