"""Configuration read the Luigi way: ``[streaming]`` in luigi.cfg, and safer defaults.

Luigi reads ./luigi.cfg (and the deprecated ./client.cfg) and ``LUIGI_CONFIG_PATH``; a
job run from another directory would miss the project's luigi.cfg, so the defaults that
matter live here.
"""

from __future__ import annotations

import logging
import warnings

import luigi
import luigi.configuration

from streamjobs.errors import JobError
from streamjobs.interrupts import Stopped

DEFAULT_ENGINE = "local"


class SettingsError(JobError):
    """A setting in the configuration that cannot be used; the message names it."""


# Luigi exits 0 when a task fails unless [retcode] is set; a batch job that fails must not
# look like success to cron or CI. These apply unless the user's config sets its own.
RETCODE_DEFAULTS = {
    "unhandled_exception": "4",
    "missing_data": "3",
    "task_failed": "2",
    "already_running": "5",
    "scheduling_error": "6",
    "not_run": "7",
}


class streaming(luigi.Config):  # noqa: N801 -- Luigi names config classes after sections
    """``[streaming]`` in luigi.cfg; each key can be given as ``--streaming-KEY``."""

    engine = luigi.Parameter(
        default=DEFAULT_ENGINE, description="Engine that runs jobs: local, hadoop, spark."
    )
    processes = luigi.IntParameter(
        default=0, description="Worker processes of the local engine (0: one per core)."
    )
    # 16 MiB: several splits per worker even for a few files, so a worker that finishes
    # early (or shares its core with another program) takes the next split and the cores
    # end together; a split costs well under a millisecond to start.
    split_mb = luigi.IntParameter(
        default=16, description="Largest input split of the local engine, in MiB."
    )


def streaming_settings() -> streaming:
    """``[streaming]``, checked: an invalid value is refused before anything is read."""
    settings = streaming()
    if settings.split_mb < 1:
        raise SettingsError(
            f"[streaming] split_mb must be a whole number of MiB >= 1, not {settings.split_mb}"
        )
    if settings.processes < 0:
        raise SettingsError(f"[streaming] processes must be >= 0, not {settings.processes}")
    return settings


class _JobErrorsOnOneLine(logging.Filter):
    """Luigi logs a failed task with its traceback. A JobError's message says all a user
    needs (what, where, how many), so show it on the failure line instead of engine
    internals; any other exception keeps its traceback."""

    def __init__(self):
        super().__init__()
        self.scheduler_reported = False

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if record.msg in _RPC_RETRY_MESSAGES:
            # Each retry (logged with an empty traceback, "NoneType: None"): the final
            # line below says it all.
            return False
        if _is_rpc_error(error):
            if self.scheduler_reported:  # the worker and the command both report it
                return False
            self.scheduler_reported = True
            # Luigi's CLI logs an unreachable scheduler as an "uncaught exception".
            record.msg = (
                "no Luigi scheduler answers at %s: start luigid (see README) or run with "
                "--local-scheduler"
            )
            record.args = (getattr(error, "url", None) or _scheduler_url(error),)
            record.exc_info = None
            record.exc_text = None
        elif isinstance(error, JobError) and record.msg == "Uncaught exception in luigi":
            # A JobError before any task ran (a parameter value): the error is the story.
            record.msg = "%s"
            record.args = (f"{type(error).__name__}: {error}",)
            record.exc_info = None
            record.exc_text = None
        elif isinstance(error, JobError | Stopped) and isinstance(record.args, tuple):
            record.msg = f"{record.msg}: %s"
            record.args = (*record.args, f"{type(error).__name__}: {error}")
            record.exc_info = None
            record.exc_text = None
        return True


def _is_rpc_error(error) -> bool:
    from luigi.rpc import RPCError

    return isinstance(error, RPCError)


def _scheduler_url(error) -> str:
    # RPCError's message ends with the scheduler's URL in quotes.
    return str(error.args[0]).rpartition(" ")[2] if error.args else "the configured address"


# What luigi.rpc and luigi.worker log at each failed attempt to reach the scheduler.
_RPC_RETRY_MESSAGES = ("Failed connecting to remote scheduler %r", "Failed pinging scheduler")
_ONE_LINE_FILTER = _JobErrorsOnOneLine()

# Luigi retries an unreachable central scheduler 3 times 30 s apart: a minute of silence
# and retry lines for a forgotten --local-scheduler. One try says it at once, in one line.
# A config file that sets them wins (a luigid that may restart during runs wants retries).
SCHEDULER_RETRY_DEFAULTS = {"rpc_retry_attempts": "1", "rpc_retry_wait": "1"}
# Luigi reads these two keys of [core] (luigi.rpc) but its ``core`` config class does not
# declare them, so it warns that they are "not consumed" although they are. Only that
# warning, for only these keys, is silenced.
_RPC_RETRY_WARNING = r"The configuration contains the parameter 'rpc_retry_(attempts|wait)'"


def apply_luigi_defaults() -> None:
    """What every streamjobs job needs from Luigi, applied when a job class is defined
    (idempotent): failing exit codes, JobErrors reported on one line, and a prompt answer
    when no central scheduler runs."""
    config = luigi.configuration.get_config()
    for section, defaults in (("retcode", RETCODE_DEFAULTS), ("core", SCHEDULER_RETRY_DEFAULTS)):
        for key, value in defaults.items():
            # Luigi reads either spelling of a key (and warns about dashes).
            if not any(config.has_option(section, k) for k in (key, key.replace("_", "-"))):
                if not config.has_section(section):
                    config.add_section(section)
                config.set(section, key, value)
    from luigi.parameter import UnconsumedParameterWarning

    warnings.filterwarnings(
        "ignore", message=_RPC_RETRY_WARNING, category=UnconsumedParameterWarning
    )
    interface_logger = logging.getLogger("luigi-interface")
    if _ONE_LINE_FILTER not in interface_logger.filters:
        interface_logger.addFilter(_ONE_LINE_FILTER)
