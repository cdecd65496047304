"""The Ray cluster of ``diarize run``: join it (or start a local one) quietly, and, for ``--device cuda``,
fail at once when it has no GPU, or (``--wait-for-gpus``) ask the autoscaler for one and wait for it, with
a timeout. All before any work."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from diarization.errors import DiarizationError


class ClusterConnectionError(DiarizationError):
    """The Ray cluster at the given address cannot be joined."""


class NoGpuError(DiarizationError):
    """A GPU device was asked for and the cluster has (or got, in time) no GPU."""


def wants_gpu(device: str | None) -> bool:
    return bool(device) and device.split(":")[0] == "cuda"


def cluster_gpus() -> float:
    import ray

    return float(ray.cluster_resources().get("GPU", 0.0))


def require_gpus(device: str | None, wait_seconds: float | None, say: Callable[[str], None] = print,
                 poll_seconds: float = 2.0) -> None:
    """Return when ``device`` needs no GPU or the cluster has one; else raise :class:`NoGpuError` at once
    (``wait_seconds`` None) or after asking the autoscaler for a GPU and waiting ``wait_seconds``."""
    if not wants_gpu(device) or cluster_gpus() > 0:
        return
    if wait_seconds is None:
        raise NoGpuError(f"--device {device}: the Ray cluster has no GPU; use --device cpu, "
                         "or on an autoscaling cluster --wait-for-gpus SECONDS")
    from ray.autoscaler.sdk import request_resources

    say(f"diarize run: the Ray cluster has no GPU yet; asked the autoscaler for one, waiting up to "
        f"{wait_seconds:g} s (--wait-for-gpus)")
    request_resources(bundles=[{"GPU": 1}])
    deadline = time.monotonic() + wait_seconds
    while cluster_gpus() <= 0:
        if time.monotonic() >= deadline:
            request_resources(bundles=[])  # withdraw the request: nothing will use it
            raise NoGpuError(f"--device {device}: no GPU joined the Ray cluster within {wait_seconds:g} s "
                             "(--wait-for-gpus)")
        time.sleep(min(poll_seconds, max(deadline - time.monotonic(), 0.0)))
    say("diarize run: a GPU joined the cluster")


def init_ray(address: str | None, num_cpus: int | None, num_gpus: int | None, ray_logs: bool) -> None:
    """Join the cluster at ``address``, or start a local Ray here. Unless ``ray_logs``, Ray's own lines stay
    off the terminal: its logger only says errors (no token-authentication warning), worker output is not
    forwarded. A cluster that cannot be joined is one line (after the C++ core's own retry warnings)."""
    import ray

    level = logging.INFO if ray_logs else logging.ERROR
    if address:
        try:
            ray.init(address=address, logging_level=level, log_to_driver=ray_logs)
        except ConnectionError as error:
            hint = "" if os.environ.get("RAY_AUTH_MODE") else (
                "; if the cluster uses token authentication, set RAY_AUTH_MODE=token (token in ~/.ray/auth_token)")
            raise ClusterConnectionError(f"cannot join the Ray cluster at {address} ({error}){hint}") from None
    else:  # a local Ray started here: its workers must import this code even when it is not installed
        export_code_path()
        ray.init(address="local", num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False,
                 logging_level=level, log_to_driver=ray_logs)


def export_code_path() -> None:
    """Put the folder holding ``jobs`` and ``diarization`` on PYTHONPATH, which local Ray workers inherit."""
    root = str(Path(__file__).resolve().parents[1])
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if root not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([root, *filter(None, paths)])
