"""Peak memory and time of the whole Pipeline on long files (10 min, 1 h, 2 h by default).

Each input is an 8 kHz PCM16 WAV written block by block into a temporary folder: a low noise floor
("silence") with noise bursts and, every ``--speech-every`` seconds, an excerpt of real dev speech (so
the embedding and clustering stages run over the whole length too, not only segmentation). Each file is
diarized in a fresh child process (``Pipeline.from_pretrained(--models)(path)``), which reports its wall
time per stage and its peak resident memory (``resource.getrusage(RUSAGE_SELF).ru_maxrss``, and
``/proc/self/statm`` sampled every 20 ms to tell which stage holds the peak). Printed:
one row per duration, and the memory growth per hour of audio between the shortest and longest.

    python3 -m benchmarks.long_file_memory [--minutes 10 60 120] [--models ../shared/models]
        [--threads 1] [--speech-every 60] [--keep DIR]

The child sets ``OMP_WAIT_POLICY=PASSIVE`` unless the caller set it (torch's spinning OpenMP threads
make the LSTM hundreds of times slower when another process competes for the cores).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from benchmarks.paths import REPO, SHARED

SPEECH_SOURCES = ["libri_conversations/dev_2spk_00.wav", "libri_conversations/dev_3spk_09.wav",
                  "pyannote_sample/sample.wav"]


def speech_pool(rate: int, shared: Path = SHARED) -> list[np.ndarray]:
    """Real speech at ``rate`` to paste into the long file (empty when the dev data is absent)."""
    pool = []
    for name in SPEECH_SOURCES:
        path = shared / "data" / "dev" / name
        if path.is_file():
            data, source_rate = sf.read(path, dtype="float32", always_2d=True)
            pool.append(soxr.resample(data[:, 0], source_rate, rate).astype(np.float32))
    return pool


def write_long_file(path: Path, seconds: float, rate: int = 8000, speech_every: float = 60.0,
                    speech_seconds: float = 8.0, seed: int = 0, shared: Path = SHARED) -> Path:
    """Silence (noise floor ~ -70 dBFS) + 0.2-2 s noise bursts every ~10 s + a speech excerpt every
    ``speech_every`` s (0: none). Written in 60 s blocks, so generating a 2 h file needs little memory."""
    rng = np.random.default_rng(seed)
    pool = speech_pool(rate, shared) if speech_every > 0 else []
    total = round(seconds * rate)
    block = 60 * rate
    next_speech = 5.0 * rate
    next_burst = 3.0 * rate
    with sf.SoundFile(path, "w", samplerate=rate, channels=1, subtype="PCM_16", format="WAV") as out:
        for start in range(0, total, block):
            n = min(block, total - start)
            x = (rng.standard_normal(n) * 3e-4).astype(np.float32)
            while next_burst < start + n:
                a = int(next_burst) - start
                length = int(rng.uniform(0.2, 2.0) * rate)
                piece = (rng.standard_normal(length) * rng.uniform(0.01, 0.3)).astype(np.float32)
                x[a : a + length] += piece[: n - a]
                next_burst += rng.uniform(5.0, 15.0) * rate
            while pool and next_speech < start + n:
                a = int(next_speech) - start
                source = pool[int(rng.integers(len(pool)))]
                length = int(speech_seconds * rate)
                offset = int(rng.integers(0, max(1, len(source) - length)))
                x[a : a + length] += source[offset : offset + length][: n - a]
                next_speech += speech_every * rate
            out.write(np.clip(x, -1.0, 1.0))
    return path


def child(path: str, models: str, threads: int) -> None:
    """Diarize one file in this process; print one JSON line of figures."""
    import torch

    torch.set_num_threads(threads)
    from diarization.pipeline import Pipeline

    start = time.perf_counter()
    pipeline = Pipeline.from_pretrained(models, device="cpu")
    loaded = time.perf_counter()
    rss_models = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    marks: dict[str, float] = {}
    current = ["load+segmentation"]
    peaks: dict[str, float] = {}
    done = threading.Event()

    def hook(step, artifact=None, total=None, completed=None, **_):
        marks[step] = time.perf_counter()
        if total is None:  # a stage's end: what follows belongs to the next one
            current[0] = {"segmentation": "embeddings", "embeddings": "clustering"}.get(step, "rest")

    def sample() -> None:  # resident memory every 20 ms, kept per stage
        page = os.sysconf("SC_PAGE_SIZE") / 2**20
        while not done.wait(0.02):
            with open("/proc/self/statm") as statm:
                rss = int(statm.read().split()[1]) * page
            peaks[current[0]] = max(peaks.get(current[0], 0.0), rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    result = pipeline(path, hook=hook)
    end = time.perf_counter()
    done.set()
    sampler.join()
    stages, previous = {}, loaded
    for step in ("segmentation", "embeddings", "clustering"):
        if step in marks:
            stages[step] = round(marks[step] - previous, 2)
            previous = marks[step]
    print(json.dumps({
        "audio_s": result.duration, "load_models_s": round(loaded - start, 2), "diarize_s": round(end - loaded, 2),
        "stages_s": stages, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_after_models_mb": rss_models / 1024,
        "stage_peak_rss_mb": {k: round(v) for k, v in peaks.items()}, "speakers": result.num_speakers,
        "turns": len(result.speaker_diarization), "mode": getattr(pipeline, "mode", "exact"),
    }))


def measure(path: Path, models: str, threads: int = 1, timeout: float | None = None) -> dict:
    """Run ``child`` on ``path`` in a fresh interpreter; its figures plus the process's wall time."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-W", "ignore", "-m", "benchmarks.long_file_memory", "--child", str(path), "--models", models,
                          "--threads", str(threads)], capture_output=True, text=True, env=env, timeout=timeout,
                         cwd=REPO, check=False)
    if run.returncode:
        raise RuntimeError(f"child failed on {path} (exit {run.returncode}):\n{run.stderr[-3000:]}")
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    figures["process_s"] = round(time.perf_counter() - start, 2)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[10, 60, 120])
    parser.add_argument("--models", default=str(SHARED / "models"), help="model set or community-1 folder")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the child (default 1)")
    parser.add_argument("--rate", type=int, default=8000, help="sample rate of the generated files")
    parser.add_argument("--speech-every", type=float, default=60.0, help="seconds between speech excerpts (0: none)")
    parser.add_argument("--keep", help="write the generated files here instead of a temporary folder")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.models, args.threads)
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        print(f"models {args.models}, {args.threads} torch thread(s), {args.rate} Hz input, "
              f"speech every {args.speech_every:g} s, {os.cpu_count()} cores")
        print(f"{'audio':>8} {'file MB':>8} {'peak RSS MB':>12} {'models MB':>10} {'diarize s':>10} "
              f"{'RTF':>7} {'process s':>10}  stages (s) / speakers / turns")
        for minutes in args.minutes:
            path = write_long_file(folder / f"long_{minutes:g}min.wav", minutes * 60, args.rate, args.speech_every)
            figures = measure(path, args.models, args.threads)
            figures["minutes"] = minutes
            rows.append(figures)
            print(f"{minutes:>6g} m {path.stat().st_size / 2**20:>8.1f} {figures['peak_rss_mb']:>12.0f} "
                  f"{figures['rss_after_models_mb']:>10.0f} {figures['diarize_s']:>10.1f} "
                  f"{figures['diarize_s'] / figures['audio_s']:>7.4f} {figures['process_s']:>10.1f}  "
                  f"{figures['stages_s']} / {figures['speakers']} / {figures['turns']} ({figures['mode']})",
                  flush=True)
            print(f"{'':>10} peak RSS by stage (MB): {figures['stage_peak_rss_mb']}", flush=True)
            if not args.keep:
                path.unlink()
    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        hours = (b["audio_s"] - a["audio_s"]) / 3600
        print(f"peak RSS growth: {(b['peak_rss_mb'] - a['peak_rss_mb']) / hours:.0f} MB per hour of audio "
              f"(16 kHz float32 waveform alone: {16000 * 4 * 3600 / 2**20:.0f} MB/h)")


if __name__ == "__main__":
    main()
