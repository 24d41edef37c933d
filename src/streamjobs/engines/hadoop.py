"""Hadoop Streaming: a job's spec submitted as a map-only ``hadoop jar`` job.

The command is built here from the ``JobSpec`` (as mrjob's Hadoop runner builds its own),
with the settings Luigi users already have: ``[hadoopcli] command``, ``[hadoop]
streaming_jar`` and ``python_executable``. Each submission ships three files with
``-files``, named with a run id so that they can never overwrite a user's file (Hadoop's
local job runner unpacks them into the client's working directory; they are removed after
the job):

``streamjobs-ID-runner.py``
    the map task (``streamjobs/node_runner.py``), standard library until it has the code;
``streamjobs-ID-code.tar``
    Python source only: the ``streamjobs`` package (less bench and tools), the job's
    module and every module of the user's own code it imported;
``streamjobs-ID-spec.json``
    the JobSpec: the job's class path and parameters (no pickle, no configuration file,
    no environment: no credentials).

A node needs Python 3.10+ with ``luigi`` and ``msgspec`` (``pip install luigi msgspec``),
at ``[hadoop] python_executable``. What real Hadoop Streaming does that the submission
relies on (observed on a real run): an empty ``-D`` value is dropped, so the mapper's
lines are written as they are with ``stream.map.output=keyonlytext``; TextInputFormat
also ends lines at a lone ``\\r`` unless ``textinputformat.record.delimiter`` is set, so
it is set to ``\\n`` as every other engine reads lines; ``stream.map.input.ignoreKey=
false`` gives the mapper each line after its byte offset, so bad lines' offsets are exact
in every split; files a task writes into ``mapreduce_task_output_dir`` are committed with
its part file (the quarantine).

The run template publishes: Hadoop writes a hidden temporary directory beside the output;
the counters the client prints at job end become ``_COUNTERS.json``; ``--max-bad-records``
is checked; the directory is renamed into place (HDFS) or copied into place with
``_SUCCESS`` last (S3). On failure the temporary output is removed.
"""

from __future__ import annotations

import collections
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import uuid

import luigi.configuration

from streamjobs import counters as counters_mod
from streamjobs import run as run_mod
from streamjobs.errors import JobError
from streamjobs.node_runner import FAILURE_MARK

logger = logging.getLogger("luigi-interface")

_NODE_RUNNER = os.path.join(os.path.dirname(os.path.dirname(__file__)), "node_runner.py")
_COUNTERS_RE = re.compile(r"\bCounters: (\d+)\s*$")
# streamjobs modules a node never needs: the benchmark and the docs tools.
_NOT_SHIPPED = ("streamjobs.bench", "streamjobs.tools")
# Lines of the client's output kept for the counters and the error message.
_KEPT_OUTPUT_LINES = 5000


class HadoopEngineError(JobError):
    """The job cannot be submitted, failed on the cluster, or cannot be published."""


def hadoop_setting(name: str, default: str | None = None) -> str | None:
    """``[hadoop] NAME`` (Luigi's section: ``streaming_jar``, ``python_executable``)."""
    return luigi.configuration.get_config().get("hadoop", name, default)


class HadoopEngine:
    """Runs a JobSpec as a Hadoop Streaming job and publishes its output atomically."""

    def __init__(self, spec):
        from streamjobs.cluster_paths import hadoop_command

        self.spec = spec
        self.command = hadoop_command()
        self.jar = hadoop_setting("streaming_jar")
        if not self.jar:
            raise HadoopEngineError(
                "[hadoop] streaming_jar is not set: name the cluster's hadoop-streaming jar "
                "in luigi.cfg (see README, Hadoop Streaming)"
            )
        self.python = hadoop_setting("python_executable", "python3")

    def run(self) -> dict:
        from streamjobs.cluster_paths import check_cluster_path, cluster_publisher

        for path in self.spec.inputs:
            check_cluster_path(path, "input")
        publisher = cluster_publisher(self.spec.output)
        return run_mod.execute(publisher, self._map_splits, self.spec.max_bad_records)

    def _map_splits(self, staging: str):
        """Submit the job with output ``staging``; one report: the job's counters."""
        run_id = uuid.uuid4().hex[:12]
        workdir = tempfile.mkdtemp(prefix="streamjobs-submit-")
        names = {
            "runner": f"streamjobs-{run_id}-runner.py",
            "code": f"streamjobs-{run_id}-code.tar",
            "spec": f"streamjobs-{run_id}-spec.json",
        }
        try:
            spec = self._ship(workdir, names)
            argv = self.streaming_command(spec, staging, workdir, names)
            output = _run_client(self.command, argv)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
            _remove_local_mode_copies(names.values())
        yield run_mod.SplitReport(job_counters(output))

    def _ship(self, workdir: str, names: dict):
        """Write the three shipped files into ``workdir``; the spec as shipped."""
        spec, modules = code_to_ship(self.spec)
        shutil.copyfile(_NODE_RUNNER, os.path.join(workdir, names["runner"]))
        write_code_archive(os.path.join(workdir, names["code"]), modules)
        with open(os.path.join(workdir, names["spec"]), "w") as out:
            out.write(spec.to_json())
        return spec

    def streaming_command(self, spec, output: str, workdir: str, names: dict) -> list[str]:
        files = ",".join(os.path.join(workdir, name) for name in names.values())
        mapper = f"{self.python} {names['runner']} map {names['spec']} {names['code']}"
        argv = [*self.command, "jar", self.jar]
        for conf in (
            f"mapreduce.job.name={spec.job.partition(':')[2]} {os.path.basename(spec.output)}",
            "mapreduce.job.reduces=0",
            # The mapper's lines as they are: an empty separator would be dropped.
            "stream.map.output=keyonlytext",
            # Lines end at \n only, as on every engine (not also at a lone \r).
            "textinputformat.record.delimiter=\n",
            # Each line comes with its offset in the file (exact offsets of bad lines).
            "stream.map.input.ignoreKey=false",
        ):
            argv += ["-D", conf]
        argv += ["-files", files]
        for path in spec.inputs:
            argv += ["-input", path]
        argv += ["-output", output, "-mapper", mapper, "-numReduceTasks", "0"]
        return argv


