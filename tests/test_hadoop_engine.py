"""The Hadoop engine end to end: ``luigi ... --engine hadoop`` with ``[hadoopcli] command``
set to the stand-in under tests/hadoop_standin/ (Hadoop Streaming as the field notes
observed it, run on this machine), in its YARN-like mode (each map task in its own
container directory with a clean environment) and in Hadoop's local mode (tasks in the
client's working directory). Map tasks run a node Python holding only the ``node`` extra
(Luigi and msgspec, no streamjobs, no user code)."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time

import pytest

from tests.conftest import ROOT, luigi_env, run_luigi

STANDIN = os.path.join(ROOT, "tests", "hadoop_standin", "hadoop")
FIXTURES = os.path.join(ROOT, "tests", "hadoop_fixtures")
# Small splits, so that a file is read by several map tasks (offsets and line numbers of
# bad lines in later splits are checked too).
SPLIT_BYTES = 24 << 10


def write_config(directory, node_python: str, extra: str = "", command: str = STANDIN) -> str:
    jar = os.path.join(directory, "hadoop-streaming.jar")
    open(jar, "wb").close()
    path = os.path.join(directory, "hadoop-test.cfg")
    with open(path, "w") as out:
        out.write(
            f"[streaming]\nengine = hadoop\n\n[hadoop]\nstreaming_jar = {jar}\n"
            f"python_executable = {node_python}\nversion = hadoop3\n\n"
            f"[hadoopcli]\ncommand = {command}\n" + extra
        )
    return path


def cluster(directory, mode: str) -> str:
    """A HADOOP_CONF_DIR for the stand-in: ``yarn`` or ``local`` (LocalJobRunner)."""
    conf = os.path.join(directory, f"hadoop-conf-{mode}")
    os.makedirs(conf, exist_ok=True)
    properties = {
        "mapreduce.framework.name": mode,
        "mapreduce.input.fileinputformat.split.maxsize": str(SPLIT_BYTES),
    }
    with open(os.path.join(conf, "mapred-site.xml"), "w") as out:
        out.write("<configuration>\n")
        for name, value in properties.items():
            out.write(f"<property><name>{name}</name><value>{value}</value></property>\n")
        out.write("</configuration>\n")
    return conf


def good_lines(count: int, seed: int) -> list[bytes]:
    lines = []
    for n in range(count):
        index, total = ((n * seed) % 23) / 10, ((n + seed) % 7) / 3
        if n % 5 == 0:
            index = n % 4 - 1  # an integer stays an integer
        lines.append(json.dumps({"id": n, "index": index, "total": total, "t": "é"}).encode())
    return lines


BAD_AND_BLANK = [
    b"not json",
    b"[1, 2]",
    b'{"index": 1}',
    b'{"index": "1", "total": 2}',
    b'{"index": 1e400, "total": 1}',
    b'{"index": 1, "total": 2, "t": "\xff"}',
    b"[" * 600 + b"]" * 600,
    b'{"index": 1, "total": 1.5}\r{"index": 2, "total": 2}',  # a lone CR inside a line
    b"",
    b"   ",
]


def tricky_inputs(directory) -> None:
    """Bad lines of every reason spread over several splits; CRLF; a lone CR; no final
    newline; .gz and .bz2 (one of them named like a plain file); a byte-order mark."""
    data = os.path.join(directory, "in")
    os.makedirs(data)
    lines = good_lines(1200, 3)
    for n, bad in enumerate(BAD_AND_BLANK * 3):
        lines.insert(n * 37 + 5, bad)
    files = {
        "a.json": b"\n".join(lines) + b"\n",
        "b.json": b"\r\n".join(good_lines(300, 5) + BAD_AND_BLANK[:3]),  # no final newline
        "a.json.gz": gzip.compress(b"\n".join(good_lines(200, 7) + BAD_AND_BLANK)),
        "c.json.bz2": bz2.compress(b"\n".join(BAD_AND_BLANK + good_lines(200, 9)) + b"\n"),
        # Hadoop drops a byte-order mark starting a file; the other engines do not.
        "d.json": b"\xef\xbb\xbf" + b"\n".join(good_lines(20, 11)) + b"\n",
    }
    for name, content in files.items():
        with open(os.path.join(data, name), "wb") as out:
            out.write(content)


def luigi_job(cwd, job: list[str], out: str, config: str | None = None, **env):
    args = [*job, "--input-path", "in", "--output-path", out, "--local-scheduler"]
    if config:
        env["LUIGI_CONFIG_PATH"] = config
    return run_luigi(args, cwd, timeout=180, **env)


def published(directory) -> dict:
    """An output directory's records (bytes, sorted), counters and quarantine."""
    names = sorted(os.listdir(directory))
    records = []
    for name in names:
        if name.startswith("part-"):
            with open(os.path.join(directory, name), "rb") as stream:
                records += stream.read().splitlines()
    quarantine = []
    q_dir = os.path.join(directory, "_quarantine")
    for name in sorted(os.listdir(q_dir)) if os.path.isdir(q_dir) else []:
        with open(os.path.join(q_dir, name), "rb") as stream:
            quarantine += [json.loads(line) for line in stream]
    with open(os.path.join(directory, "_COUNTERS.json")) as stream:
        counters = json.load(stream)
    assert "_SUCCESS" in names
    return {"records": sorted(records), "counters": counters, "quarantine": quarantine}


