"""The Spark engine on a real pyspark ``local[*]``: the same records, counters and layout.

Each Spark run starts a JVM and a SparkContext (15-30 s here), so the runs are few and
each checks much.
"""

from __future__ import annotations

import gzip
import json
import os
import sys

import luigi.configuration
import pytest

from streamjobs.engines.local import LocalEngine
from streamjobs.engines.spark import SparkSubmission
from streamjobs.generate import write_file
from streamjobs.records import ThresholdFilter
from tests.conftest import run_luigi
from tests.oracle import canonical, expected

# Small splits, so that the large files span several Spark tasks and lines cross splits.
# No web UI and a quick-starting driver JVM: these runs are short (a third less time here).
SPARK_TEST_CONFIG = """\
[spark]
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
    b'{"index": 0, "total": 0}\n'
    b"\xff\xfe\n"
    b'{"index": 5, "total": 5, "sum_val": "old"}'
)


@pytest.fixture(scope="module")
def spark_data(tmp_path_factory):
    """Input files (two of several splits each, CRLF, gzip, bad lines) and their bytes."""
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


def local_engine_output(data, directory):
    """The local engine's output for the same input and split size (the reference)."""
    engine = LocalEngine(processes=1, split_bytes=SPLIT_BYTES, progress=False)
    engine.run_mapper(ThresholdFilter(), str(data), str(directory))
    return directory


def read_records(directory) -> list[dict]:
    records = []
    for name in sorted(os.listdir(directory)):
        if name.startswith("part-"):
            with open(os.path.join(directory, name), "rb") as part:
                for line in part:
                    assert line.endswith(b"\n") and not line.endswith(b"\r\n")
                    records.append(json.loads(line))
    return records


def expected_counters(contents) -> dict:
    _, counts = expected(contents, 1.99)
    return {
        "read": sum(counts.values()),
        "written": counts["kept"],
        "bad": counts["bad"],
        "blank": counts["blank"],
    }


def quarantine(directory) -> list[dict]:
    """Quarantined lines, their sources made absolute (Spark's executors name them so)."""
    entries = []
    folder = os.path.join(directory, "_quarantine")
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name)) as lines:
            for line in lines:
                entry = json.loads(line)
                entry["source"] = os.path.abspath(entry["source"])
                entries.append(entry)
    return entries


def no_staging_left(root) -> bool:
    return not [name for name in os.listdir(root) if name.startswith(".")]


def test_pyspark_task_writes_the_oracle_records(spark_data):
    root, data, contents, config = spark_data
    output = root / "out_ps"
    result = run_luigi(
        ["--module", "luigi_pyspark", "TestTaskPS", "--local-scheduler"]
        + ["--input-path", str(data), "--output-path", str(output)],
        cwd=root,
        LUIGI_CONFIG_PATH=config,
    )
    assert result.returncode == 0, result.stdout
    assert "spark-submit" in result.stdout

    kept, _ = expected(contents, 1.99)
    assert canonical(read_records(output)) == canonical(kept)
    assert (output / "_SUCCESS").exists()
    counters = json.loads((output / "_COUNTERS.json").read_text())
    assert counters["records"] == expected_counters(contents)
    reference = local_engine_output(data, root / "out_ps_local")
    assert counters == json.loads((reference / "_COUNTERS.json").read_text())
    assert counters["bad_records"] == {
        "invalid_json": 1,
        "not_a_number": 1,
        "not_finite": 1,
        "invalid_utf8": 1,
    }
    assert quarantine(output) == quarantine(reference)
    assert no_staging_left(root)


def test_engine_spark_matches_the_local_engine_file_for_file(spark_data):
    root, data, _, config = spark_data
    output = root / "out_mr"
    result = run_luigi(
        ["--module", "luigi_hadoop", "TestTaskMR", "--local-scheduler", "--engine", "spark"]
        + ["--input-path", str(data), "--output-path", str(output)],
        cwd=root,
        LUIGI_CONFIG_PATH=config,
    )
    assert result.returncode == 0, result.stdout
    assert "(spark)" in result.stdout  # the engine's summary line: it ran on Spark

    reference = local_engine_output(data, root / "out_mr_local")
    names = sorted(name for name in os.listdir(reference) if name != "_quarantine")
    assert sorted(name for name in os.listdir(output) if name != "_quarantine") == names
    assert len([name for name in names if name.startswith("part-")]) > 4  # several splits
    for name in names:
        assert (output / name).read_bytes() == (reference / name).read_bytes(), name
    assert quarantine(output) == quarantine(reference)


def test_too_many_bad_records_publishes_nothing(spark_data):
    root, data, _, config = spark_data
    output = root / "out_refused"
    result = run_luigi(
        ["--module", "luigi_pyspark", "TestTaskPS", "--local-scheduler", "--max-bad-records", "3"]
        + ["--input-path", str(data), "--output-path", str(output)],
        cwd=root,
        LUIGI_CONFIG_PATH=config,
    )
    assert result.returncode == 2, result.stdout
    assert "more than --max-bad-records 3: 4 bad records" in result.stdout
    assert not output.exists()
    assert no_staging_left(root)


@pytest.fixture
def spark_config():
    """Set ``[spark]`` keys in this process's Luigi config; restored afterwards."""
    config = luigi.configuration.get_config()
    had_section = config.has_section("spark")
    saved = dict(config.items("spark")) if had_section else {}

    def set_keys(**keys):
        if not config.has_section("spark"):
            config.add_section("spark")
        for key, value in keys.items():
            config.set("spark", key, value)

    yield set_keys
    config.remove_section("spark")
    if had_section:
        config.add_section("spark")
        for key, value in saved.items():
            config.set("spark", key, value)


class _Submission(SparkSubmission):
    pass


def test_spark_submit_command_follows_client_cfg(spark_config):
    spark_config(master="spark://head:7077", deploy_mode="client", spark_submit="/opt/spark-s")
    command = _Submission().spark_command()
    assert command[:5] == [
        "/opt/spark-s",
        "--master",
        "spark://head:7077",
        "--deploy-mode",
        "client",
    ]
    # A cluster's nodes have their own Python; only local[*] pins this interpreter.
    assert "spark.pyspark.python" not in " ".join(command)
    environment = _Submission().get_environment()
    assert environment.get("SPARK_LOCAL_IP") == os.environ.get("SPARK_LOCAL_IP")


def test_local_master_pins_this_python_and_loopback(spark_config):
    spark_config(master="local[2]")
    command = " ".join(_Submission().spark_command())
    assert f"spark.pyspark.python={sys.executable}" in command
    assert f"spark.pyspark.driver.python={sys.executable}" in command
    environment = _Submission().get_environment()
    assert environment["SPARK_LOCAL_IP"] == os.environ.get("SPARK_LOCAL_IP", "127.0.0.1")
