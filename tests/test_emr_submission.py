"""`python -m mr_json_filter -r emr -c emr/mrjob.conf`: what AWS is asked to do.

The real mrjob EMR runner talks to moto's AWS emulator on loopback (dummy credentials,
set only in the job's environment). moto accepts a cluster and its steps but never runs
them, so these tests check the submission (cluster, bootstrap, uploads, step) and that an
interrupted submission terminates the cluster it created.
"""

from __future__ import annotations

import gzip
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import boto3
import pytest

from streamjobs.spec import JobSpec
from tests.conftest import ROOT, luigi_env
from tests.test_jobs_cli import unseen_lines

WHEEL = "streamjobs-0.1.0-py3-none-any.whl"
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "dummy-test-key",
    "AWS_SECRET_ACCESS_KEY": "dummy-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}
WAIT_SECONDS = 90


def default_sigint():
    # A test started in the background (``cmd &``) has SIGINT ignored, and the job would
    # inherit that: the Ctrl-C this test sends must do what it does in a terminal.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory):
    """moto's server on a free loopback port, for this module's tests."""
    port = free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "wb")
    server = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "tests", "moto_emr_server.py")]
        + ["-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.2)
        yield endpoint
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory):
    """A directory holding dist/ with the project's wheel, as the README has users build."""
    work = tmp_path_factory.mktemp("project")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
        + ["-w", str(work / "dist"), ROOT],
        check=True,
        timeout=300,
    )
    assert (work / "dist" / WHEEL).exists(), "emr/mrjob.conf names this wheel"
    return work


def aws_client(service: str, endpoint: str):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def conf_for_moto(project_dir, endpoint: str) -> str:
    """emr/mrjob.conf itself, with only the AWS endpoints pointed at moto."""
    path = project_dir / "test-mrjob.conf"
    path.write_text(
        f"include: {os.path.join(ROOT, 'emr', 'mrjob.conf')}\n"
        "runners:\n"
        "  emr:\n"
        f"    emr_endpoint: {endpoint}\n"
        f"    s3_endpoint: {endpoint}\n"
        f"    iam_endpoint: {endpoint}\n"
        "    check_cluster_every: 1\n"
        "    cloud_fs_sync_secs: 0\n"
    )
    return str(path)


def wait_for(condition, what: str, job: subprocess.Popen, log_path):
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        value = condition()
        if value:
            return value
        if job.poll() is not None:
            log = log_path.read_text(errors="replace")
            raise AssertionError(f"the job exited ({job.returncode}) before {what}:\n{log}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {WAIT_SECONDS} s")
        time.sleep(0.5)


