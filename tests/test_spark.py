"""The Spark engine on a real pyspark ``local[2]``: the local engine's records, counters and
quarantine, published the same way.

Each Spark run starts a JVM and a SparkContext (5-30 s here), so the runs are few and each
checks much; the command line and the shipped files are checked without starting Spark.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import sys
import uuid
import venv
import zipfile

import luigi.configuration
import pytest

from streamjobs.engines.local import LocalEngine
from streamjobs.engines.spark import SparkEngine, SparkEngineError, SparkSubmission
from streamjobs.generate import sales_line, write_file
from streamjobs.spec import JobSpec
from streamjobs.tools.local_luigid import LocalLuigid
from tests.conftest import ROOT, run_luigi
from tests.oracle import canonical, expected

# Small splits, so that the large files span several Spark tasks and lines cross splits.
# No web UI and a quick-starting driver JVM: these runs are short.
SPARK_TEST_CONFIG = """\
[spark]
master = local[2]
conf = spark.ui.enabled=false
driver_java_options = -XX:TieredStopAtLevel=1 -XX:+UseSerialGC
[streaming]
split_mb = 1
"""
SPLIT_BYTES = 1 << 20

CRLF_AND_BAD = (
    b'{"index": 1.5, "total": 1}\r\n'
    b"not json\r\n"
    b"  \r\n"
    b'{"index": 2, "total": 0.5, "name": "caf\xc3\xa9"}\r\n'
    b'{"index": 1, "total": "1"}\n'
    b'{"index": 1e308, "total": 1e308}\n'
    b'{"index": 3, "total": 3}'  # no final newline
)
GZIPPED = (
    b'{"index": 2, "total": 2}\n'
    b"[1, 2]\n"
    b"\xff\xfe\n"
    b'{"index": 0}\n'
    b'{"index": 5, "total": 5, "sum_val": "old"}'
)
REASONS = {
    "invalid_json": 1,
    "not_a_number": 1,
    "not_finite": 1,
    "invalid_utf8": 1,
    "not_an_object": 1,
    "missing_field": 1,
}


@pytest.fixture(scope="module")
def spark_data(tmp_path_factory):
    """Input files (two of several splits each, CRLF, gzip, bad lines), their contents and
    the Spark test configuration."""
    root = tmp_path_factory.mktemp("spark")
    data = root / "data"
    data.mkdir()
    for number in range(2):
        write_file(str(data / f"dat_{number}.json"), 30_000, seed=number)
    (data / "crlf.json").write_bytes(CRLF_AND_BAD)
    (data / "z.json.gz").write_bytes(gzip.compress(GZIPPED))
    (data / "_ignored").write_bytes(b"not input\n")
    contents = [
        GZIPPED if path.suffix == ".gz" else path.read_bytes()
        for path in sorted(data.iterdir())
        if not path.name.startswith("_")
    ]
    config = root / "spark.cfg"
    config.write_text(SPARK_TEST_CONFIG)
    return root, data, contents, str(config)


def local_reference(task, data, output):
    """The local engine's output for the same job, input and split size."""
    spec = JobSpec.of_task(task, [str(data)], str(output), split_bytes=SPLIT_BYTES)
    LocalEngine(spec, processes=1, progress=False).run()
    return output


def read_records(directory) -> list[dict]:
    records = []
    for name in sorted(os.listdir(directory)):
        if name.startswith("part-"):
            with open(os.path.join(directory, name), "rb") as part:
                records.extend(json.loads(line) for line in part)
    return records


def quarantine(directory) -> list[dict]:
    entries = []
    folder = os.path.join(directory, "_quarantine")
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name)) as lines:
            entries.extend(json.loads(line) for line in lines)
    return entries


def assert_same_output(output, reference):
    """The same files, part for part (the same splits), counters and quarantine."""
    names = sorted(os.listdir(reference))
    assert sorted(os.listdir(output)) == names
    for name in names:
        if name != "_quarantine":
            assert (output / name).read_bytes() == (reference / name).read_bytes(), name
    assert quarantine(output) == quarantine(reference)


