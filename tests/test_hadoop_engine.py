"""The Hadoop engine end to end: ``luigi --module luigi_hadoop TestTaskMR`` with
``[streaming] engine = hadoop`` and ``[hadoop] command`` set to the stand-in under
tests/hadoop_standin/ (Hadoop Streaming's contract, run on this machine), whose map tasks
run a node Python that has the declared node dependencies and neither Luigi nor this
project."""

from __future__ import annotations

import glob
import gzip
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile

import pytest

from tests.conftest import ROOT, run_luigi
from tests.oracle import canonical, expected

STANDIN = os.path.join(ROOT, "tests", "hadoop_standin", "hadoop")
FIXTURES = os.path.join(ROOT, "tests", "hadoop_fixtures")


def write_config(directory, node_python: str, extra: str = "") -> str:
    jar = os.path.join(directory, "hadoop-streaming.jar")
    open(jar, "wb").close()
    path = os.path.join(directory, "hadoop-test.cfg")
    with open(path, "w") as out:
        out.write(
            f"[streaming]\nengine = hadoop\n\n[hadoop]\ncommand = {STANDIN}\n"
            f"streaming-jar = {jar}\npython-executable = {node_python}\nversion = hadoop3\n" + extra
        )
    return path


def sample_files() -> dict[str, bytes]:
    """Good, filtered, bad and blank lines; CRLF; a last line without newline; gzip."""
    lines = []
    for i in range(3000):
        index, total = (i % 17) / 10, (i % 13) / 7
        lines.append(json.dumps({"index": index, "total": total, "id": i, "tag": "é"}))
    lines[10:10] = ["", "not json", '{"index": 1}', "[1,2]", '{"index": true, "total": 3}', "  "]
    plain = ("\n".join(lines[:1500]) + "\n").encode()
    crlf = ("\r\n".join(lines[1500:2200]) + "\r\n").encode()
    last = "\n".join(lines[2200:]).encode()  # no final newline
    return {"a.jsonl": plain, "b.jsonl": crlf, "c.jsonl.gz": gzip.compress(last)}


def write_inputs(directory, files: dict[str, bytes]) -> None:
    os.makedirs(directory)
    for name, data in files.items():
        with open(os.path.join(directory, name), "wb") as out:
            out.write(data)


def read_output(directory) -> list[bytes]:
    lines = []
    for part in sorted(glob.glob(os.path.join(directory, "part-*"))):
        with open(part, "rb") as stream:
            lines += stream.read().splitlines()
    return lines


def raw_contents(files: dict[str, bytes]) -> list[bytes]:
    return [gzip.decompress(d) if n.endswith(".gz") else d for n, d in files.items()]


def invocations(log_path) -> list[list[str]]:
    with open(log_path) as stream:
        return [json.loads(line) for line in stream]


def leftovers(directory, name="out") -> list[str]:
    return sorted(n for n in os.listdir(directory) if n.startswith(name) and n != name)


def test_plain_and_gz_inputs_give_the_oracles_records_and_counters(tmp_path, node_python):
    files = sample_files()
    write_inputs(tmp_path / "in", files)
    config = write_config(tmp_path, node_python)
    log = tmp_path / "argv.jsonl"
    args = ["--module", "luigi_hadoop", "TestTaskMR", "--input-path", "in"]
    args += ["--output-path", "out", "--local-scheduler"]
    result = run_luigi(args, tmp_path, LUIGI_CONFIG_PATH=config, HADOOP_STANDIN_LOG=str(log))
    assert result.returncode == 0, result.stdout

    lines = read_output(tmp_path / "out")
    assert lines and not any(line.endswith(b"\t") for line in lines)  # no TextOutputFormat tab
    kept, counts = expected(raw_contents(files), 1.99)
    assert canonical(json.loads(line) for line in lines) == canonical(kept)
    with open(tmp_path / "out" / "_COUNTERS.json") as stream:
        counters = json.load(stream)
    assert counters["records"] == {
        "read": sum(counts.values()),
        "written": counts["kept"],
        "bad": counts["bad"],
        "blank": counts["blank"],
    }
    assert sum(counters["bad_records"].values()) == counts["bad"]
    assert os.path.exists(tmp_path / "out" / "_SUCCESS")
    assert leftovers(tmp_path) == []

    calls = invocations(log)
    (jar,) = [c for c in calls if c[1] == "jar"]
    temporary = jar[jar.index("-output") + 1]
    assert re.fullmatch(r"out-temp-\d{4}-\d\d-\d\dT[\d.-]+", temporary)
    confs = [jar[i + 1] for i, arg in enumerate(jar) if arg == "-D"]
    assert "mapred.reduce.tasks=0" in confs
    assert "mapreduce.output.textoutputformat.separator=" in confs
    assert jar[jar.index("-mapper") + 1] == f"{node_python} mrrunner.py map"
    shipped = sorted(os.path.basename(jar[i + 1]) for i, a in enumerate(jar) if a == "-file")
    assert shipped == ["job-instance.pickle", "mrrunner.py", "packages.tar"]
    assert jar[jar.index("-input") + 1] == "in"
    assert ["hadoop", "fs", "-mv", temporary, "out"] in calls
    assert calls.index(jar) < calls.index(["hadoop", "fs", "-mv", temporary, "out"])

    # Complete output: a second run submits nothing.
    again = run_luigi(args, tmp_path, LUIGI_CONFIG_PATH=config, HADOOP_STANDIN_LOG=str(log))
    assert again.returncode == 0, again.stdout
    assert sum(c[1] == "jar" for c in invocations(log)) == 1