def code_to_ship(spec):
    """The spec as a node sees it, and the modules whose source ships with it.

    A job class defined in a script (``__main__``) ships as a module named after the
    script's file, and the spec names it so.
    """
    import dataclasses

    module_name, _, qualname = spec.job.partition(":")
    modules = {"streamjobs": sys.modules["streamjobs"]}
    if module_name == "__main__":
        main = sys.modules["__main__"]
        main_file = getattr(main, "__file__", None)
        if not main_file:
            raise HadoopEngineError(f"{qualname} is defined in an interactive session")
        module_name = os.path.splitext(os.path.basename(main_file))[0]
        modules[module_name] = main
        spec = dataclasses.replace(spec, job=f"{module_name}:{qualname}")
    for name, module in list(sys.modules.items()):
        if _is_user_code(module) and not name.startswith("streamjobs"):
            modules.setdefault(name.partition(".")[0], sys.modules.get(name.partition(".")[0]))
    return spec, {name: module for name, module in modules.items() if module is not None}


def _library_directories() -> list[str]:
    paths = sysconfig.get_paths()
    found = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    found.update(p for p in sys.path if p.endswith(("site-packages", "dist-packages")))
    return [os.path.realpath(path) + os.sep for path in found if path]


def _in_library(path: str) -> bool:
    """Whether ``path`` is in the standard library or installed packages."""
    path = os.path.realpath(path)
    return any(path.startswith(directory) for directory in _library_directories())


def _is_user_code(module) -> bool:
    """A module of the user's own code: a Python source file outside the standard library
    and installed packages."""
    path = getattr(module, "__file__", None)
    return bool(path) and path.endswith(".py") and not _in_library(path)


def write_code_archive(path: str, modules: dict) -> None:
    """A tar of the modules' Python source (``.py`` files only), by top-level name: a
    module's file, or every ``.py`` file of a package's directory (each of a namespace
    package's directories that hold the user's code)."""
    with tarfile.open(path, "w") as archive:
        for name, module in sorted(modules.items()):
            file = getattr(module, "__file__", None)
            if file and os.path.basename(file) != "__init__.py":
                archive.add(file, arcname=f"{name}.py")
                continue
            if file:
                roots = [os.path.dirname(file)]
            else:  # a namespace package (no __init__.py)
                roots = [root for root in getattr(module, "__path__", []) if not _in_library(root)]
            for root in roots:
                _add_package(archive, name, root)


def _add_package(archive: tarfile.TarFile, name: str, root: str) -> None:
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = sorted(d for d in subdirectories if d != "__pycache__")
        relative = os.path.relpath(directory, root)
        dotted = name if relative == "." else f"{name}.{relative.replace(os.sep, '.')}"
        if dotted.startswith(_NOT_SHIPPED):
            subdirectories[:] = []
            continue
        for file_name in sorted(files):
            stem = f"{dotted}.{file_name[:-3]}"
            if file_name.endswith(".py") and not stem.startswith(_NOT_SHIPPED):
                arcname = os.path.normpath(os.path.join(name, relative, file_name))
                archive.add(os.path.join(directory, file_name), arcname)


