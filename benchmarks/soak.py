"""Soak: round after round of real jobs with faults injected, checking that no file is lost or duplicated.

Everything is real: a local Ray (2 CPUs), a moto S3 server on 127.0.0.1 behind the fault-injecting proxy
of benchmarks/s3proxy.py (500/503 answers, connection resets before and after the server did the
work, slow answers), the models and short speech excerpts of the dev set, stored in S3. Each round adds
new files to the manifest of the current partition (or starts a new partition every few rounds), runs
the job through the faulty S3 while model actors and CPU task workers are killed with SIGKILL mid-work
and, every third round, the driver itself (a ``python -m jobs run`` subprocess joined to the cluster) is
killed mid-job; it then reruns until the job reports success, and checks the partition against a clean
run of the same audio: every file exactly once and the same segments and embeddings.

Per round: files in the manifest, new files, faults injected (S3 faults, processes killed), runs needed,
lost (must be 0), duplicated (must be 0), differing results (must be 0), wall time, driver RSS.

    python3 -m benchmarks.soak [--minutes 8] [--new-files 8] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from benchmarks.paths import REPO, SHARED

SOURCES = ("pyannote_sample/sample.wav", "libri_conversations/dev_2spk_00.wav", "ami_debug_train/trn00.wav",
           "libri_conversations/dev_3spk_08.wav", "espeak_conversation/espeak_conv01.wav",
           "stereo_overlap/stereo_diarization_mono.wav")
S3 = {"key": "testing", "secret": "testing", "client_kwargs": {"region_name": "us-east-1"}}


def rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096 / 2**20


def start_moto() -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=1)
            return server, endpoint
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("moto server did not start")


def s3_options(endpoint: str) -> dict[str, Any]:
    return {**S3, "client_kwargs": {**S3["client_kwargs"], "endpoint_url": endpoint}}


def make_pool(folder: Path, count: int, seed: int) -> list[Path]:
    """``count`` distinct 1.5-4 s speech excerpts (8 kHz WAV)."""
    rng = np.random.default_rng(seed)
    pool = []
    for n in range(count):
        data, rate = sf.read(SHARED / "data" / "dev" / SOURCES[n % len(SOURCES)], dtype="float32", always_2d=True)
        seconds = 1.5 + 2.5 * rng.random()
        start = int(rng.random() * (len(data) - 5 * rate))
        piece = soxr.resample(data[start:start + int(seconds * rate)].mean(axis=1), rate, 8000)
        path = folder / f"pool{n:02d}.wav"
        sf.write(path, piece.astype(np.float32), 8000, subtype="PCM_16")
        pool.append(path)
    return pool


class Killer:
    """Kills (SIGKILL) one model actor inside a call and one CPU task worker inside a task per run."""

    def __init__(self, run_id: str, rng: random.Random) -> None:
        from benchmarks.jobcheck import ray_workers

        self.ray_workers = ray_workers
        self.run_id = run_id
        self.stage = rng.choice(["segmentation", "embedding"])
        self.task = rng.choice(["ray::decode", "ray::finish", "ray::commit"])
        self.kills = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import ray

        actor_done = task_done = False
        while not self.stop.is_set() and not (actor_done and task_done):
            if not actor_done:
                try:
                    actor = ray.get_actor(f"diarize-{self.run_id}-{self.stage}-0")
                    info = ray.get(actor.info.remote(), timeout=5)
                    if info["current"]:
                        os.kill(info["pid"], signal.SIGKILL)
                        self.kills, actor_done = self.kills + 1, True
                except (ValueError, ProcessLookupError, ray.exceptions.RayError):
                    pass
            if not task_done:
                for pid in self.ray_workers((self.task,)):
                    try:
                        os.kill(pid, signal.SIGKILL)
                        self.kills, task_done = self.kills + 1, True
                    except ProcessLookupError:
                        pass
                    break
            time.sleep(0.005)

    def finish(self) -> int:
        self.stop.set()
        self.thread.join(10)
        return self.kills


def kill_driver(command: list[str], output_fs: Any, status_dir: str, rng: random.Random) -> bool:
    """Run the driver as a subprocess and SIGKILL it once a shard is committed (or after a while)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    driver = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    before = set(output_fs.find(status_dir)) if output_fs.exists(status_dir) else set()
    deadline = time.monotonic() + 60 + 30 * rng.random()
    while driver.poll() is None and time.monotonic() < deadline:
        output_fs.invalidate_cache(status_dir)
        if output_fs.exists(status_dir) and set(output_fs.find(status_dir)) - before:
            time.sleep(rng.random())
            break
        time.sleep(0.2)
    killed = driver.poll() is None
    driver.send_signal(signal.SIGKILL)
    driver.wait(30)
    return killed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=8.0)
    parser.add_argument("--new-files", type=int, default=8, help="files added to the manifest per round")
    parser.add_argument("--pool", type=int, default=12, help="distinct audio files the rows draw from")
    parser.add_argument("--new-partition-every", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()

    import fsspec
    import ray

    from jobs.cli import export_code_path
    from jobs.driver import run_job
    from jobs.manifest import write_manifest
    from jobs.plan import JobOptions
    from benchmarks.jobcheck import differing, outputs, tally
    from benchmarks.s3proxy import Faults, FaultyProxy

    rng = random.Random(args.seed)
    work = Path(args.workdir or f"/tmp/soak-{os.getpid()}")
    work.mkdir(parents=True, exist_ok=True)
    models = str(SHARED / "models")
    server, endpoint = start_moto()
    direct = s3_options(endpoint)
    export_code_path()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    proxy = FaultyProxy(endpoint, Faults(), seed=args.seed).start()
    faulty = s3_options(proxy.endpoint)
    try:
        import boto3

        boto3.client("s3", aws_access_key_id="testing", aws_secret_access_key="testing", endpoint_url=endpoint,
                     region_name="us-east-1").create_bucket(Bucket="soak")
        fs = fsspec.filesystem("s3", **direct)
        pool = make_pool(work, args.pool, args.seed)
        for path in pool:
            fs.put_file(str(path), f"soak/audio/{path.name}")
        clean_manifest = write_manifest([{"id": p.stem, "path": f"s3://soak/audio/{p.name}"} for p in pool],
                                        "s3://soak/manifests/clean.csv", direct)
        run_job(JobOptions(clean_manifest, "s3://soak/clean", run_date="2026-01-01", models=models,
                           storage_options=direct, shard_size=4, batch_files=4, progress=False,
                           pipeline="staged"))
        reference = outputs("s3://soak/clean", direct)
        print(f"soak: {len(pool)} distinct files, clean reference ready; S3 faults: error 8%, resets 3%+3%, "
              f"slow 5% (0.3 s); one actor and one task worker killed per run; driver killed every 3rd round",
              flush=True)
        header = (f"{'round':>5} {'partition':>10} {'files':>6} {'new':>4} {'s3_faults':>9} {'kills':>5} "
                  f"{'runs':>4} {'lost':>4} {'dup':>4} {'differ':>6} {'wall_s':>7} {'rss_mib':>8}")
        print(header, flush=True)
        print("(files: rows of this partition's manifest; lost, dup and differ: over every partition so far)",
              flush=True)
        deadline = time.monotonic() + 60 * args.minutes
        totals = {"files": 0, "faults": 0, "kills": 0, "runs": 0, "lost": 0, "duplicated": 0, "differ": 0,
                  "rounds": 0}
        first_rss = 0.0
        rows: list[dict[str, Any]] = []
        every_id: dict[str, str] = {}  # all rows of all rounds and partitions: id -> pool file
        day, round_no = 1, 0
        while time.monotonic() < deadline:
            round_no += 1
            if round_no > 1 and (round_no - 1) % args.new_partition_every == 0:
                day, rows = day + 1, []
            run_date = f"2026-02-{day:02d}"
            for n in range(args.new_files):
                rows.append({"id": f"d{day:02d}-{len(rows):04d}", "path": f"s3://soak/audio/{rng.choice(pool).name}"})
            manifest = write_manifest(rows, f"s3://soak/manifests/{run_date}.csv", direct)
            started, faults_before, kills, runs = time.monotonic(), proxy.injected(), 0, 0
            proxy.faults = Faults(error=0.08, reset_before=0.03, reset_after=0.03, delay=0.05, delay_s=0.3)
            if round_no % 3 == 0:  # the driver killed mid-job
                command = [sys.executable, "-m", "jobs", "run", manifest, "--output", "s3://soak/out", "--run-date",
                           run_date, "--address", ray.get_runtime_context().gcs_address, "--models", models,
                           "--shard-size", "2", "--batch-files", "2", "--max-inflight-batches", "1",
                           "--storage-options", json.dumps(faulty), "--no-progress"]
                kills += kill_driver(command, fs, f"soak/out/status/run_date={run_date}", rng)
                runs += 1
            for attempt in range(6):
                runs += 1
                run_id = f"soak-{round_no:03d}-{attempt}"
                killer = Killer(run_id, rng) if attempt == 0 else None
                try:
                    report = run_job(JobOptions(manifest, "s3://soak/out", run_date=run_date, run_id=run_id,
                                                models=models, storage_options=faulty, shard_size=3, batch_files=2,
                                                progress=False, pipeline="staged"))
                    success = not report["shards"]["failed"] and report["files"]["failed"] == 0
                    if not success:  # e.g. an S3 read that failed after every retry: a read_error row
                        print(f"      run {run_id}: {report['files']}, errors {report['errors']}, "
                              f"{len(report['shards']['failed'])} shards not committed", flush=True)
                except Exception as error:  # noqa: BLE001 - a run may die of the faults; the next one recovers
                    print(f"      run {run_id} failed: {type(error).__name__}: {str(error)[:120]}", flush=True)
                    success = False
                finally:
                    kills += killer.finish() if killer else 0
                if success:
                    break
                proxy.faults = Faults()  # a second chance without S3 faults
            proxy.faults = Faults()
            wall = time.monotonic() - started
            every_id.update({r["id"]: Path(r["path"]).stem for r in rows})
            counts = tally("s3://soak/out", direct, every_id)  # every partition so far, not just this one
            differ = len(differing(outputs("s3://soak/out", direct), reference, every_id))
            faults = proxy.injected() - faults_before
            duplicated = counts["duplicated"] + counts["temporary"] + counts["orphans"]
            for key, value in (("files", args.new_files), ("faults", faults), ("kills", kills), ("runs", runs),
                               ("rounds", 1)):
                totals[key] += value
            for key, value in (("lost", counts["lost"]), ("duplicated", duplicated), ("differ", differ)):
                totals[key] = max(totals[key], value)  # a state, not an event: the worst round
            rss = rss_mib()
            first_rss = first_rss or rss
            print(f"{round_no:>5} {run_date:>10} {len(rows):>6} {args.new_files:>4} {faults:>9} {kills:>5} {runs:>4} "
                  f"{counts['lost']:>4} {duplicated:>4} {differ:>6} {wall:>7.1f} {rss:>8.0f}", flush=True)
        print(f"summary: {totals['rounds']} rounds, {totals['files']} files ({len(every_id)} rows in {day} "
              f"partitions), {totals['runs']} runs, {totals['faults']} S3 faults injected, {totals['kills']} processes "
              f"killed; worst round: lost {totals['lost']}, duplicated {totals['duplicated']}, differing "
              f"{totals['differ']}; driver RSS {first_rss:.0f} -> {rss_mib():.0f} MiB", flush=True)
    finally:
        proxy.stop()
        ray.shutdown()
        server.terminate()


if __name__ == "__main__":
    main()
