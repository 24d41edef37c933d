"""Configuration read the Luigi way: ``[streaming]`` in client.cfg, and safer defaults.

Luigi reads ./client.cfg, ./luigi.cfg and ``LUIGI_CONFIG_PATH``; a job run from another
directory would miss the project's client.cfg, so the defaults that matter live here.
"""

from __future__ import annotations

import luigi
import luigi.configuration

DEFAULT_ENGINE = "local"

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
    """``[streaming]`` in client.cfg; each key can be given as ``--streaming-KEY``."""

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


def apply_retcode_defaults() -> None:
    config = luigi.configuration.get_config()
    for key, value in RETCODE_DEFAULTS.items():
        if not config.has_option("retcode", key):
            if not config.has_section("retcode"):
                config.add_section("retcode")
            config.set("retcode", key, value)