@pytest.mark.parametrize("interrupt", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_submission_and_cluster_terminated_on_interrupt(
    moto_endpoint, project_dir, tmp_path, interrupt
):
    bucket = f"streamjobs-{uuid.uuid4().hex[:12]}"
    s3 = aws_client("s3", moto_endpoint)
    emr = aws_client("emr", moto_endpoint)
    s3.create_bucket(Bucket=bucket)
    inputs = {
        "data/a.json": unseen_lines(31, 100),
        "data/b.json": unseen_lines(32, 100).replace(b"\n", b"\r\n").rstrip(b"\r\n"),
        "data/c.json.gz": gzip.compress(unseen_lines(33, 100)),
    }
    for key, body in inputs.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    before = {c["Id"] for c in emr.list_clusters()["Clusters"]}

    log_path = tmp_path / "job.log"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    with open(log_path, "wb") as log:
        job = subprocess.Popen(
            [sys.executable, "-m", "mr_json_filter", "-r", "emr"]
            + ["-c", conf_for_moto(project_dir, moto_endpoint), "--threshold", "1.5"]
            + ["-o", f"s3://{bucket}/out/", f"s3://{bucket}/data/"],
            cwd=project_dir,
            env=luigi_env(STREAMJOBS_BUCKET=bucket, TMPDIR=str(scratch), **DUMMY_CREDENTIALS),
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=default_sigint,
        )
        try:

            def new_cluster_with_step():
                for cluster in emr.list_clusters()["Clusters"]:
                    if cluster["Id"] not in before:
                        steps = emr.list_steps(ClusterId=cluster["Id"])["Steps"]
                        return steps and (cluster["Id"], steps)
                return None

            found = wait_for(new_cluster_with_step, "cluster with a step", job, log_path)
            cluster_id, steps = found
            # mrjob waits for the step (which moto never runs): that is where it is stopped.
            wait_for(
                lambda: b"RUNNING" in log_path.read_bytes(), "wait for the step", job, log_path
            )

            cluster = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]
            assert cluster["ReleaseLabel"] == "emr-7.5.0"
            assert cluster["ServiceRole"] == "EMR_DefaultRole"
            assert cluster["Ec2InstanceAttributes"]["IamInstanceProfile"] == "EMR_EC2_DefaultRole"
            tags = {tag["Key"]: tag["Value"] for tag in cluster["Tags"]}
            assert tags["project"] == "streamjobs" and tags["job"] == "mr_json_filter"
            assert cluster["AutoTerminate"], "a job's own cluster ends with the job"
            groups = emr.list_instance_groups(ClusterId=cluster_id)["InstanceGroups"]
            assert sorted(
                (g["InstanceGroupType"], g["InstanceType"], g["RequestedInstanceCount"])
                for g in groups
            ) == [("CORE", "m5.xlarge", 2), ("MASTER", "m5.xlarge", 1)]

            # Uploads: the task script, the job's module, its spec and the project's wheel.
            tmp_prefix = "mrjob-tmp/"
            keys = {
                obj["Key"]
                for obj in s3.list_objects_v2(Bucket=bucket, Prefix=tmp_prefix)["Contents"]
            }

            def uploaded(name: str) -> bytes:
                (key,) = [k for k in keys if k.endswith("/files/" + name)]
                return s3.get_object(Bucket=bucket, Key=key)["Body"].read()

            assert uploaded(WHEEL) == (project_dir / "dist" / WHEEL).read_bytes()
            task_script = os.path.join(ROOT, "src", "streamjobs", "mrjob", "mrtask.py")
            with open(task_script, "rb") as script:
                assert uploaded("wd/mrtask.py") == script.read()
            with open(os.path.join(ROOT, "jobs", "luigi_hadoop.py"), "rb") as module:
                assert uploaded("wd/luigi_hadoop.py") == module.read()
            spec = JobSpec.from_json(uploaded("wd/job-spec.json").decode())
            assert spec.job == "luigi_hadoop:TestTaskMR"
            assert float(spec.params["threshold"]) == 1.5
            assert spec.inputs == [f"s3://{bucket}/data/"]

            # Bootstrap: every node gets Python 3.11 and the project from the uploaded wheel.
            (action,) = emr.list_bootstrap_actions(ClusterId=cluster_id)["BootstrapActions"]
            assert action["ScriptPath"].startswith(f"s3://{bucket}/{tmp_prefix}")
            bootstrap = uploaded(action["ScriptPath"].rsplit("/files/", 1)[1]).decode()
            assert "sudo dnf install -y python3.11 python3.11-pip\n" in bootstrap
            assert f"sudo python3.11 -m pip install $__mrjob_PWD/{WHEEL} boto3\n" in bootstrap
            assert bootstrap.index(f"/files/{WHEEL} $__mrjob_PWD/{WHEEL}") < bootstrap.index(
                "pip install"
            ), "the wheel is downloaded from S3 before it is installed"

            # The step: map-only Hadoop Streaming, one task per input file (the manifest).
            (step,) = steps
            args = step["Config"]["Args"]
            assert step["Config"]["Jar"] == "command-runner.jar"
            assert args[0] == "hadoop-streaming"

            def arg(name: str) -> str:
                return args[args.index(name) + 1]

            assert "mapred.reduce.tasks=0" in [args[i + 1] for i, a in enumerate(args) if a == "-D"]
            assert "-reducer" not in args
            assert arg("-output") == f"s3://{bucket}/out/"
            assert arg("-inputformat") == "org.apache.hadoop.mapred.lib.NLineInputFormat"
            assert arg("-mapper") == (
                "/bin/sh -x manifest-setup.sh python3.11 mrtask.py"
                " --step-num=0 --mapper --job-spec job-spec.json"
            )
            manifest = arg("-input")
            assert manifest.startswith(f"s3://{bucket}/{tmp_prefix}")
            assert uploaded(manifest.rsplit("/files/", 1)[1]).decode().split() == [
                f"s3://{bucket}/{key}" for key in sorted(inputs)
            ]
            shipped = {entry.rsplit("#", 1)[1] for entry in arg("-files").split(",")}
            assert {"mrtask.py", "luigi_hadoop.py", "job-spec.json", "mrjob.zip"} <= shipped
            assert "manifest-setup.sh" in shipped

            job.send_signal(interrupt)
            returncode = job.wait(timeout=WAIT_SECONDS)
        finally:
            if job.poll() is None:
                job.kill()
                job.wait()

    output = log_path.read_text(errors="replace")
    assert returncode == 128 + interrupt, output
    assert f"Terminating cluster: {cluster_id}" in output
    state = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]["Status"]["State"]
    assert state in ("TERMINATING", "TERMINATED"), output
    assert os.listdir(scratch) == [], "the interrupted run left its local scratch files"
