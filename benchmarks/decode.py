"""Decoding a long file: one thread (the block decoder) against ranges decoded by several threads.

Builds ``--minutes`` of the dev pool (``benchmarks.compare.inputs.speech_pool``) in four encodings that
archives hold: 16 kHz PCM16 WAV, 16 kHz FLAC, 8 kHz stereo PCM16 WAV (one party per channel) and 8 kHz mono
mu-law WAV. Each is decoded by ``diarization.load_audio`` with ``workers=1`` and with ``--workers``
(default: torch's thread count), alternately, ``--repeat`` times; prints the best time of each, their
ratio, and whether the two waveforms are identical (they must be). Mono files below 16 kHz stay with the
block decoder by design (their time is the resampler's), so that row shows the same path twice.

    python3 -m benchmarks.decode [--minutes 60] [--repeat 5] [--workers N] [--folder DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

from benchmarks.compare.inputs import RATE, speech_pool
from diarization import load_audio


def write_inputs(folder: Path, minutes: float) -> dict[str, Path]:
    """The four encodings of ``minutes`` of the dev pool (kept in ``folder`` between runs)."""
    pool = speech_pool()
    samples = np.resize(np.clip(pool, -1.0, 1.0), round(minutes * 60 * RATE)).astype(np.float32)
    phone = soxr.resample(samples, RATE, 8000).astype(np.float32)
    specs = {
        "16 kHz PCM16 WAV": ("pcm16k.wav", samples, RATE, "WAV", "PCM_16"),
        "16 kHz FLAC": ("flac16k.flac", samples, RATE, "FLAC", "PCM_16"),
        "8 kHz stereo PCM16 WAV": ("stereo8k.wav", np.stack([phone, phone[::-1]], axis=1), 8000, "WAV",
                                   "PCM_16"),
        "8 kHz mono mu-law WAV": ("ulaw8k.wav", phone, 8000, "WAV", "ULAW"),
    }
    paths = {}
    for label, (name, data, rate, fmt, subtype) in specs.items():
        path = folder / f"{minutes:g}m-{name}"
        if not path.exists():
            sf.write(path, data, rate, format=fmt, subtype=subtype)
        paths[label] = path
    return paths


def timed_decode(path: Path, workers: int) -> tuple[float, torch.Tensor]:
    """Wall time of one decode with ``workers`` threads, and its waveform."""
    start = time.perf_counter()
    waveform = load_audio(path, workers=workers).waveform
    return time.perf_counter() - start, waveform


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workers", type=int, default=torch.get_num_threads())
    parser.add_argument("--folder", default=None,
                        help="where the inputs are written (default: a temporary folder)")
    args = parser.parse_args()
    folder = Path(args.folder or tempfile.mkdtemp(prefix="decode-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"{args.minutes:g} min of the dev pool; best of {args.repeat}; {args.workers} workers")
    print(f"{'input':<24} {'1 thread':>9} {'ranges':>9} {'ratio':>6}  identical")
    for label, path in write_inputs(folder, args.minutes).items():
        one, many = [], []
        for _ in range(args.repeat):  # alternate, so a slow moment of the machine hits both
            seconds, sequential = timed_decode(path, 1)
            one.append(seconds)
            seconds, ranged = timed_decode(path, args.workers)
            many.append(seconds)
        same = sequential.shape == ranged.shape and bool(torch.equal(sequential, ranged))
        print(f"{label:<24} {min(one):>8.3f}s {min(many):>8.3f}s {min(one) / min(many):>5.2f}x  {same}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