def comparable(quarantine: list[dict]) -> list[tuple]:
    """Bad lines by file name and offset (Hadoop names a source by its URI)."""
    return sorted(
        (os.path.basename(q["source"]), q["offset"], q["reason"], q["text"], q["length"])
        for q in quarantine
    )


def invocations(log_path) -> list[list[str]]:
    with open(log_path) as stream:
        return [json.loads(line) for line in stream]


# Names a user may have in the directory a local-mode job is submitted from; Luigi's own
# Hadoop runner shipped (and left) files named like the first three.
USERS_FILES = ("mrrunner.py", "packages.tar", "job-instance.pickle", "runner.py", "spec.json")

TEST_TASK_MR = ["--module", "luigi_hadoop", "TestTaskMR"]


@pytest.fixture(scope="module")
def local_engine_result(tmp_path_factory):
    """TestTaskMR's output on the local engine, for the tricky inputs."""
    directory = tmp_path_factory.mktemp("local-engine")
    tricky_inputs(directory)
    result = luigi_job(directory, [*TEST_TASK_MR, "--engine", "local"], "out")
    assert result.returncode == 0, result.stdout
    return published(directory / "out")


@pytest.mark.parametrize("mode", ["yarn", "local"])
def test_testtaskmr_gives_the_local_engines_records_counters_and_quarantine(
    tmp_path, node_python, local_engine_result, mode
):
    tricky_inputs(tmp_path)
    for name in USERS_FILES:
        (tmp_path / name).write_text("the user's own file\n")
    before = sorted(os.listdir(tmp_path))
    config = write_config(tmp_path, node_python)
    log = tmp_path / "argv.jsonl"
    result = luigi_job(
        tmp_path,
        TEST_TASK_MR,
        "out",
        config,
        HADOOP_CONF_DIR=cluster(tmp_path, mode),
        HADOOP_STANDIN_LOG=str(log),
    )
    assert result.returncode == 0, result.stdout

    hadoop = published(tmp_path / "out")
    want = local_engine_result
    assert hadoop["records"] == want["records"]  # byte for byte: no trailing tab
    assert hadoop["counters"] == want["counters"]
    assert comparable(hadoop["quarantine"]) == comparable(want["quarantine"])
    assert len(hadoop["quarantine"]) == hadoop["counters"]["records"]["bad"] > 0
    local_lines = {
        (os.path.basename(q["source"]), q["offset"]): q.get("line") for q in want["quarantine"]
    }
    # Line numbers where Hadoop knows them (a file's first split) are the local engine's.
    numbered = [q for q in hadoop["quarantine"] if q.get("line") is not None]
    assert numbered and len(numbered) < len(hadoop["quarantine"])  # several splits
    for q in numbered:
        assert q["line"] == local_lines[(os.path.basename(q["source"]), q["offset"])]

    # Nothing left in the client's directory, and the user's files untouched.
    after = sorted(set(os.listdir(tmp_path)) - {"out", "argv.jsonl", "hadoop-test.cfg"})
    assert after == sorted(set(before) | {"hadoop-streaming.jar", f"hadoop-conf-{mode}"})
    for name in USERS_FILES:
        assert (tmp_path / name).read_text() == "the user's own file\n"

    (jar,) = [call for call in invocations(log) if call[1] == "jar"]
    confs = [jar[i + 1] for i, arg in enumerate(jar) if arg == "-D"]
    assert "stream.map.output=keyonlytext" in confs
    assert "textinputformat.record.delimiter=\n" in confs
    assert "mapreduce.job.reduces=0" in confs
    assert not [conf for conf in confs if conf.endswith("=")]  # Hadoop would drop it
    assert "adding to tar" not in result.stdout