def test_a_failing_mapper_fails_luigi_shows_its_traceback_and_leaves_nothing(tmp_path, node_python):
    write_inputs(tmp_path / "in", {"a.jsonl": b'{"index": 1, "total": 2}\n'})
    for name in os.listdir(FIXTURES):
        if name.endswith(".py"):
            shutil.copy(os.path.join(FIXTURES, name), tmp_path)
    config = write_config(tmp_path, node_python)
    args = ["--module", "failing_jobs", "ExplodingJob", "--input-path", "in"]
    result = run_luigi(
        args + ["--output-path", "out", "--local-scheduler"], tmp_path, LUIGI_CONFIG_PATH=config
    )
    assert result.returncode == 2, result.stdout  # [retcode] task_failed
    assert "Traceback (most recent call last)" in result.stdout
    assert "RuntimeError: mapper exploded on purpose in file:" in result.stdout
    assert "LookupError" not in result.stdout  # luigi's Python 2 error path not involved
    assert not os.path.exists(tmp_path / "out")
    assert leftovers(tmp_path) == []


def test_an_incomplete_existing_output_is_refused_and_left_alone(tmp_path, node_python):
    write_inputs(tmp_path / "in", {"a.jsonl": b'{"index": 1, "total": 2}\n'})
    os.makedirs(tmp_path / "out")
    (tmp_path / "out" / "someone-elses-file").write_bytes(b"keep me")
    config = write_config(tmp_path, node_python)
    args = ["--module", "luigi_hadoop", "TestTaskMR", "--input-path", "in"]
    result = run_luigi(
        args + ["--output-path", "out", "--local-scheduler"], tmp_path, LUIGI_CONFIG_PATH=config
    )
    assert result.returncode == 2, result.stdout
    assert "FileAlreadyExists" in result.stdout
    assert os.listdir(tmp_path / "out") == ["someone-elses-file"]
    assert leftovers(tmp_path) == []


def test_no_credentials_are_shipped_to_the_cluster(tmp_path, node_python):
    config_secret, env_secret = "cfg-secret-7f3a9c1e", "env-secret-4b8d2e6f"
    write_inputs(tmp_path / "in", {"a.jsonl": b'{"index": 1, "total": 2}\n'})
    config = write_config(
        tmp_path,
        node_python,
        f"\n[s3]\naws_access_key_id = AKIDTEST\naws_secret_access_key = {config_secret}\n",
    )
    shipped = tmp_path / "shipped"
    args = ["--module", "luigi_hadoop", "TestTaskMR", "--input-path", "in"]
    result = run_luigi(
        args + ["--output-path", "out", "--local-scheduler"],
        tmp_path,
        LUIGI_CONFIG_PATH=config,
        HADOOP_STANDIN_SHIPPED=str(shipped),
        AWS_SECRET_ACCESS_KEY=env_secret,
    )
    assert result.returncode == 0, result.stdout
    assert sorted(os.listdir(shipped)) == ["job-instance.pickle", "mrrunner.py", "packages.tar"]
    contents = []
    for path in glob.glob(str(shipped / "**"), recursive=True):
        if os.path.isfile(path):
            with open(path, "rb") as stream:
                contents.append(stream.read())
    with tarfile.open(shipped / "packages.tar") as archive:
        names = archive.getnames()
        for member in archive.getmembers():
            if member.isfile():
                contents.append(archive.extractfile(member).read())
    assert not [n for n in names if n.endswith((".cfg", ".ini", ".toml", ".env"))]
    assert "luigi_hadoop.py" in names and "streamjobs/node_runner.py" in names
    for secret in (config_secret, env_secret):
        assert not any(secret.encode() in data for data in contents)
    with open(shipped / "job-instance.pickle") as stream:
        spec = json.load(stream)
    assert spec == {
        "format": 1,
        "mapper": "streamjobs.records:ThresholdFilter",
        "kwargs": {"threshold": 1.99},
        "packages": ["streamjobs"],
    }


