"""A job on a real multi-node Ray cluster on this machine that loses a whole worker node mid-job, and gains one.

A head (no CPUs: it only hosts the driver) and two worker nodes, ``node_a`` and ``node_b`` (1 CPU and one unit
of their own custom resource each), are started with ``ray start`` (tests/reliability/raynodes.py). The job
(``python -m jobs run --address``, a driver of its own) diarizes real dev calls, half local and half on a moto
S3 server. Once a first shard is committed, a third node, ``node_c``, joins, and a node whose model actor
is inside a call is killed whole (its raylet, agents and every worker process, SIGKILL). The job must finish
with every input exactly once (one status row, no temporary, orphan or duplicated Parquet file), the same
segments, exclusive segments and embeddings as a clean run, a report that says what was retried, and work
done on the node that joined.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from jobs.driver import run_job
from jobs.manifest import write_manifest
from jobs.plan import JobOptions

from benchmarks.jobcheck import assert_exactly_once, assert_same_outputs, audit, outputs, process_title
from .raynodes import LocalCluster, Node

RUN_DATE = "2026-12-02"
REPO = Path(__file__).resolve().parents[2]
CALLS = [f"devcall_{n:02d}" for n in range(1, 7)]  # ~40 s each
JOB_TIMEOUT = 480.0  # seconds; the job takes one to two minutes on two busy cores
TUNING = {"shard_size": 1, "batch_files": 1, "max_inflight_batches": 3, "cpus_per_actor": 0.25,
          "cpus_per_task": 0.25}  # a shard per file; 1-CPU nodes hold an actor and a few tasks each
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def calls(shared_dir: Path) -> dict[str, Path]:
    folder = shared_dir / "data" / "dev-calls" / "mono"
    return {name: folder / f"{name}.wav" for name in CALLS}


@pytest.fixture(scope="module")
def clean(ray_cluster: dict, models_dir: Path, calls: dict[str, Path],
          tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The outputs of a clean run of the calls (the session's one-node Ray): what the multi-node run must match."""
    folder = tmp_path_factory.mktemp("clean")
    manifest = write_manifest([{"id": i, "path": str(p)} for i, p in calls.items()], str(folder / "calls.jsonl"))
    output = str(folder / "out")
    options = JobOptions(manifest, output, run_date=RUN_DATE, run_id="clean", models=str(models_dir),
                         progress=False, **TUNING)
    report = run_job(options)
    assert report["files"] == {"rows": len(calls), "ok": len(calls), "failed": 0, "skipped": 0}
    return outputs(output)


def mixed_manifest(calls: dict[str, Path], bucket: str, s3_options: dict[str, Any], folder: Path) -> str:
    """A local manifest whose odd calls are local files and even ones objects in ``bucket``."""
    import s3fs

    fs = s3fs.S3FileSystem(**s3_options)
    rows = []
    for n, (file_id, path) in enumerate(calls.items()):
        if n % 2:
            fs.put_file(str(path), f"{bucket}/calls/{path.name}")
            rows.append({"id": file_id, "path": f"{bucket}/calls/{path.name}"})
        else:
            rows.append({"id": file_id, "path": str(path)})
    return write_manifest(rows, str(folder / "calls.jsonl"))


def driver_command(manifest: str, output: Path, address: str, models_dir: Path, s3_options: dict[str, Any],
                   report: Path) -> list[str]:
    tuning = [f"--{name.replace('_', '-')}={value}" for name, value in TUNING.items()]
    return [sys.executable, "-m", "jobs", "run", manifest, "--output", str(output), "--run-date", RUN_DATE,
            "--run-id", "multinode", "--address", address, "--models", str(models_dir),
            "--storage-options", json.dumps(s3_options), "--no-progress", "--report-json", str(report), *tuning]


# process titles of model actors inside a call: the staged path's, and the fused path's file actors (CPU default)
MODEL_CALLS = ("ray::ModelActor.segment", "ray::ModelActor.embed", "ray::FileActor.diarize")