def test_a_users_job_and_a_text_job_run_on_nodes_without_their_code(tmp_path, node_python):
    os.makedirs(tmp_path / "in")
    sales = [{"price": 10.0 + n, "qty": n % 20} for n in range(400)]
    lines = [json.dumps(s).encode() for s in sales] + [b'{"price": "x", "qty": 1}']
    (tmp_path / "in" / "sales.json").write_bytes(b"\n".join(lines) + b"\n")
    examples = os.path.join(ROOT, "examples")
    config = write_config(tmp_path, node_python)
    job = ["--module", "sales_job", "SalesOver", "--min-amount", "150"]
    result = luigi_job(tmp_path, job, "out", config, PYTHONPATH=examples)
    assert result.returncode == 0, result.stdout
    got = published(tmp_path / "out")
    want = [dict(s, amount=s["price"] * s["qty"]) for s in sales if s["price"] * s["qty"] > 150]
    compact = [json.dumps(w, separators=(",", ":")).encode() for w in want]
    assert sorted(got["records"]) == sorted(compact)
    assert got["counters"]["bad_records"] == {"not_a_number": 1}

    log = b"INFO: started\nERROR: disk full\r\nWARN: ERROR: twice\n\tERROR\n"
    shutil.rmtree(tmp_path / "in")
    os.makedirs(tmp_path / "in")
    (tmp_path / "in" / "app.log").write_bytes(log)
    job = ["--module", "error_lines", "ErrorLines"]
    result = luigi_job(tmp_path, job, "errors", config, PYTHONPATH=examples)
    assert result.returncode == 0, result.stdout
    assert published(tmp_path / "errors")["records"] == sorted(
        [b"ERROR\tdisk full", b"WARN\tERROR: twice", b"ERROR\t"]
    )


def test_more_bad_records_than_allowed_fail_the_run_and_publish_nothing(tmp_path, node_python):
    os.makedirs(tmp_path / "in")
    (tmp_path / "in" / "a.json").write_bytes(b'{"index": 1, "total": 2}\nbad\nworse\n')
    config = write_config(tmp_path, node_python)
    job = [*TEST_TASK_MR, "--max-bad-records", "1"]
    result = luigi_job(tmp_path, job, "out", config)
    assert result.returncode == 2, result.stdout
    assert "TooManyBadRecords: more than --max-bad-records 1: 2 bad records" in result.stdout
    assert sorted(os.listdir(tmp_path)) == ["hadoop-streaming.jar", "hadoop-test.cfg", "in"]


