"""Scaling of the Ray job layer: the same 40-file batch on 1 and on 2 CPU workers.

A worker is one CPU core holding one segmentation and one embedding actor and running its share of the
decoding and clustering tasks. Each configuration runs in a fresh process with its own local Ray
(``num_cpus`` = workers), pinned to that many cores, so the 1-worker run cannot borrow the second core.
Printed: wall time, files/s and audio speed per configuration, and the 2-vs-1 throughput ratio,
measured on the steady part of the job (after the actors have loaded their models) and on the wall time.

    python3 -m benchmarks.jobs_scaling [--files 40] [--seconds 12] [--models ../shared/models]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from benchmarks.paths import SHARED

SOURCES = sorted((SHARED / "data" / "dev" / "libri_conversations").glob("*.wav"))


def make_batch(folder: Path, files: int, seconds: float) -> Path:
    """``files`` 8 kHz telephone-style excerpts of the dev conversations, and a CSV manifest of them."""
    rows = ["path"]
    for n in range(files):
        source = SOURCES[n % len(SOURCES)]
        data, rate = sf.read(source, dtype="float32")
        start = int((n // len(SOURCES)) * seconds * rate) % max(1, len(data) - int(seconds * rate))
        piece = soxr.resample(data[start:start + int(seconds * rate)], rate, 8000).astype(np.float32)
        path = folder / f"call{n:03d}.wav"
        sf.write(path, piece, 8000, subtype="PCM_16")
        rows.append(str(path))
    manifest = folder / "calls.csv"
    manifest.write_text("\n".join(rows) + "\n")
    return manifest


def start_ray(workers: int, attempts: int = 3) -> None:
    """A local Ray of ``workers`` CPUs. Ray gives its raylet a fixed 30 s to register; on a busy machine
    (and pinned to one core) that can run out, so a failed start is retried from scratch."""
    import ray

    for attempt in range(1, attempts + 1):
        try:
            ray.init(num_cpus=workers, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
            return
        except Exception as error:  # noqa: BLE001 - Ray raises a bare Exception on a startup timeout
            ray.shutdown()
            if attempt == attempts or "timed out during startup" not in str(error):
                raise
            print(f"ray start failed ({error}); retrying ({attempt}/{attempts})", file=sys.stderr, flush=True)
            time.sleep(5)


def child(workers: int, manifest: str, output: str, models: str) -> None:
    """One configuration: a local Ray of ``workers`` CPUs, ``workers`` actors per stage."""
    import ray

    from jobs.cli import export_code_path
    from jobs.driver import run_job
    from jobs.plan import JobOptions

    export_code_path()
    start_ray(workers)
    report = run_job(JobOptions(manifest, output, run_date="2026-01-01", models=models, segmentation_actors=workers,
                                embedding_actors=workers, shard_size=10, batch_files=2, progress=False))
    ray.shutdown()
    print("REPORT " + json.dumps(report, default=str))


def run(workers: int, manifest: Path, folder: Path, models: str) -> dict:
    cores = sorted(os.sched_getaffinity(0))[:workers]
    if len(cores) < workers:
        sys.exit(f"needs {workers} cores, this machine has {len(cores)}")
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.jobs_scaling", "--child", str(workers), "--manifest", str(manifest),
         "--output", str(folder / f"out-{workers}"), "--models", models],
        capture_output=True, text=True, preexec_fn=lambda: os.sched_setaffinity(0, cores), check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("REPORT ")]
    if result.returncode or not lines:
        sys.exit(f"{workers} worker(s) failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return json.loads(lines[-1][len("REPORT "):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=12.0, help="length of each file")
    parser.add_argument("--models", default=str(SHARED / "models"))
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--manifest", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.manifest, args.output, args.models)
        return
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        manifest = make_batch(folder, args.files, args.seconds)
        reports = {w: run(w, manifest, folder, args.models) for w in (1, 2)}
    print(f"{args.files} files x {args.seconds:g} s (8 kHz), CPU workers pinned to cores")
    print(f"{'workers':>7} {'wall s':>7} {'steady s':>8} {'files/s':>8} {'steady files/s':>14} {'x real time':>11}")
    rates = {}
    for workers, report in reports.items():
        assert report["files"]["ok"] == args.files, report["files"]
        wall = report["wall_seconds"]
        steady = wall - report["actors"]["start_seconds"]
        rates[workers] = (args.files / wall, args.files / steady)
        print(f"{workers:>7} {wall:>7.1f} {steady:>8.1f} {rates[workers][0]:>8.2f} {rates[workers][1]:>14.2f} "
              f"{report['audio_hours'] * 3600 / wall:>11.1f}")
    print(f"ratio 2 vs 1 worker: {rates[2][0] / rates[1][0]:.2f}x (wall), {rates[2][1] / rates[1][1]:.2f}x (steady)")
    for workers, report in reports.items():  # busy worker time: how much of the cores the stages used
        stages = {name: s["seconds"] for name, s in report["stages"].items()}
        steady = report["wall_seconds"] - report["actors"]["start_seconds"]
        print(f"{workers} worker(s): stage seconds " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items())
              + f"; busy {sum(stages.values()) / (steady * workers):.0%} of the cores' steady time")


if __name__ == "__main__":
    main()