def no_staging_left(root) -> bool:
    return not [name for name in os.listdir(root) if name.startswith(".")]


def run_spark_job(module: str, task: str, data, output, config: str, *extra: str):
    return run_luigi(
        ["--module", module, task, "--local-scheduler", *extra]
        + ["--input-path", str(data), "--output-path", str(output)],
        cwd=output.parent,
        LUIGI_CONFIG_PATH=config,
    )


def test_pyspark_task_equals_the_local_engine(spark_data):
    from luigi_hadoop import TestTaskMR

    root, data, contents, config = spark_data
    output = root / "out_ps"
    result = run_spark_job("luigi_pyspark", "TestTaskPS", data, output, config)
    assert result.returncode == 0, result.stdout
    assert "on Spark" in result.stdout and "spark-submit" in result.stdout

    kept, _ = expected(contents, 1.99)
    assert canonical(read_records(output)) == canonical(kept)
    counters = json.loads((output / "_COUNTERS.json").read_text())
    assert counters["bad_records"] == REASONS
    assert (output / "_SUCCESS").exists()
    reference = local_reference(TestTaskMR(), data, root / "out_ps_local")
    assert len([name for name in os.listdir(output) if name.startswith("part-")]) > 4
    assert_same_output(output, reference)
    sources = {entry["source"] for entry in quarantine(output)}
    assert sources == {str(data / "crlf.json"), str(data / "z.json.gz")}
    assert no_staging_left(root)


def test_too_many_bad_records_publishes_nothing(spark_data):
    root, data, _, config = spark_data
    output = root / "out_refused"
    result = run_spark_job(
        "luigi_pyspark", "TestTaskPS", data, output, config, "--max-bad-records", "5"
    )
    assert result.returncode == 2, result.stdout
    assert "TooManyBadRecords: more than --max-bad-records 5: 6 bad records" in result.stdout
    assert "Traceback" not in result.stdout
    assert not output.exists()
    assert no_staging_left(root)


def test_user_json_job_reports_the_spark_ui_to_luigid(tmp_path, monkeypatch):
    """A user's job from its own directory (shipped with the submission), run through a
    central scheduler with Spark's web UI on: the UI's address is the task's tracking URL."""
    monkeypatch.syspath_prepend(os.path.join(ROOT, "examples"))
    from sales_job import SalesOver

    shutil.copy(os.path.join(ROOT, "examples", "sales_job.py"), tmp_path)
    data = tmp_path / "sales"
    data.mkdir()
    write_file(str(data / "sales-0.json"), 3000, seed=7, line=sales_line)
    (data / "bad.json").write_bytes(b'{"price": 500, "qty": "x"}\n{"qty": 2}\n')
    config = tmp_path / "ui.cfg"
    config.write_text(SPARK_TEST_CONFIG.replace("conf = spark.ui.enabled=false\n", ""))
    output = tmp_path / "out_sales"
    with LocalLuigid(str(tmp_path / "luigid")) as luigid:
        result = run_luigi(
            ["--module", "sales_job", "SalesOver", "--engine", "spark"]
            + ["--scheduler-host", "127.0.0.1", "--scheduler-port", str(luigid.port)]
            + ["--input-path", str(data), "--output-path", str(output)],
            cwd=tmp_path,
            LUIGI_CONFIG_PATH=str(config),
        )
        done = luigid.task_list("DONE")
    assert result.returncode == 0, result.stdout
    assert "streamjobs: Spark UI at http://" in result.stdout
    (task,) = [task for task in done.values() if task["name"] == "SalesOver"]
    assert task["tracking_url"].startswith("http://")
    assert task["tracking_url"] in result.stdout
    reference = local_reference(SalesOver(), data, tmp_path / "out_local")
    assert_same_output(output, reference)
    counters = json.loads((output / "_COUNTERS.json").read_text())
    assert counters["bad_records"] == {"not_a_number": 1, "missing_field": 1}
    assert counters["records"]["written"] > 0