def exploding_job(tmp_path, node_python, mode: str):
    os.makedirs(tmp_path / "in")
    (tmp_path / "in" / "a.json").write_bytes(b'{"index": 1, "total": 2}\n')
    config = write_config(tmp_path, node_python)
    job = ["--module", "failing_jobs", "ExplodingJob"]
    logs = tmp_path / "task-logs"
    result = luigi_job(
        tmp_path,
        job,
        "out",
        config,
        PYTHONPATH=FIXTURES,
        HADOOP_CONF_DIR=cluster(tmp_path, mode),
        HADOOP_STANDIN_TASK_LOGS=str(logs),
    )
    assert result.returncode == 2, result.stdout  # [retcode] task_failed
    assert "mechanize" not in result.stdout
    assert not os.path.exists(tmp_path / "out")
    assert not [n for n in os.listdir(tmp_path) if n.startswith((".out", "streamjobs-"))]
    (failure,) = [line for line in result.stdout.splitlines() if "HadoopEngineError" in line]
    return failure, logs


def test_a_failed_task_shows_its_own_error_in_local_mode(tmp_path, node_python):
    failure, _ = exploding_job(tmp_path, node_python, "local")
    assert "hadoop exited with 1): RuntimeError: the job exploded on a node;" in failure


def test_a_failed_task_on_yarn_names_hadoops_diagnostic_and_its_log(tmp_path, node_python):
    failure, logs = exploding_job(tmp_path, node_python, "yarn")
    assert "subprocess failed with code 1" in failure
    assert "yarn logs -applicationId application_" in failure
    (task_log,) = [os.path.join(d, "stderr") for d, _, files in os.walk(logs) if files]
    with open(task_log) as stream:
        assert "RuntimeError: the job exploded on a node" in stream.read()


def test_only_python_source_is_shipped_never_config_or_credentials(tmp_path, node_python):
    secrets = ("cfg-secret-7f3a9c1e", "env-secret-4b8d2e6f", "file-secret-9a8b7c6d")
    package = tmp_path / "userjobs"  # a namespace package: no __init__.py
    package.mkdir()
    (package / "jobs.py").write_text(
        "import streamjobs\n\n\nclass Copy(streamjobs.TextJobTask):\n"
        "    def mapper(self, line):\n        yield line\n"
    )
    (package / "luigi.cfg").write_text(f"[s3]\naws_secret_access_key = {secrets[2]}\n")
    (package / "credentials.json").write_text(json.dumps({"secret": secrets[2]}))
    os.makedirs(tmp_path / "in")
    (tmp_path / "in" / "a.txt").write_bytes(b"one\ntwo\n")
    config = write_config(tmp_path, node_python, f"\n[s3]\naws_secret_access_key = {secrets[0]}\n")
    shipped = tmp_path / "shipped"
    result = luigi_job(
        tmp_path,
        ["--module", "userjobs.jobs", "Copy"],
        "out",
        config,
        PYTHONPATH=str(tmp_path),
        HADOOP_STANDIN_SHIPPED=str(shipped),
        AWS_SECRET_ACCESS_KEY=secrets[1],
    )
    assert result.returncode == 0, result.stdout
    assert published(tmp_path / "out")["records"] == [b"one", b"two"]
    (code,) = [n for n in os.listdir(shipped) if n.endswith("-code.tar")]
    contents = []
    with tarfile.open(shipped / code) as archive:
        names = [m.name for m in archive.getmembers() if m.isfile()]
        contents += [archive.extractfile(name).read() for name in names]
    assert all(name.endswith(".py") for name in names), names
    assert {"userjobs/jobs.py", "streamjobs/node_runner.py"} <= set(names)
    assert not [n for n in names if n.startswith(("streamjobs/bench", "streamjobs/tools"))]
    assert not [n for n in names if n.startswith("luigi/")]  # the node has its own
    for name in os.listdir(shipped):
        if not name.endswith(".tar"):
            contents.append((shipped / name).read_bytes())
    for secret in secrets:
        assert not any(secret.encode() in data for data in contents)