def busy_with(node: Node, titles: tuple[str, ...]) -> bool:
    return any(process_title(pid).startswith(titles) for pid in node.pids())


def wait_until(condition: Any, what: str, driver: subprocess.Popen, log: Path, timeout: float = JOB_TIMEOUT) -> None:
    """Poll ``condition()`` until true; fail when the driver exits first or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert driver.poll() is None, f"the job ended before {what}: {log.read_text()[-4000:]}"
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.1)


def test_job_survives_losing_a_node_and_uses_a_node_that_joins(
        clean: dict[str, Any], calls: dict[str, Path], models_dir: Path, s3_bucket: str, s3_options: dict[str, Any],
        tmp_path: Path) -> None:
    manifest = mixed_manifest(calls, s3_bucket, s3_options, tmp_path)
    output, report_path, log = tmp_path / "out", tmp_path / "report.json", tmp_path / "driver.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    with LocalCluster(env) as cluster, log.open("w") as driver_log:
        for name in ("node_a", "node_b"):
            cluster.add_node(name)
        ids = cluster.wait_for_nodes(["node_a", "node_b"])
        driver = subprocess.Popen(driver_command(manifest, output, cluster.address, models_dir, s3_options,
                                                 report_path), cwd=REPO, env=cluster.env, stdout=driver_log,
                                  stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: any(output.glob("status/*/part-*.parquet")), "a first shard was committed", driver, log)
            cluster.add_node("node_c")  # joins while the job runs (up within seconds to a minute)
            victims = [cluster.nodes[name] for name in ("node_a", "node_b")]
            wait_until(lambda: any(busy_with(node, MODEL_CALLS) for node in victims), "a model actor was busy",
                       driver, log)
            victim = next(node for node in victims if busy_with(node, MODEL_CALLS))
            committed_before = {row["file_id"] for row in audit(str(output)).status}
            killed = victim.kill()
            ids.update(cluster.wait_for_nodes(["node_c"]))
            assert driver.wait(JOB_TIMEOUT) == 0, log.read_text()[-4000:]
        finally:
            if driver.poll() is None:
                driver.kill()
    text = log.read_text()
    print(f"killed {victim.name} ({len(killed)} processes) after {sorted(committed_before)} were committed")
    print(text)
    assert len(committed_before) < len(calls), "killed too late: everything was committed"
    assert len(killed) >= 4 and not victim.alive()  # ray start, raylet, agents, the busy actor at least

    found = assert_exactly_once(str(output), None, calls)
    assert {row["run_id"] for row in found.status} == {"multinode"}
    assert_same_outputs(outputs(str(output)), clean)

    report = json.loads(report_path.read_text())
    assert report["files"] == {"rows": len(calls), "ok": len(calls), "failed": 0, "skipped": 0}
    assert not report["shards"]["failed"]
    assert report["actors"]["restarts"] >= 1  # the busy actor died with its node
    assert report["actors"]["crashed_files"] == 0
    # the model call in flight on the lost node was redone: by Ray (a retry once the actor was back) or, when
    # Ray's retries ran out while the node was being declared dead, by the driver, file by file
    redone = report["retried"]["segmentation"] + report["retried"]["embedding"] + report["actors"]["isolated_files"]
    assert redone >= 1, (report["retried"], report["actors"])
    actors = report["actors"]
    assert f"{actors['restarts']} restarts seen, {actors['isolated_files']} files retried one by one" in text
    nodes = report["nodes"]
    assert set(nodes) <= set(ids.values()), nodes  # work ran on the worker nodes only (the head has no CPUs)
    worked = {name: sum(v for k, v in nodes.get(node, {}).items() if k != "host") for name, node in ids.items()}
    assert worked[victim.name] > 0 and worked["node_c"] > 0, worked  # the lost node did work, the new one too
    print("files per node and stage:", {name: nodes.get(node) for name, node in ids.items()})
