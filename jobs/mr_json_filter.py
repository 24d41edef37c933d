"""The post's job (``luigi_hadoop.TestTaskMR``) on mrjob's runners.

    python -m mr_json_filter [-r inline|local|hadoop|emr] [--threshold 1.99] [-o OUT] INPUT...

The same as ``python -m streamjobs.mrjob luigi_hadoop.TestTaskMR ...``: see
``streamjobs.mrjob.cli`` for what each runner does.
"""

from streamjobs.mrjob.cli import main as run_job_command

JOB = "luigi_hadoop.TestTaskMR"


def main(argv: list[str] | None = None) -> None:
    run_job_command(argv, prog="mr_json_filter", job=JOB)


if __name__ == "__main__":
    main()