def test_a_missing_hadoop_command_is_one_line_naming_the_setting(tmp_path, node_python):
    os.makedirs(tmp_path / "in")
    (tmp_path / "in" / "a.json").write_bytes(b'{"index": 1, "total": 2}\n')
    config = write_config(tmp_path, node_python, command="/nonexistent/bin/hadoop")
    result = luigi_job(tmp_path, TEST_TASK_MR, "out", config)
    assert result.returncode == 2, result.stdout
    assert "Traceback" not in result.stdout
    (line,) = [line for line in result.stdout.splitlines() if "[hadoopcli] command" in line]
    assert "/nonexistent/bin/hadoop" in line


def test_an_incomplete_existing_output_is_refused_and_left_alone(tmp_path, node_python):
    os.makedirs(tmp_path / "in")
    (tmp_path / "in" / "a.json").write_bytes(b'{"index": 1, "total": 2}\n')
    os.makedirs(tmp_path / "out")
    (tmp_path / "out" / "someone-elses-file").write_bytes(b"keep me")
    config = write_config(tmp_path, node_python)
    result = luigi_job(tmp_path, TEST_TASK_MR, "out", config)
    assert result.returncode == 2, result.stdout
    assert "OutputError: output exists" in result.stdout
    assert os.listdir(tmp_path / "out") == ["someone-elses-file"]


def test_hdfs_paths_through_hadoops_own_fsshell(tmp_path, node_python):
    """Every `hadoop fs` call answered by Hadoop's real FsShell (from the pyspark wheel, on
    the local file system): the HDFS targets and the publishing as Hadoop's CLI sees them."""
    os.makedirs(tmp_path / "in")
    (tmp_path / "in" / "a.json").write_bytes(b'{"index": 1, "total": 2}\nbad\n')
    config = write_config(tmp_path, node_python)
    log = tmp_path / "argv.jsonl"
    os.makedirs(tmp_path / "results")
    result = luigi_job(
        tmp_path,
        TEST_TASK_MR,
        "results/out",
        config,
        HADOOP_STANDIN_LOG=str(log),
        HADOOP_STANDIN_FSSHELL="1",
    )
    assert result.returncode == 0, result.stdout
    got = published(tmp_path / "results" / "out")
    assert got["records"] == [b'{"index":1,"total":2,"sum_val":3}']
    assert len(got["quarantine"]) == got["counters"]["records"]["bad"] == 1
    assert os.listdir(tmp_path / "results") == ["out"]
    assert {"-stat", "-put", "-mv"} <= {c[2] for c in invocations(log) if c[1] == "fs"}


def test_bad_lines_of_a_task_writing_to_hdfs_go_through_hadoop_fs(tmp_path, monkeypatch):
    """On a cluster the task output directory is an hdfs:// URI: the quarantine is written
    locally and put there with the node's `hadoop` command (found through HADOOP_HOME)."""
    from streamjobs.node_runner import TaskQuarantine

    home = tmp_path / "hadoop-home"
    os.makedirs(home / "bin")
    os.symlink(STANDIN, home / "bin" / "hadoop")
    monkeypatch.setenv("HADOOP_STANDIN_HDFS", str(tmp_path / "hdfs"))
    attempt = "out/_temporary/1/_temporary/attempt_1_0001_m_000003_0"
    os.makedirs(tmp_path / "hdfs" / attempt)
    quarantine = TaskQuarantine(
        {
            "mapreduce_task_output_dir": f"hdfs://namenode:8020/{attempt}",
            "mapreduce_task_partition": "3",
            "HADOOP_HOME": str(home),
            "PATH": "/usr/bin:/bin",
        }
    )
    quarantine.write(b'{"reason": "invalid_json"}\n')
    quarantine.close()
    written = tmp_path / "hdfs" / attempt / "_quarantine" / "part-00003.jsonl"
    assert written.read_bytes() == b'{"reason": "invalid_json"}\n'