def test_hdfs_targets_against_hadoops_own_fsshell(tmp_path, node_python):
    """The same job with every `hadoop fs` call answered by Hadoop's real FsShell (from the
    pyspark wheel, on the local file system): the HdfsTarget path as Hadoop's CLI sees it."""
    files = {"a.jsonl": sample_files()["a.jsonl"], "c.jsonl.gz": sample_files()["c.jsonl.gz"]}
    write_inputs(tmp_path / "in", files)
    config = write_config(tmp_path, node_python)
    log = tmp_path / "argv.jsonl"
    args = ["--module", "luigi_hadoop", "TestTaskMR", "--input-path", "in/*.json*"]
    result = run_luigi(
        args + ["--output-path", "results/out", "--local-scheduler"],
        tmp_path,
        LUIGI_CONFIG_PATH=config,
        HADOOP_STANDIN_LOG=str(log),
        HADOOP_STANDIN_FSSHELL="1",
    )
    assert result.returncode == 0, result.stdout
    kept, _ = expected(raw_contents(files), 1.99)
    assert canonical(json.loads(x) for x in read_output(tmp_path / "results" / "out")) == (
        canonical(kept)
    )
    assert os.path.exists(tmp_path / "results" / "out" / "_COUNTERS.json")
    assert leftovers(tmp_path / "results") == []
    fs_commands = {c[2] for c in invocations(log) if c[1] == "fs"}
    assert {"-stat", "-put", "-mv"} <= fs_commands


def test_the_local_engine_does_not_import_hadoop_or_boto3():
    code = (
        "import sys, streamjobs.tasks, luigi_hadoop; "
        "print([m in sys.modules for m in ('luigi.contrib.hadoop', 'boto3')])"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([f"{ROOT}/src", f"{ROOT}/jobs"]))
    out = subprocess.check_output([sys.executable, "-c", code], env=env, text=True)
    assert out.strip() == "[False, False]"


def test_a_tar_member_escaping_the_extract_dir_is_refused(tmp_path, monkeypatch):
    from streamjobs import node_runner

    monkeypatch.chdir(tmp_path)
    with tarfile.open("packages.tar", "w") as archive:
        data = b"print('escaped')\n"
        info = tarfile.TarInfo("streamjobs/../../evil.py")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    with pytest.raises(node_runner.SpecError, match="unsafe member"):
        node_runner.extract_packages(["streamjobs"])
    assert not (tmp_path.parent / "evil.py").exists()


def test_counters_are_read_from_the_clients_counter_block():
    from streamjobs.engines.hadoop import job_counters

    printed = """INFO mapreduce.Job: Job job_1_0001 completed successfully
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


def test_missing_counters_are_an_error_not_zeros():
    from streamjobs.engines.hadoop import CountersMissing, job_counters

    with pytest.raises(CountersMissing):
        job_counters("INFO mapreduce.Job: Job job_1_0001 completed successfully\n")


CLUSTER_PATHS_PROBE = """
from luigi.contrib.hdfs import hadoopcli_clients
from streamjobs.cluster_paths import HdfsOutputDirectory
from streamjobs.paths import LocalOutputDirectory, OutputError, output_target

target = output_target("results/out", "hadoop")
assert isinstance(target, HdfsOutputDirectory) and target.path == "results/out"
assert isinstance(target.fs, hadoopcli_clients.HdfsClient)
assert type(output_target("s3://bucket/out", "hadoop")).__name__ == "S3FlagTarget"
assert isinstance(output_target("out", "local"), LocalOutputDirectory)
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


def test_a_client_that_prints_no_counters_still_publishes_the_records(tmp_path, node_python):
    """A cluster whose client log lacks the counter block (a log level below INFO, say):
    the records are published, without a _COUNTERS.json that would have to be guessed."""
    files = sample_files()
    write_inputs(tmp_path / "in", files)
    quiet = tmp_path / "quiet-hadoop"
    quiet.write_text(
        "#!/usr/bin/env bash\n"
        "# The stand-in, with the job-end counter block filtered out of its stderr.\n"
        f'"{STANDIN}" "$@" 2> >(grep -v -e "Counters:" -e "=[0-9]*$" >&2)\n'
    )
    quiet.chmod(0o755)
    config = tmp_path / "quiet.cfg"
    with open(write_config(tmp_path, node_python)) as original:
        config.write_text(original.read().replace(f"command = {STANDIN}", f"command = {quiet}"))
    args = ["--module", "luigi_hadoop", "TestTaskMR", "--input-path", "in"]
    args += ["--output-path", "out", "--local-scheduler"]
    result = run_luigi(args, tmp_path, LUIGI_CONFIG_PATH=str(config))
    assert result.returncode == 0, result.stdout
    assert "printed no job counters" in result.stdout
    kept, _ = expected(raw_contents(files), 1.99)
    assert canonical(json.loads(line) for line in read_output(tmp_path / "out")) == canonical(kept)
    assert sorted(n for n in os.listdir(tmp_path / "out") if n.startswith("_")) == ["_SUCCESS"]
    assert leftovers(tmp_path) == []