def _run_client(command: list[str], argv: list[str]) -> str:
    """Run the Hadoop client ``argv``, logging its progress; its output. A failed job raises
    HadoopEngineError with the task's own error first. Interrupted (SIGTERM, Ctrl-C), the
    client is stopped and the job killed: a cluster runs a job on when its client stops."""
    logger.info("streamjobs: submitting %s", shlex.join(argv).replace("\n", "\\n"))
    kept: collections.deque[str] = collections.deque(maxlen=_KEPT_OUTPUT_LINES)
    job_id = None
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    ) as process:
        try:
            for line in process.stdout:
                kept.append(line.rstrip("\n"))
                if " map " in line or "Running job" in line or "Job complete" in line:
                    logger.info("hadoop: %s", line.rstrip())
                started = _CLUSTER_JOB_RE.search(line)
                job_id = started.group(1) if started else job_id
            status = process.wait()
        except BaseException:
            process.terminate()
            if job_id:
                _kill_job(command, job_id)
            raise
    if status != 0:
        raise HadoopEngineError(_failure_message(list(kept), status))
    return "\n".join(kept)


# A job on a cluster (the local job runner's ids read job_localNNN_NNNN and end with it).
_CLUSTER_JOB_RE = re.compile(r"Running job: (job_\d+_\d+)")


def _kill_job(command: list[str], job_id: str) -> None:
    """``hadoop job -kill JOB_ID``; a failure is logged (the interruption matters more)."""
    try:
        done = subprocess.run(
            [*command, "job", "-kill", job_id], capture_output=True, text=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        logger.error("streamjobs: could not kill Hadoop job %s: %s", job_id, exc)
        return
    if done.returncode == 0:
        logger.info("streamjobs: killed Hadoop job %s", job_id)
    else:
        logger.error(
            "streamjobs: could not kill Hadoop job %s (mapred job -kill %s): %s",
            job_id,
            job_id,
            (done.stdout + done.stderr).strip()[-500:],
        )


def _failure_message(lines: list[str], status: int) -> str:
    """The task's own error first, then where to read more. In local mode the task's
    stderr (our runner's summary line and traceback) is in the client's output: the
    traceback is logged; on a cluster it is in the task's log, and the client shows
    Hadoop's diagnostic and the application id."""
    message = f"the Hadoop job failed (hadoop exited with {status})"
    starts = [i for i, line in enumerate(lines) if FAILURE_MARK in line]
    if starts:
        message += f": {lines[starts[0]].partition(FAILURE_MARK)[2].strip()}"
        traceback = []
        for line in lines[starts[0] + 1 : starts[0] + 60]:
            if _HADOOP_LOG_RE.match(line):
                break
            traceback.append(line)
        logger.error("streamjobs: the map task's traceback:\n%s", "\n".join(traceback))
    else:
        diagnostic = next(
            (m.group(0) for line in lines for m in [_DIAGNOSTIC_RE.search(line)] if m), None
        )
        if diagnostic:
            message += f": {diagnostic.strip()}"
    applications = [m.group(0) for m in map(_APP_RE.search, lines) if m]
    if applications:
        message += f"; task logs: yarn logs -applicationId {applications[0]}"
    elif not starts:
        tail = " | ".join(line.strip() for line in lines[-5:] if line.strip())
        message += f"; last output: {tail}"
    return message + "; nothing was published"


_APP_RE = re.compile(r"application_\d+_\d+")
_DIAGNOSTIC_RE = re.compile(r"(Error: |Cannot run program |Exception: ).*")
_HADOOP_LOG_RE = re.compile(r"\d\d/\d\d/\d\d \d\d:\d\d:\d\d ")


def _remove_local_mode_copies(names) -> None:
    """Hadoop's local job runner unpacks shipped files into the client's working
    directory and leaves them there; ours carry a run id, so only ours are removed."""
    for name in names:
        if os.path.lexists(name):
            os.remove(name)


def parse_job_counters(client_output: str) -> dict[str, dict[str, int]]:
    """The counter groups of the last ``Counters: N`` block the Hadoop client printed
    (in local mode a block is printed per task too; the job's comes last).

    The block is a line per group name, then ``name=value`` lines (indented by Hadoop).
    """
    lines = client_output.splitlines()
    starts = [i for i, line in enumerate(lines) if _COUNTERS_RE.search(line)]
    if not starts:
        raise HadoopEngineError(
            "the Hadoop client printed no job counters (is its log level below INFO? "
            "HADOOP_ROOT_LOGGER must include INFO); nothing was published"
        )
    expected = int(_COUNTERS_RE.search(lines[starts[-1]]).group(1))
    groups: dict[str, dict[str, int]] = {}
    group = None
    seen = 0
    for line in lines[starts[-1] + 1 :]:
        if seen == expected:
            break
        text = line.strip()
        name, sep, value = text.rpartition("=")
        if sep and group is not None and value.strip().lstrip("-").isdigit():
            groups[group][name] = int(value)
            seen += 1
        elif text:
            group = text
            groups.setdefault(group, {})
    return groups


def job_counters(client_output: str) -> dict:
    """Our counters (the ``_COUNTERS.json`` schema) from the client's printed counters."""
    printed = parse_job_counters(client_output)
    totals = counters_mod.new_counters()
    for group in (counters_mod.RECORDS, counters_mod.BAD_RECORDS):
        counters_mod.add_counters(totals, {group: printed.get(group, {})})
    return totals