def test_a_tar_member_escaping_the_extract_dir_is_refused(tmp_path):
    from streamjobs import node_runner

    archive_path = tmp_path / "code.tar"
    with tarfile.open(archive_path, "w") as archive:
        data = b"print('escaped')\n"
        info = tarfile.TarInfo("streamjobs/../../evil.py")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    target = tmp_path / "a" / "b"
    os.makedirs(target)
    with pytest.raises(node_runner.CodeArchiveError, match="unsafe archive member"):
        node_runner.extract_code(str(archive_path), str(target))
    assert not (tmp_path / "evil.py").exists()


def test_counters_are_read_from_the_last_counter_block():
    from streamjobs.engines.hadoop import HadoopEngineError, job_counters

    printed = """INFO mapred.Task: Final Counters for attempt_local1_0001_m_000000_0: Counters: 2
\trecords
\t\tread=3
\t\twritten=3
INFO mapreduce.Job: Job job_local1_0001 completed successfully
INFO mapreduce.Job: Counters: 5
\tMap-Reduce Framework
\t\tMap input records=7
\trecords
\t\tread=7
\t\twritten=3
\tbad_records
\t\tinvalid_json=2
\t\tnot_finite=1
INFO streaming.StreamJob: Output directory: out-temp"""
    assert job_counters(printed) == {
        "records": {"read": 7, "written": 3, "bad": 0, "blank": 0},
        "bad_records": {"invalid_json": 2, "not_finite": 1},
    }
    with pytest.raises(HadoopEngineError, match="printed no job counters"):
        job_counters("INFO mapreduce.Job: Job job_1_0001 completed successfully\n")


def test_the_local_engine_does_not_import_hadoop_or_boto3():
    code = (
        "import sys, streamjobs.tasks, luigi_hadoop; "
        "print([m in sys.modules for m in ('luigi.contrib.hdfs', 'boto3')])"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([f"{ROOT}/src", f"{ROOT}/jobs"]))
    out = subprocess.check_output([sys.executable, "-c", code], env=env, text=True)
    assert out.strip() == "[False, False]"


class Trickle(io.RawIOBase):
    """A pipe that returns a few bytes per read, as a slow mapper input may."""

    def __init__(self, data: bytes, step: int):
        self.data, self.step = data, step

    def read(self, size=-1):
        chunk, self.data = self.data[: self.step], self.data[self.step :]
        return chunk


@pytest.mark.parametrize("step", [1, 3, 7, 1000])
def test_keyed_input_gives_the_lines_and_the_first_offset(step):
    from streamjobs.node_runner import KeyedInput

    lines = [b"a", b"12\tdigits and a tab", b"", b"x" * 300, b"last, no newline"]
    offsets, position = [], 517
    for line in lines:
        offsets.append(position)
        position += len(line) + 1
    keyed = b"".join(b"%d\t%s\n" % (o, line) for o, line in zip(offsets, lines, strict=True))[:-1]
    stream = KeyedInput(Trickle(keyed, step), block_bytes=16)  # the long line passes through
    assert stream.first_offset() == 517
    data = b"".join(iter(stream.read, b""))
    assert data == b"\n".join(lines)
    assert KeyedInput(Trickle(b"", step)).first_offset() == 0
    # Hadoop dropped a byte-order mark from the first line: the second's offset shows it.
    bom = KeyedInput(Trickle(b"0\tfirst\n9\tsecond\n", step), block_bytes=16)
    assert bom.first_offset() == 0
    assert b"".join(iter(bom.read, b"")) == b"\xef\xbb\xbffirst\nsecond\n"


