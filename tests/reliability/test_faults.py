"""Faults injected into real jobs (the session's local Ray cluster, a moto S3 server on 127.0.0.1, the real
models and dev-audio excerpts), each followed by the checks that matter after recovery: exactly one status
row per input, no temporary, orphan or duplicated Parquet file, and the same segments, exclusive segments
and embeddings per file as a clean run of the same inputs.

Faults: model actors killed (kill -9) inside a call; CPU task workers killed inside decode, clustering and
commit tasks; the driver killed mid-job, then the job rerun; S3 answering 500/503, resetting connections
(before and after doing the work) and answering slowly, through a proxy; S3 failing every read of the
audio (``read_error`` rows, then a rerun once it recovers); the output disk filling up.
(tests/jobs/test_job.py already kills an embedding actor between shards and kills a worker on every try
of one "poison" file.)
"""

from __future__ import annotations

import contextlib
import io
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest
import ray

from benchmarks.jobcheck import assert_exactly_once, assert_same_outputs, audit, outputs, ray_workers
from benchmarks.s3proxy import Faults, FaultyProxy
from jobs.driver import run_job
from jobs.manifest import write_manifest
from jobs.plan import JobOptions
from jobs.schema import table_of
from jobs.stats import JobAborted
from jobs.store import Store

RUN_DATE = "2026-12-01"
REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


class JobThread:
    """``run_job`` in a thread, so that the test can inject faults while it runs."""

    def __init__(self, options: JobOptions) -> None:
        self.report: dict[str, Any] | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(options,), daemon=True)
        self.thread.start()

    def _run(self, options: JobOptions) -> None:
        try:
            self.report = run_job(options)
        except BaseException as error:  # noqa: BLE001 - handed to the test
            self.error = error

    def alive(self) -> bool:
        return self.thread.is_alive()

    def result(self, timeout: float = 300) -> dict[str, Any]:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the job did not finish"
        if self.error is not None:
            raise self.error
        assert self.report is not None
        return self.report


@pytest.fixture(scope="module")
def inputs(audio_dir: Path) -> dict[str, Path]:
    """Six real speech excerpts (5 s 8 kHz WAV and 3 s 16 kHz FLAC, from six dev recordings), by id."""
    files = [audio_dir / f"call0{n}.wav" for n in range(3)] + [audio_dir / f"clip0{n}.flac" for n in range(3, 6)]
    return {f"f{n:02d}": path for n, path in enumerate(files)}


def local_manifest(inputs: dict[str, Path], folder: Path) -> str:
    return write_manifest([{"id": i, "path": str(p)} for i, p in inputs.items()], str(folder / "calls.jsonl"))


def s3_manifest(inputs: dict[str, Path], bucket: str, s3_options: dict[str, Any]) -> str:
    """The inputs uploaded to ``bucket`` (directly, without faults) and a manifest of them there."""
    import s3fs

    fs = s3fs.S3FileSystem(**s3_options)
    rows = []
    for file_id, path in inputs.items():
        fs.put_file(str(path), f"{bucket}/audio/{path.name}")
        rows.append({"id": file_id, "path": f"{bucket}/audio/{path.name}"})
    return write_manifest(rows, f"{bucket}/manifests/calls.csv", s3_options)


def through(proxy: FaultyProxy, s3_options: dict[str, Any]) -> dict[str, Any]:
    """``s3_options`` pointed at the proxy."""
    return {**s3_options, "client_kwargs": {**s3_options["client_kwargs"], "endpoint_url": proxy.endpoint}}


def options(manifest: str, output: str, models_dir: Path, run_id: str, **more: Any) -> JobOptions:
    """The staged path (its model actors and CPU tasks are what these faults hit; the fused CPU path's own
    crash tests are in tests/jobs/test_fused.py)."""
    settings = {"shard_size": 3, "batch_files": 2, "progress": False, "pipeline": "staged", **more}
    return JobOptions(manifest, output, run_date=RUN_DATE, run_id=run_id, models=str(models_dir), **settings)


