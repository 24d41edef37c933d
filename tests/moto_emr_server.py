"""moto's AWS emulator (EMR, S3, IAM) as a server, for the EMR submission tests.

    python tests/moto_emr_server.py -H 127.0.0.1 -p PORT

moto 5 parses a cluster's ``Applications`` with capitalised keys (``Name``) but builds
them reading lower-case ones (``name``), so every application comes back without a
``Name``, which real EMR always returns and mrjob's EMR runner reads. This launcher
passes the keys the way moto's model reads them, then runs moto's own server.
"""

from __future__ import annotations

import re

from moto.emr.models import Cluster
from moto.server import main

_add_applications = Cluster.add_applications


def _snake_case(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def add_applications(self, applications):
    return _add_applications(
        self, [{_snake_case(key): value for key, value in app.items()} for app in applications]
    )


Cluster.add_applications = add_applications

if __name__ == "__main__":
    main()