def test_text_job(tmp_path, spark_data, monkeypatch):
    monkeypatch.syspath_prepend(os.path.join(ROOT, "examples"))
    from error_lines import ErrorLines

    config = spark_data[3]
    data = tmp_path / "logs"
    data.mkdir()
    (data / "a.log").write_bytes(b"INFO: fine\r\nERROR: disk full\r\nERROR:\tbad \xff\nWARN: x")
    (data / "b.log.gz").write_bytes(gzip.compress(b"ERROR: one\nERROR two\n"))
    output = tmp_path / "out_errors"
    result = run_luigi(
        ["--module", "error_lines", "ErrorLines", "--local-scheduler", "--engine", "spark"]
        + ["--input-path", str(data), "--output-path", str(output)],
        cwd=tmp_path,
        LUIGI_CONFIG_PATH=config,
        PYTHONPATH=os.pathsep.join(
            [os.path.join(ROOT, "examples"), os.path.join(ROOT, "src"), os.path.join(ROOT, "jobs")]
        ),
    )
    assert result.returncode == 0, result.stdout
    reference = local_reference(ErrorLines(), data, tmp_path / "out_local")
    assert_same_output(output, reference)
    written = b"".join((output / name).read_bytes() for name in ("part-00000", "part-00001"))
    assert sorted(written.splitlines()) == [b"ERROR\tdisk full", b"ERROR\tone", b"ERROR two\t"]
    (entry,) = quarantine(output)
    assert (entry["reason"], entry["line"], entry["source"]) == (
        "invalid_utf8",
        3,
        str(data / "a.log"),
    )


@pytest.mark.parametrize(
    "setting, environment, message",
    [
        (
            "spark_submit = /nonexistent/spark-submit",
            {},
            "ToolMissing: spark-submit not found (/nonexistent/spark-submit, set in [spark] "
            "spark_submit): install pyspark (pip install 'streamjobs[spark]')",
        ),
        (
            "",
            {"PATH": "/nonexistent", "JAVA_HOME": ""},
            "ToolMissing: java not found: Spark needs Java 17 or later",
        ),
    ],
)
def test_missing_tool_is_one_line(tmp_path, setting, environment, message):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.json").write_bytes(b'{"index": 1, "total": 2}\n')
    config = tmp_path / "missing.cfg"
    config.write_text(f"[spark]\n{setting}\n")
    result = run_luigi(
        ["--module", "luigi_pyspark", "TestTaskPS", "--local-scheduler", "--input-path", "data"],
        cwd=tmp_path,
        timeout=120,
        LUIGI_CONFIG_PATH=str(config),
        **environment,
    )
    assert result.returncode == 2, result.stdout
    failure = [line for line in result.stdout.splitlines() if "ToolMissing" in line]
    assert len(failure) == 1 and message in failure[0], result.stdout
    assert "Traceback" not in result.stdout
    assert sorted(os.listdir(tmp_path)) == ["data", "missing.cfg"]


@pytest.fixture
def spark_config():
    """Set ``[spark]`` keys in this process's Luigi config; restored afterwards."""
    config = luigi.configuration.get_config()
    saved = dict(config.items("spark")) if config.has_section("spark") else None

    def set_keys(**keys):
        if not config.has_section("spark"):
            config.add_section("spark")
        for key, value in keys.items():
            config.set("spark", key, value)

    yield set_keys
    config.remove_section("spark")
    if saved is not None:
        config.add_section("spark")
        for key, value in saved.items():
            config.set("spark", key, value)


def option_pairs(command: list[str]) -> list[tuple[str, str]]:
    return list(zip(command[:-1], command[1:], strict=True))