@pytest.fixture(scope="module")
def clean(ray_cluster: dict, models_dir: Path, inputs: dict[str, Path],
          tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The outputs of a clean run of the inputs: what every faulty run must end with."""
    folder = tmp_path_factory.mktemp("clean")
    output = str(folder / "out")
    report = run_job(options(local_manifest(inputs, folder), output, models_dir, "clean"))
    assert report["files"] == {"rows": 6, "ok": 6, "failed": 0, "skipped": 0}
    assert_exactly_once(output, None, inputs)
    return outputs(output)


def check_recovered(output: str, storage_options: dict[str, Any] | None, inputs: dict[str, Path],
                    clean: dict[str, Any]) -> None:
    assert_exactly_once(output, storage_options, inputs)
    assert_same_outputs(outputs(output, storage_options), clean)


# -- kill -9 of processes ------------------------------------------------------------------------------

def test_model_actors_killed_inside_a_call(ray_cluster: dict, models_dir: Path, inputs: dict[str, Path],
                                           clean: dict[str, Any], tmp_path: Path) -> None:
    """Each model actor is killed while it works on a batch; Ray restarts it and the call is retried."""
    output = str(tmp_path / "out")
    job = JobThread(options(local_manifest(inputs, tmp_path), output, models_dir, "kill-actors"))
    killed: dict[str, list[str]] = {}
    while job.alive() and len(killed) < 2:
        for stage in ("segmentation", "embedding"):
            if stage in killed:
                continue
            try:
                actor = ray.get_actor(f"diarize-kill-actors-{stage}-0")
                info = ray.get(actor.info.remote(), timeout=5)
            except (ValueError, ray.exceptions.RayError):  # not created yet, or restarting
                continue
            if info["current"]:
                os.kill(info["pid"], signal.SIGKILL)
                killed[stage] = info["current"]
        time.sleep(0.02)
    report = job.result()
    assert set(killed) == {"segmentation", "embedding"}, killed
    assert report["actors"]["restarts"] >= 2
    assert report["files"] == {"rows": 6, "ok": 6, "failed": 0, "skipped": 0}
    assert report["actors"]["crashed_files"] == 0
    check_recovered(output, None, inputs, clean)


def test_actor_killed_past_the_crash_budget_aborts_the_job(ray_cluster: dict, models_dir: Path,
                                                           inputs: dict[str, Path], clean: dict[str, Any],
                                                           tmp_path: Path) -> None:
    """With no retries and no crash allowed, one kill of the segmentation actor must stop the job with
    ``JobAborted`` (the CLI's exit code 3), not let it finish as if every shard were accounted for; what
    was committed before stays whole, and the rerun finishes the job. One batch in flight: the failing
    shard ends while the driver is still creating shards (where such a failure used to be dropped)."""
    output, manifest = str(tmp_path / "out"), local_manifest(inputs, tmp_path)
    job = JobThread(options(manifest, output, models_dir, "abort", shard_size=1,
                            batch_files=1, max_inflight_batches=1, max_task_retries=0, max_crashed_files=0))
    killed = None
    while job.alive() and killed is None:
        try:
            info = ray.get(ray.get_actor("diarize-abort-segmentation-0").info.remote(), timeout=5)
        except (ValueError, ray.exceptions.RayError):
            continue
        if info["current"]:
            os.kill(info["pid"], signal.SIGKILL)
            killed = info["current"]
        time.sleep(0.02)
    assert killed, "the job ended before the actor could be killed"
    with pytest.raises(JobAborted, match="crashed the workers"):
        job.result()
    found = assert_committed_subset(output, inputs)
    assert len(found.status) < 6
    rerun = run_job(options(manifest, output, models_dir, "after-abort"))
    assert rerun["files"] == {"rows": 6, "ok": 6 - len(found.status), "failed": 0, "skipped": len(found.status)}
    check_recovered(output, None, inputs, clean)


def assert_committed_subset(output: str, inputs: dict[str, Path]) -> Any:
    """What an interrupted run left: committed shards only, each file at most once, all ok."""
    found = audit(output)
    assert not found.orphans and not found.temporary
    ids = [r["file_id"] for r in found.status]
    assert len(ids) == len(set(ids)) and set(ids) <= set(inputs)
    assert all(r["status"] == "ok" for r in found.status)
    return found


def test_cpu_workers_killed_inside_tasks(ray_cluster: dict, models_dir: Path, inputs: dict[str, Path],
                                         clean: dict[str, Any], moto_endpoint: str, s3_options: dict[str, Any],
                                         s3_bucket: str) -> None:
    """The worker processes running a decode, a clustering (finish) and a commit task are killed while
    they run them (S3 answers slowly, so that reading audio and committing take a while); Ray reruns the
    tasks; the killed commit's temporary object is cleaned up."""
    manifest = s3_manifest(inputs, s3_bucket, s3_options)
    output = f"{s3_bucket}/out"
    killed: Counter[str] = Counter()
    with FaultyProxy(moto_endpoint, Faults(delay=1.0, delay_s=0.08)) as proxy:
        job = JobThread(options(manifest, output, models_dir, "kill-workers", storage_options=through(proxy, s3_options)))
        while job.alive():
            for pid, title in ray_workers(("ray::decode", "ray::finish", "ray::commit")).items():
                stage = title.removeprefix("ray::")
                if killed[stage] == 0:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                        killed[stage] += 1
            time.sleep(0.003)
        report = job.result()
    print("CPU task workers killed:", dict(killed))
    assert killed["decode"] == 1 and killed["commit"] == 1, killed
    assert report["files"] == {"rows": 6, "ok": 6, "failed": 0, "skipped": 0}
    assert not report["shards"]["failed"]
    check_recovered(output, s3_options, inputs, clean)


def test_driver_killed_mid_job_then_rerun(ray_cluster: dict, models_dir: Path, inputs: dict[str, Path],
                                          clean: dict[str, Any], tmp_path: Path) -> None:
    """``python -m jobs run`` (joined to the cluster) is killed once a first shard is committed; the same
    job rerun skips what was committed, redoes the rest, and ends with every file exactly once."""
    manifest = local_manifest(inputs, tmp_path)
    output = tmp_path / "out"
    command = [sys.executable, "-m", "jobs", "run", manifest, "--output", str(output), "--run-date", RUN_DATE,
               "--run-id", "killed-driver", "--address", ray.get_runtime_context().gcs_address,
               "--models", str(models_dir), "--shard-size", "2", "--batch-files", "2", "--max-inflight-batches", "1",
               "--pipeline", "staged", "--no-progress"]  # staged: slow enough to be killed after a first shard
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    log = (tmp_path / "driver.log").open("w")
    driver = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 240
    while not list(output.glob("status/*/part-*.parquet")):
        assert driver.poll() is None, (tmp_path / "driver.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "no shard committed in time"
        time.sleep(0.05)
    driver.send_signal(signal.SIGKILL)
    assert driver.wait(30) == -signal.SIGKILL
    log.close()
    done = {r["file_id"] for r in audit(str(output)).status}
    assert 0 < len(done) < 6, f"killed too late: {len(done)} files committed"

    report = run_job(options(manifest, str(output), models_dir, "after-kill", shard_size=2))
    assert report["files"] == {"rows": 6, "ok": 6 - len(done), "failed": 0, "skipped": len(done)}
    assert report["stages"]["segmentation"]["files"] == 6 - len(done)
    check_recovered(str(output), None, inputs, clean)


# -- S3 faults -------------------------------------------------------------------------------------------

def test_s3_errors_resets_and_slow_answers(ray_cluster: dict, models_dir: Path, inputs: dict[str, Path],
                                           clean: dict[str, Any], moto_endpoint: str, s3_options: dict[str, Any],
                                           s3_bucket: str) -> None:
    """Every S3 request of the job (manifest, audio, listing, commits, reports) goes through a proxy that
    fails some with 500/503, resets connections before or after the server did the work, and delays
    others. The job must end with every file once, as a clean run, with reruns if it needs them."""
    manifest = s3_manifest(inputs, s3_bucket, s3_options)
    output = f"{s3_bucket}/out"
    faults = Faults(error=0.1, reset_before=0.05, reset_after=0.05, delay=0.05, delay_s=0.3)
    runs: list[Any] = []
    with FaultyProxy(moto_endpoint, faults, seed=5) as proxy:
        for attempt in range(4):
            try:
                report = run_job(options(manifest, output, models_dir, f"s3-faults-{attempt}",
                                         storage_options=through(proxy, s3_options)))
            except Exception as error:  # noqa: BLE001 - a run may die of S3 errors; the rerun must recover
                runs.append(f"{type(error).__name__}: {error}")
                continue
            runs.append(report["files"])
            if not report["shards"]["failed"] and report["files"]["failed"] == 0:
                break
        counts = proxy.snapshot()
    print("S3 fault runs:", runs, counts)
    assert counts["error"] >= 5 and min(counts["reset_before"], counts["reset_after"], counts["delay"]) >= 1, counts
    assert isinstance(runs[-1], dict), runs
    check_recovered(output, s3_options, inputs, clean)


def test_s3_reads_failing_after_retries_are_read_errors_then_rerun(
        ray_cluster: dict, models_dir: Path, inputs: dict[str, Path], clean: dict[str, Any], moto_endpoint: str,
        s3_options: dict[str, Any], s3_bucket: str, tmp_path: Path) -> None:
    """Every GET of the audio fails (500/503) while HEADs pass: the objects exist but cannot be read. Each
    file must end as a ``read_error`` row (a storage failure, tried 3 times), never ``decode_error`` or
    ``not_found``, with the job finishing; once the store recovers, a rerun completes them all."""
    import s3fs

    fs = s3fs.S3FileSystem(**s3_options)
    rows = []
    for file_id, path in inputs.items():
        fs.put_file(str(path), f"{s3_bucket}/audio/{path.name}")
        rows.append({"id": file_id, "path": f"{s3_bucket}/audio/{path.name}"})
    manifest = write_manifest(rows, str(tmp_path / "calls.jsonl"))
    output = str(tmp_path / "out")
    with FaultyProxy(moto_endpoint, Faults(error=1.0, methods=("GET",)), seed=3) as proxy:
        storage = {**through(proxy, s3_options),
                   "config_kwargs": {"retries": {"max_attempts": 1}}}
        report = run_job(options(manifest, output, models_dir, "s3-down", storage_options=storage))
        assert report["files"]["failed"] == len(inputs), report["files"]
        found = assert_exactly_once(output, None, inputs, all_ok=False)
        assert {row["error_type"] for row in found.status} == {"read_error"}, found.status
        assert all("gave up after 3 tries" in row["error_message"] for row in found.status)
        assert all(s3_options["secret"] not in row["error_message"] for row in found.status)
        assert proxy.snapshot()["error"] >= 3 * len(inputs)
        proxy.faults = Faults()
        report = run_job(options(manifest, output, models_dir, "s3-back", storage_options=storage))
    assert report["files"] == {"rows": len(inputs), "ok": len(inputs), "failed": 0, "skipped": 0}
    check_recovered(output, None, inputs, clean)


def test_listing_sees_shards_committed_by_other_processes(s3_bucket: str, s3_options: dict[str, Any]) -> None:
    """A long-lived driver process lists the output, other processes (workers, other jobs) commit more
    shards, the driver lists again: it must see and read them. (s3fs's find() refreshes the names under a
    folder but kept stale cached listings of its sub-folders, so opening a newer file failed with
    FileNotFoundError.)"""
    store = Store(f"{s3_bucket}/out", RUN_DATE, s3_options)
    row = {"file_id": "a", "path": "a.wav", "status": "ok", "fingerprint": "fp", "run_id": "r",
           "finished_at": datetime.now(timezone.utc)}
    store.commit_shard("r-000000", {"status": table_of("status", [row])})
    assert len(store.read_previous("fp").done) == 1
    client = boto3.client("s3", aws_access_key_id=s3_options["key"], aws_secret_access_key=s3_options["secret"],
                          **s3_options["client_kwargs"])
    bucket, first = store.shard_path("status", "r-000000").split("/", 1)
    for n, file_id in enumerate(("b", "c"), start=1):  # another writer commits two more shards
        buffer = io.BytesIO()
        pq.write_table(table_of("status", [{**row, "file_id": file_id}]), buffer)
        client.put_object(Bucket=bucket, Key=first.replace("r-000000", f"r-{n:06d}"), Body=buffer.getvalue())
    assert len(store.read_previous("fp").done) == 3


# -- a full disk -----------------------------------------------------------------------------------------

def _mount_tmpfs(folder: Path, size: str) -> bool:
    """Mount a tmpfs of ``size`` on ``folder``; False when not allowed (not root, no CAP_SYS_ADMIN)."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder)],
                          capture_output=True, check=False)
    return done.returncode == 0


TASK_WORKERS = ("ray::IDLE", "ray::commit", "ray::decode", "ray::finish")


class FileSizeLimit:
    """Without root: RLIMIT_FSIZE set on the cluster's worker processes (``prlimit``), applied again every
    few milliseconds to new workers, so that every Parquet write fails (EFBIG, as a full disk fails with
    ENOSPC); ``lift()`` restores the workers' limits."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.saved: dict[int, tuple[int, int]] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._apply_forever, daemon=True)
        self._apply()
        self.thread.start()

    def _apply(self) -> None:
        for pid in ray_workers(TASK_WORKERS):
            if pid not in self.saved:
                with contextlib.suppress(OSError):
                    soft, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
                    resource.prlimit(pid, resource.RLIMIT_FSIZE, (self.limit, hard))
                    self.saved[pid] = (soft, hard)

    def _apply_forever(self) -> None:
        while not self.stop.wait(0.005):
            self._apply()

    def lift(self) -> None:
        self.stop.set()
        self.thread.join(5)
        for pid, limits in self.saved.items():
            with contextlib.suppress(OSError):
                resource.prlimit(pid, resource.RLIMIT_FSIZE, limits)


@contextlib.contextmanager
def small_disk(folder: Path) -> Iterator[tuple[str, Callable[[], None]]]:
    """``folder`` on a nearly full disk: (how, make_room). A 40 KiB tmpfs when mounting is allowed (two
    one-file shards fit, then ENOSPC), else a per-file size limit on the workers; ``DISK_FULL=rlimit`` forces the
    latter."""
    folder.mkdir(parents=True)
    if os.environ.get("DISK_FULL") != "rlimit" and _mount_tmpfs(folder, "40k"):
        try:
            yield "tmpfs", lambda: subprocess.run(["mount", "-o", "remount,size=64m", str(folder)], check=True)
        finally:
            subprocess.run(["umount", "-l", str(folder)], check=False)
        return
    limit = FileSizeLimit(1024)  # bytes: smaller than any Parquet file the job writes
    try:
        yield "rlimit", limit.lift
    finally:
        limit.lift()


def test_output_disk_full_then_rerun_with_space(ray_cluster: dict, models_dir: Path, inputs: dict[str, Path],
                                                clean: dict[str, Any], tmp_path: Path) -> None:
    """The local output runs out of space mid-job: the run reports the shards it could not commit and
    leaves no temporary or uncommitted Parquet behind; with space again, the rerun finishes the job."""
    manifest = local_manifest(inputs, tmp_path)
    output = tmp_path / "out"
    with small_disk(output) as (how, make_room):
        first = run_job(options(manifest, str(output), models_dir, "disk-full", shard_size=1))
        failed = first["shards"]["failed"]
        found = audit(str(output))
        committed = {r["file_id"] for r in found.status}
        print(f"disk full ({how}): {len(failed)} shards not committed, {len(committed)} files committed")
        assert failed, "nothing failed: the disk was not full"
        assert len(committed) + len(failed) == 6
        assert first["files"]["ok"] == len(committed)
        assert not found.temporary and not found.orphans, (found.temporary, found.orphans)
        if how == "tmpfs":
            assert committed, "no shard fitted on the small disk"
        make_room()
        second = run_job(options(manifest, str(output), models_dir, "disk-ok", shard_size=1))
        assert not second["shards"]["failed"]
        assert second["files"] == {"rows": 6, "ok": 6 - len(committed), "failed": 0, "skipped": len(committed)}
        check_recovered(str(output), None, inputs, clean)
