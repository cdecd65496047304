"""Short-call throughput: ``diarize run`` over an archive of 2-minute 8 kHz calls against ``diarize file`` on the
same calls joined into one file, same cores, one invocation, figures side by side.

The calls are cut from the dev LibriSpeech conversations joined (tiled as often as needed), resampled to
8 kHz and written as mu-law WAV, as ``../shared/tools/scorecard.sh archive`` does. Both commands run as whole
processes pinned to the same ``--cores`` CPUs; start-up is cancelled out as in the scorecard: the engine's
time on a 5-second file is subtracted from its time on the joined file, the job's time on a 1-call manifest
from its time on the whole manifest (which then counts ``calls - 1`` calls of work). Throughput is audio
seconds per wall second; the ratio is job / engine (the target is >= 0.9). Also printed: the job's figure on
its own clock (the run report's wall time minus the actors' model loading), which does not depend on how
long Ray takes to start on a busy machine.

    python3 -m benchmarks.archive [--calls 12] [--cores 2] [--seconds 120] [--repeat 1] [--pipeline auto]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from benchmarks.paths import REPO, SHARED
RATE = 8000


@dataclass(frozen=True)
class Archive:
    """The files of one measurement, in a temporary folder."""

    folder: Path
    calls: int
    seconds: float
    joined: Path
    short: Path
    manifest: Path
    one: Path


def make_archive(folder: Path, calls: int, seconds: float) -> Archive:
    """``calls`` calls of ``seconds`` (8 kHz mu-law), their manifest, a 1-call manifest, the joined file and a
    5-second file."""
    sources = sorted((SHARED / "data" / "dev" / "libri_conversations").glob("*.wav"))
    if not sources:
        sys.exit(f"no dev audio under {SHARED / 'data' / 'dev' / 'libri_conversations'} (set DIARIZATION_SHARED)")
    speech = np.concatenate([sf.read(p, dtype="float32")[0] for p in sources])
    speech = soxr.resample(speech, 16000, RATE).astype(np.float32)
    size = int(seconds * RATE)
    pool = np.tile(speech, int(np.ceil(calls * size / len(speech))))
    pieces = [pool[i * size:(i + 1) * size] for i in range(calls)]
    rows = ["id,path"]
    for i, piece in enumerate(pieces):
        path = folder / f"call{i:04d}.wav"
        sf.write(path, piece, RATE, subtype="ULAW")
        rows.append(f"c{i},{path}")
    manifest, one = folder / "calls.csv", folder / "one.csv"
    manifest.write_text("\n".join(rows) + "\n")
    one.write_text("\n".join(rows[:2]) + "\n")
    joined, short = folder / "joined.wav", folder / "short.wav"
    sf.write(joined, np.concatenate(pieces), RATE, subtype="ULAW")
    sf.write(short, pieces[0][:5 * RATE], RATE, subtype="ULAW")
    return Archive(folder, calls, seconds, joined, short, manifest, one)


CPU_SECONDS: list[float] = []  # CPU seconds (user + system) of each command's processes, in order
TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(marker: str) -> dict[int, float]:
    """CPU seconds so far of every live process whose environment holds ``marker`` (the command's own and
    everything it starts: Ray's GCS, raylet, workers and actors inherit it)."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as handle:
                if marker.encode() not in handle.read():
                    continue
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
            found[int(entry.name)] = (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime
        except OSError:  # gone, or not ours to read
            continue
    return found


def wall(command: list[str], cores: list[int], env: dict[str, str]) -> float:
    """Seconds ``command`` takes as a whole process pinned to ``cores``; exits on failure. The CPU seconds of
    all its processes (sampled every 0.2 s; the last moments of a short-lived process are missed) go to
    ``CPU_SECONDS``."""
    marker = f"ARCHIVE_BENCHMARK_RUN={time.monotonic_ns()}"
    env = {**env, "ARCHIVE_BENCHMARK_RUN": marker.split("=", 1)[1]}
    seen: dict[int, float] = {}
    start = time.perf_counter()
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO,
                          preexec_fn=lambda: os.sched_setaffinity(0, cores)) as process:
        reader = threading.Thread(target=lambda: setattr(process, "output", process.stdout.read()), daemon=True)
        reader.start()
        while process.poll() is None:
            seen.update(process_cpu(marker))
            time.sleep(0.2)
        reader.join()
    seconds = time.perf_counter() - start
    if process.returncode:
        sys.exit(f"failed: {' '.join(command)}: {getattr(process, 'output', '').strip()[-800:]}")
    CPU_SECONDS.append(sum(seen.values()))
    return seconds


def measure(archive: Archive, cores: list[int], pipeline: str | None) -> dict[str, float | dict]:
    """One measurement of both commands: wall seconds, throughput, the job's worker seconds per stage."""
    CPU_SECONDS.clear()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           "DIARIZATION_MODELS": os.environ.get("DIARIZATION_MODELS") or str(SHARED / "models")}
    engine_env = {**env, "OMP_NUM_THREADS": str(len(cores))}
    engine_cmd = [sys.executable, "-c", "import sys; from diarization.cli import main; sys.exit(main())", "file"]
    joined = wall([*engine_cmd, str(archive.joined), "--rttm", str(archive.folder / "j.rttm"), "-q"], cores,
                  engine_env)
    short = wall([*engine_cmd, str(archive.short), "--rttm", str(archive.folder / "s.rttm"), "-q"], cores,
                 engine_env)
    tag = f"{time.monotonic_ns()}"
    job_cmd = [sys.executable, "-m", "jobs", "run", "--num-cpus", str(len(cores)), "--num-gpus", "0",
               "--no-progress", "--no-resume", *(["--pipeline", pipeline] if pipeline else [])]
    report = archive.folder / f"report-{tag}.json"
    whole = wall([*job_cmd, str(archive.manifest), "--output", str(archive.folder / f"out-{tag}"),
                  "--report-json", str(report)], cores, env)
    single = wall([*job_cmd, str(archive.one), "--output", str(archive.folder / f"one-{tag}")], cores, env)
    details = json.loads(report.read_text())
    engine_cpu, job_cpu = CPU_SECONDS[0] - CPU_SECONDS[1], CPU_SECONDS[2] - CPU_SECONDS[3]
    engine_seconds, job_seconds = joined - short, whole - single
    audio = archive.calls * archive.seconds
    in_run = details["wall_seconds"] - details["actors"]["start_seconds"]
    return {"engine_seconds": engine_seconds, "job_seconds": job_seconds,
            "engine_throughput": audio / engine_seconds,
            "job_throughput": (archive.calls - 1) * archive.seconds / job_seconds,
            "job_in_run_seconds": in_run, "job_in_run_throughput": audio / in_run,
            "job_wall": whole, "engine_wall": joined, "engine_cpu": engine_cpu, "job_cpu": job_cpu,
            "stages": {name: round(s["seconds"], 1) for name, s in details["stages"].items()},
            "plan": details["plan"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m benchmarks.archive", description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=12, help="calls in the archive (default 12)")
    parser.add_argument("--seconds", type=float, default=120.0, help="length of each call (default 120)")
    parser.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)),
                        help="CPUs both commands run on (default: all this process may use)")
    parser.add_argument("--repeat", type=int, default=1, help="measurements; the best ratio is reported")
    parser.add_argument("--pipeline", choices=["auto", "fused", "staged"], default=None,
                        help="the job's CPU path (default: the job's own choice)")
    args = parser.parse_args(argv)
    if args.calls < 2:
        parser.error("--calls must be at least 2 (a 1-call job is subtracted)")
    cores = sorted(os.sched_getaffinity(0))[:args.cores]
    with tempfile.TemporaryDirectory(prefix="archive-") as folder:
        archive = make_archive(Path(folder), args.calls, args.seconds)
        print(f"{args.calls} calls of {args.seconds:.0f} s, 8 kHz mu-law, {len(cores)} cores {cores}", flush=True)
        best = None
        for attempt in range(args.repeat):
            m = measure(archive, cores, args.pipeline)
            ratio = m["job_throughput"] / m["engine_throughput"]
            print(f"run {attempt + 1}: engine (diarize file, joined) {m['engine_seconds']:.1f} s = "
                  f"{m['engine_throughput']:.1f} audio s/s | job (diarize run) {m['job_seconds']:.1f} s = "
                  f"{m['job_throughput']:.1f} audio s/s | ratio {ratio:.2f} (target >= 0.9)", flush=True)
            print(f"  the job's own clock (run report: wall minus model loading) {m['job_in_run_seconds']:.1f} s = "
                  f"{m['job_in_run_throughput']:.1f} audio s/s, ratio "
                  f"{m['job_in_run_throughput'] / m['engine_throughput']:.2f}", flush=True)
            print(f"  CPU seconds of all processes (a busy machine's fairer view): engine {m['engine_cpu']:.1f}, job {m['job_cpu']:.1f} "
                  f"(for {args.calls - 1} calls: x{args.calls / (args.calls - 1):.3f} to compare): ratio "
                  f"{m['engine_cpu'] / (m['job_cpu'] * args.calls / (args.calls - 1)):.2f}", flush=True)
            print(f"  walls: engine {m['engine_wall']:.1f} s, job {m['job_wall']:.1f} s; job worker seconds "
                  f"{m['stages']}; plan {m['plan']}", flush=True)
            best = ratio if best is None else max(best, ratio)
        print(f"archive: job / engine throughput = {best:.2f}x (best of {args.repeat}; target >= 0.9x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
