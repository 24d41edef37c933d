"""The Spark application the spark engine submits: ``main([SPEC_PATH])`` on the driver.

The driver plans the input splits as the local engine does and runs one Spark task per
split; a task rebuilds the job from the spec (``JobSpec.load_job``) and maps its split with
the local engine's ``map_split`` into the spec's output (the run's staging directory). The
driver prints, on its standard output, one line per split report and any error, each as
``streamjobs-spark: JSON``, for the submitting process (``engines.spark``), which counts,
checks the bad-record limit and publishes.

Runs from the shipped code (``--py-files``); pyspark is Spark's own on the driver and nodes.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
import traceback

from streamjobs.engines.local import map_split, plan_splits
from streamjobs.errors import JobError
from streamjobs.job import mapper_for
from streamjobs.spec import JobSpec

REPORT_PREFIX = "streamjobs-spark: "


def say(**message) -> None:
    """One line for the submitting process."""
    sys.stdout.write(REPORT_PREFIX + json.dumps(message) + "\n")
    sys.stdout.flush()


def error_of(exc: BaseException) -> dict:
    return {"type": type(exc).__name__, "message": str(exc)}


def map_partition(spec_json: str, items):
    """A Spark task: map its splits; a report, or the error that stopped a split."""
    spec = JobSpec.from_json(spec_json)
    mapper = None
    for index, split in items:
        try:
            if mapper is None:
                mapper = mapper_for(spec.load_job())
            report = map_split(mapper, split, spec.output, index, spec.max_line_bytes, None)
        except JobError as exc:  # an unreadable input file: its message names it
            yield {"error": error_of(exc)}
        except OSError as exc:
            where = f" ({exc.filename})" if isinstance(exc.filename, str) else ""
            message = f"cannot write output: {exc.strerror or exc}{where}; nothing was published"
            yield {"error": {"type": "OutputError", "message": message}}
        except Exception as exc:
            # A job that cannot be rebuilt on this node (a module not shipped, a missing
            # package): its traceback goes to the submitting process's log.
            where = f"{split.path} [{split.start}:{split.end}]"
            message = f"{exc} (split {where})"
            yield {
                "error": {
                    "type": type(exc).__name__,
                    "message": message,
                    "traceback": traceback.format_exc(),
                }
            }
        else:
            yield {"report": dataclasses.asdict(report)}


def main(argv: list[str]) -> int:
    (spec_path,) = argv
    with open(spec_path, encoding="utf-8") as stream:
        spec_json = stream.read()
    spec = JobSpec.from_json(spec_json)
    try:
        splits = plan_splits(spec)
    except JobError as exc:
        say(error=error_of(exc))
        return 1
    say(splits=len(splits))
    if not splits:
        return 0

    from pyspark import SparkConf, SparkContext

    # Two attempts of one split at once would write the same part file: no speculation.
    conf = SparkConf().set("spark.speculation", "false")
    context = SparkContext(conf=conf)
    try:
        if context.uiWebUrl:
            say(tracking_url=context.uiWebUrl)
        tasks = list(enumerate(splits))
        # One split per partition, so Spark schedules (and retries) each split on its own.
        results = (
            context.parallelize(tasks, len(tasks))
            .mapPartitions(functools.partial(map_partition, spec_json))
            .collect()
        )
    finally:
        context.stop()
    errors = [result for result in results if "error" in result]
    for result in errors:  # first: a failed split fails the run, whatever the counts
        say(error=result["error"])
    for result in results:
        if "report" in result:
            say(report=result["report"])
    return 1 if errors else 0
