"""``diarize run --device cuda`` on a cluster: fail at once when it has no GPU, or (``--wait-for-gpus``) ask
the autoscaler for one and wait for it, with a timeout. Called once connected to Ray, before any work."""

from __future__ import annotations

import time
from collections.abc import Callable

from diarization.errors import DiarizationError


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