CLUSTER_PATHS_PROBE = """
from luigi.contrib.hdfs import hadoopcli_clients
from streamjobs.cluster_paths import HdfsOutputDirectory
from streamjobs.paths import OutputError, output_target

target = output_target("results/out", "hadoop")
assert isinstance(target, HdfsOutputDirectory) and target.path == "results/out"
assert isinstance(target.fs, hadoopcli_clients.HdfsClient)
assert type(output_target("s3://bucket/out", "hadoop")).__name__ == "S3FlagTarget"
try:
    output_target("file:///tmp/out", "hadoop")
except OutputError as exc:
    print(exc)
"""


def test_cluster_paths_refuse_this_machines_files_and_accept_any_hadoop_version(tmp_path):
    config = write_config(tmp_path, sys.executable)  # [hadoop] version = hadoop3
    env = dict(os.environ, LUIGI_CONFIG_PATH=config)
    env["PYTHONPATH"] = os.pathsep.join([f"{ROOT}/src", f"{ROOT}/jobs"])
    out = subprocess.run(
        [sys.executable, "-c", CLUSTER_PATHS_PROBE], env=env, text=True, capture_output=True
    )
    assert out.returncode == 0, out.stderr
    assert "file:// names each node's own disk" in out.stdout


SCRIPT_JOB = '''"""A job defined in the script that runs it."""
import luigi

import streamjobs


class Upper(streamjobs.TextJobTask):
    def mapper(self, line):
        yield line.upper()


if __name__ == "__main__":
    luigi.run()
'''


def test_a_job_defined_in_the_script_that_runs_it(tmp_path, node_python):
    (tmp_path / "upper_job.py").write_text(SCRIPT_JOB)
    os.makedirs(tmp_path / "in")
    (tmp_path / "in" / "a.txt").write_bytes(b"one\ntwo\n")
    config = write_config(tmp_path, node_python)
    args = ["upper_job.py", "Upper", "--input-path", "in", "--output-path", "out"]
    result = subprocess.run(
        [sys.executable, *args, "--local-scheduler"],
        cwd=tmp_path,
        env=dict(os.environ, LUIGI_CONFIG_PATH=config),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert published(tmp_path / "out")["records"] == [b"ONE", b"TWO"]


def running_with(text: str) -> list[int]:
    """Processes whose command line holds ``text``."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as stream:
                if text.encode() in stream.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def test_sigterm_kills_the_job_and_publishes_nothing(tmp_path, node_python):
    """On a cluster a job runs on when its client stops: an interrupted run kills it."""
    os.makedirs(tmp_path / "in")
    (tmp_path / "in" / "a.txt").write_bytes(b"one\n")
    config = write_config(tmp_path, node_python)
    log = tmp_path / "argv.jsonl"
    args = ["--module", "failing_jobs", "SlowJob", "--input-path", "in", "--output-path", "out"]
    process = subprocess.Popen(
        [sys.executable, "-m", "luigi", *args, "--local-scheduler"],
        cwd=tmp_path,
        env=luigi_env(LUIGI_CONFIG_PATH=config, PYTHONPATH=FIXTURES, HADOOP_STANDIN_LOG=str(log)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not [n for n in os.listdir(tmp_path) if n.startswith(".out.tmp-")]:
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.1)
        time.sleep(1)  # the task is running
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 2, output
    assert "Interrupted: interrupted by SIGTERM; nothing was published" in output
    assert sorted(os.listdir(tmp_path)) == [
        "argv.jsonl",
        "hadoop-streaming.jar",
        "hadoop-test.cfg",
        "in",
    ]
    (jar,) = [call for call in invocations(log) if call[1] == "jar"]
    kills = [call for call in invocations(log) if call[1] == "job"]
    assert len(kills) == 1 and kills[0][2] == "-kill" and kills[0][3].startswith("job_")
    assert f"killed Hadoop job {kills[0][3]}" in output
    runner = os.path.basename(jar[jar.index("-files") + 1].split(",")[0])
    assert running_with(runner) == []  # the map task was killed with the job