def test_submit_command_follows_luigi_cfg(spark_config, tmp_path):
    spark_config(
        master="spark://head:7077",
        deploy_mode="client",
        spark_submit="/opt/spark/bin/spark-submit",
        conf="spark.executor.memory=4g|spark.ui.enabled=false",
        py_files="/opt/lib/helpers.zip",
    )
    submission = SparkSubmission(workdir=str(tmp_path), app_name="TestTaskPS out")
    command = submission.command()
    assert command[:5] == [
        "/opt/spark/bin/spark-submit",
        "--master",
        "spark://head:7077",
        "--deploy-mode",
        "client",
    ]
    pairs = option_pairs(command)
    assert ("--py-files", f"/opt/lib/helpers.zip,{tmp_path / 'code.zip'}") in pairs
    assert ("--conf", "spark.executor.memory=4g") in pairs
    assert command[-2:] == [str(tmp_path / "streamjobs-spark-app.py"), str(tmp_path / "spec.json")]
    # A cluster's nodes have their own Python unless [spark] pyspark_python names one.
    assert "spark.pyspark.python" not in " ".join(command)
    spark_config(pyspark_python="/usr/bin/python3")
    assert ("--conf", "spark.pyspark.python=/usr/bin/python3") in option_pairs(submission.command())
    environment = submission.get_environment()
    assert environment.get("SPARK_LOCAL_IP") == os.environ.get("SPARK_LOCAL_IP")

    spark_config(deploy_mode="cluster")
    spec = JobSpec("luigi_hadoop:TestTaskMR", {}, [str(tmp_path)], str(tmp_path / "out"))
    with pytest.raises(SparkEngineError, match="deploy_mode = cluster is not supported"):
        SparkEngine(spec).run()


def test_local_master_pins_this_python_and_loopback(spark_config, tmp_path):
    spark_config(master="local[2]")
    submission = SparkSubmission(workdir=str(tmp_path))
    command = " ".join(submission.command())
    assert f"spark.pyspark.python={sys.executable}" in command
    assert f"spark.pyspark.driver.python={sys.executable}" in command
    environment = submission.get_environment()
    assert environment["SPARK_LOCAL_IP"] == os.environ.get("SPARK_LOCAL_IP", "127.0.0.1")


def test_submission_ships_the_spec_and_python_source_only(tmp_path, monkeypatch):
    from luigi_pyspark import TestTaskPS

    secret = uuid.uuid4().hex
    (tmp_path / "luigi.cfg").write_text(f"[s3]\naws_secret_access_key = {secret}\n")
    monkeypatch.setenv("LUIGI_CONFIG_PATH", str(tmp_path / "luigi.cfg"))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    task = TestTaskPS(threshold=1.5)
    spec = JobSpec.of_task(task, ["data"], str(tmp_path / "out"))
    workdir = tmp_path / "ship"
    workdir.mkdir()
    shipped = SparkEngine(spec).ship(str(workdir), str(tmp_path / ".out.tmp"))
    assert sorted(os.listdir(workdir)) == ["code.zip", "spec.json", "streamjobs-spark-app.py"]
    with zipfile.ZipFile(workdir / "code.zip") as archive:
        names = archive.namelist()
        content = b"".join(archive.read(name) for name in names)
    assert all(name.endswith(".py") for name in names)
    assert {"streamjobs/job.py", "streamjobs/engines/spark_app.py", "luigi_pyspark.py"} <= set(
        names
    )
    assert "luigi_hadoop.py" in names  # TestTaskPS's base class, imported by its module
    assert secret.encode() not in content
    spec_text = (workdir / "spec.json").read_text()
    assert secret not in spec_text
    assert JobSpec.from_json(spec_text) == shipped
    assert shipped.params["threshold"] == "1.5"
    # Absolute paths: the driver and executors do not share this working directory.
    assert shipped.inputs == [os.path.abspath("data")]
    assert shipped.output == str(tmp_path / ".out.tmp")


