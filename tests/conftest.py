"""Shared fixtures: where ../shared (real models, dev audio, recorded reference artifacts) lives; one local
Ray cluster and one moto S3 server per session (used by tests/jobs and tests/reliability)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DIARIZATION_SHARED", REPO.parent / "shared")).resolve()
# the engine finds models only in $DIARIZATION_MODELS or the user cache, never relative to the working
# directory: point it at the shared set (absolute, so subprocesses and Ray workers anywhere find it too)
os.environ.setdefault("DIARIZATION_MODELS", str(SHARED / "models"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"shared material not found at {SHARED} (set DIARIZATION_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def models_dir(shared_dir: Path) -> Path:
    return shared_dir / "models"


@pytest.fixture(scope="session")
def artifacts_dir(shared_dir: Path) -> Path:
    return shared_dir / "reference" / "community-1-artifacts"


@pytest.fixture(scope="session")
def dev_dir(shared_dir: Path) -> Path:
    return shared_dir / "data" / "dev"


# -- real services: moto S3 and a local Ray ---------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 (a subprocess), for the whole session."""
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=1)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail("moto server did not start")
            time.sleep(0.2)
    yield endpoint
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture(scope="session")
def s3_options(moto_endpoint: str) -> dict[str, Any]:
    """fsspec/s3fs storage options for the moto server (credentials are moto's dummies)."""
    return {"key": "testing", "secret": "testing",
            "client_kwargs": {"endpoint_url": moto_endpoint, "region_name": "us-east-1"}}


@pytest.fixture
def s3_bucket(s3_options: dict[str, Any]) -> str:
    """A new empty bucket; returns ``s3://name``."""
    import boto3

    name = f"test-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", aws_access_key_id=s3_options["key"], aws_secret_access_key=s3_options["secret"],
                 **s3_options["client_kwargs"]).create_bucket(Bucket=name)
    return f"s3://{name}"


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[dict[str, Any]]:
    """One local Ray for the session (2 CPUs, like CI), with its job server for ``ray job submit``; always a
    new one (``address="local"``), never a cluster the user already runs on this machine."""
    import ray

    from jobs.cli import export_code_path

    export_code_path()  # the workers import this checkout, installed or not
    context = ray.init(address="local", num_cpus=2, include_dashboard=True, dashboard_host="127.0.0.1", dashboard_port=_free_port(),
                       logging_level="WARNING", log_to_driver=False)
    yield {"resources": ray.cluster_resources(), "dashboard": f"http://{context.dashboard_url}",
           "address": context.address_info["gcs_address"]}
    ray.shutdown()