def test_nodes_without_the_jobs_requirements_fail_in_one_line(spark_data, tmp_path):
    """A Spark Python (``[spark] pyspark_python``) without the ``node`` extra (Luigi, which
    the job's module imports, and msgspec): the run fails naming why, publishing nothing."""
    root, data, _, config = spark_data
    venv.EnvBuilder(system_site_packages=False, with_pip=False, symlinks=True).create(
        tmp_path / "bare"
    )
    node_python = tmp_path / "bare" / "bin" / "python"
    node_config = root / "node.cfg"
    node_config.write_text(
        SPARK_TEST_CONFIG.replace("[spark]\n", f"[spark]\npyspark_python = {node_python}\n")
    )
    output = root / "out_node"
    result = run_spark_job("luigi_pyspark", "TestTaskPS", data, output, str(node_config))
    assert result.returncode == 2, result.stdout
    failure = [line for line in result.stdout.splitlines() if "SparkEngineError" in line]
    assert len(failure) == 1, result.stdout
    assert "ModuleNotFoundError: No module named" in failure[0]
    assert "nothing was published" in failure[0]
    assert not output.exists()
    assert no_staging_left(root)


def test_s3_input_and_output_on_local_master(spark_data, s3_server):
    """s3:// input and output on local[2]: the executors read S3 with the same [s3]
    settings, the output is published to S3 as the local engine publishes it."""
    import boto3

    root, data, _, _ = spark_data
    store = boto3.client("s3", **s3_server.boto3_options())
    bucket = "spark-" + uuid.uuid4().hex[:8]
    store.create_bucket(Bucket=bucket)
    for name in ("crlf.json", "z.json.gz"):
        store.upload_file(str(data / name), bucket, f"in/{name}")
    config = root / "s3.cfg"
    config.write_text(s3_server.luigi_config() + SPARK_TEST_CONFIG)
    result = run_luigi(
        ["--module", "luigi_pyspark", "TestTaskPS", "--local-scheduler"]
        + ["--input-path", f"s3://{bucket}/in/", "--output-path", f"s3://{bucket}/out"],
        cwd=root,
        LUIGI_CONFIG_PATH=str(config),
    )
    assert result.returncode == 0, result.stdout
    listed = store.list_objects_v2(Bucket=bucket)["Contents"]
    objects = {
        item["Key"]: store.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        for item in listed
    }
    reference = root / "out_s3_reference"
    reference.mkdir()
    for name in ("crlf.json", "z.json.gz"):
        shutil.copy(data / name, reference / name)
    from luigi_hadoop import TestTaskMR

    local = local_reference(TestTaskMR(), reference, root / "out_s3_local")
    expected_objects = {
        f"out/{path.relative_to(local)}": path.read_bytes()
        for path in local.rglob("*")
        if path.is_file() and path.parent.name != "_quarantine"
    }
    assert {key: value for key, value in objects.items() if "_quarantine" not in key} == {
        "in/crlf.json": (data / "crlf.json").read_bytes(),
        "in/z.json.gz": (data / "z.json.gz").read_bytes(),
        **expected_objects,
    }
    sources = [
        json.loads(line)["source"]
        for key, value in objects.items()
        if key.startswith("out/_quarantine/")
        for line in value.splitlines()
    ]
    assert (
        sorted(sources) == [f"s3://{bucket}/in/crlf.json"] * 3 + [f"s3://{bucket}/in/z.json.gz"] * 3
    )


NODE_ONLY_FAILURE = """\
import sys

from luigi_hadoop import TestTaskMR


class FailsOnNodes(TestTaskMR):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "pyspark" in sys.modules:  # on a Spark executor
            raise RuntimeError("no licence server on this node")
"""


def test_a_job_that_cannot_be_rebuilt_on_the_executors(spark_data, tmp_path):
    """The executor's error is the failure line; its traceback is logged; nothing is
    published."""
    _, data, _, config = spark_data
    (tmp_path / "node_failure.py").write_text(NODE_ONLY_FAILURE)
    output = tmp_path / "out"
    engine = ("--engine", "spark")
    result = run_spark_job("node_failure", "FailsOnNodes", data, output, config, *engine)
    assert result.returncode == 2, result.stdout
    failure = [line for line in result.stdout.splitlines() if "SparkEngineError" in line]
    assert len(failure) == 1, result.stdout
    assert "RuntimeError: no licence server on this node (split " in failure[0]
    assert "streamjobs: a Spark task failed:\nTraceback" in result.stdout
    assert 'node_failure.py", line 10, in __init__' in result.stdout
    assert not output.exists()
    assert no_staging_left(tmp_path)
