"""One hour of audio end to end on one GPU: time per stage, GPU utilisation, GPU memory, and agreement
with the same pipeline on CPU.

The input is the dev set's LibriSpeech conversations (``--dev``: a folder of WAV/FLAC files) joined and
repeated to ``--minutes`` minutes, written as one 16 kHz PCM16 WAV. For each ``--modes`` entry the
pipeline is loaded on the GPU and warmed up on a 10 s clip (not timed), then run ``--repeat`` times on the
whole file, stage by stage as ``Pipeline.__call__`` runs them on a GPU: decode (the WAV read from disk),
segmentation, embeddings, clustering + reconstruction, writing the RTTM, with a device sync after each
GPU stage. Printed per mode (best run): end to end seconds and seconds per hour of audio, the stage
breakdown, GPU utilisation while the run lasted (NVML samples every 10 ms: mean and share of samples
with a kernel running), peak GPU memory (``torch.cuda.max_memory_allocated``), then the agreement of
the GPU's output with the CPU's on the first ``--check-minutes`` minutes (share of speech frames whose
speaker set differs after the best one-to-one mapping of labels).

Then the many-short-files case (``benchmarks.gpu_short``): ``--short-files`` calls of ``--short-minutes``
minutes cut from the same audio, in batches of ``--batch-files`` files through the Ray job's staged GPU path
(decode, ``segment_many``, ``embed_many``, finish per file), after one untimed warm-up batch. Printed: its
seconds per hour of audio, stage breakdown, GPU utilisation, peak GPU memory and the embedding trunk's
passes, then both cases' seconds per hour and their ratio, end to end and for the GPU stages alone.
``--device cpu`` runs it all on CPU (no utilisation, no check): a smoke run, not a GPU figure.

    python3 -m benchmarks.gpu [--minutes 60] [--models DIR] [--dev DIR] [--modes fast,exact]
        [--repeat 3] [--segmentation-batch 256] [--embedding-batch 64] [--check-minutes 2] [--device cuda]
        [--short-files 1000] [--short-minutes 3] [--batch-files 32] [--short-repeat 1]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
import traceback
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch


from benchmarks.compare.inputs import RATE, write_tiled
from benchmarks.gpu_short import run_short_files, write_calls
from benchmarks.paths import DEV, SHARED
from diarization import Pipeline
from diarization.result import Diarization

DEFAULT_DEV = DEV / "libri_conversations"


def speech_pool(dev: Path, rate: int = RATE) -> np.ndarray:
    """The folder's audio files (WAV or FLAC), mono at ``rate``, joined in name order."""
    pieces = []
    for path in sorted(p for p in dev.iterdir() if p.suffix.lower() in (".wav", ".flac")):
        data, source_rate = sf.read(path, dtype="float32", always_2d=True)
        pieces.append(soxr.resample(data.mean(axis=1), source_rate, rate).astype(np.float32))
    if not pieces:
        raise SystemExit(f"no .wav or .flac files in {dev}")
    return np.concatenate(pieces)


class GpuSampler:
    """NVML utilisation samples in a thread while a ``with`` block runs (empty without NVML)."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.samples: list[int] = []
        self._stop = threading.Event()
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(torch.cuda.current_device())
        except Exception:  # noqa: BLE001 - no NVML: report no utilisation rather than fail
            self._nvml = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self._nvml.nvmlDeviceGetUtilizationRates(self._handle).gpu)
            time.sleep(self.interval)

    def __enter__(self) -> GpuSampler:
        if self._nvml is not None:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._nvml is not None:
            self._thread.join()

    def summary(self) -> str:
        if not self.samples:
            return "n/a (no NVML)"
        values = np.asarray(self.samples)
        return f"mean {values.mean():.0f}%, busy in {100 * (values > 0).mean():.0f}% of {len(values)} samples"


def run_stages(pipeline: Pipeline, path: Path, rttm: Path, profile: bool = False) -> tuple[dict[str, float], object]:
    """One end-to-end run, stage by stage (what ``Pipeline.__call__`` does on a GPU), timed; ``profile``
    prints where the CPU-side stages (decode, clustering) spend their time."""
    import cProfile
    import pstats

    profiler = cProfile.Profile() if profile else None
    sync = torch.cuda.synchronize if pipeline.device.type == "cuda" else (lambda: None)
    times: dict[str, float] = {}
    start = time.perf_counter()
    audio = pipeline.load(path)
    times["decode"] = time.perf_counter() - start
    mark = time.perf_counter()
    audio = pipeline.on_device(audio)
    [segmentations] = pipeline.segment_many([audio])
    sync()
    times["segmentation"] = time.perf_counter() - mark
    mark = time.perf_counter()
    embeddings = pipeline.embed_many([(audio, segmentations)])[0] if pipeline.needs_embeddings(segmentations) else None
    sync()
    times["embeddings"] = time.perf_counter() - mark
    mark = time.perf_counter()
    if profiler:
        profiler.enable()
    result = pipeline.finish(audio.uri, audio.duration, segmentations, embeddings,
                             telephone=audio.telephone)
    times["clustering"] = time.perf_counter() - mark
    if profiler:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(18)
    mark = time.perf_counter()
    result.write_rttm(rttm)
    times["write"] = time.perf_counter() - mark
    times["total"] = time.perf_counter() - start
    return times, result


def profile_gpu_stages(pipeline: Pipeline, path: Path) -> None:
    """torch.profiler's tables (by CUDA time, by CPU time) of segmentation + embeddings on ``path``."""
    from torch.profiler import ProfilerActivity, profile

    audio = pipeline.on_device(pipeline.load(path))
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        [segmentations] = pipeline.segment_many([audio])
        torch.cuda.synchronize()
        pipeline.embed_many([(audio, segmentations)])
        torch.cuda.synchronize()
    events = prof.key_averages()
    print(events.table(sort_by="cuda_time_total", row_limit=15, max_name_column_width=60))
    print(events.table(sort_by="self_cpu_time_total", row_limit=15, max_name_column_width=60))


def frame_disagreement(a: Diarization, b: Diarization, duration: float, step: float = 0.01) -> float:
    """Share of frames (speech in either) whose speaker sets differ, after the best label mapping."""
    frames = int(duration / step) + 1

    def matrix(diarization: Diarization) -> tuple[np.ndarray, list[str]]:
        labels = diarization.labels()
        active = np.zeros((len(labels), frames), bool)
        for turn, speaker in diarization:
            active[labels.index(speaker), int(turn.start / step):int(turn.end / step)] = True
        return active, labels

    from scipy.optimize import linear_sum_assignment

    x, _ = matrix(a)
    y, _ = matrix(b)
    size = max(len(x), len(y), 1)
    x = np.vstack([x, np.zeros((size - len(x), frames), bool)])
    y = np.vstack([y, np.zeros((size - len(y), frames), bool)])
    overlap = x.astype(np.float32) @ y.T.astype(np.float32)
    rows, cols = linear_sum_assignment(-overlap)
    y = y[cols[np.argsort(rows)]]
    speech = x.any(axis=0) | y.any(axis=0)
    differ = (x != y).any(axis=0) & speech
    return float(differ.sum() / max(speech.sum(), 1))


def short_files_case(pipeline: Pipeline, calls: list[Path], minutes: float, batch_files: int, repeat: int,
                     long_best: dict[str, float], long_hours: float) -> None:
    """Time the many-short-files case (best of ``repeat``) and print it beside the long file's best run."""
    run_short_files(pipeline, calls[:batch_files], batch_files)  # warm-up: this batch size's shapes
    hours = len(calls) * minutes / 60
    best = None
    for attempt in range(repeat):
        if pipeline.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        with GpuSampler() as sampler:
            run = run_short_files(pipeline, calls, batch_files)
        memory = torch.cuda.max_memory_allocated() / 2**30 if pipeline.device.type == "cuda" else float("nan")
        print(f"  short files run {attempt + 1}: {run.total:.2f} s for {hours:.2f} h ({run.total / hours:.2f} s per "
              f"hour of audio) | {run.breakdown()} | GPU {sampler.summary()} | peak GPU memory {memory:.2f} GiB | "
              f"{run.trunk_passes} trunk passes, {run.trunk_tiles / max(run.trunk_passes, 1):.1f} tiles per pass",
              flush=True)
        if best is None or run.total < best.total:
            best = run
    long_gpu = long_best["segmentation"] + long_best["embeddings"]
    print(f"  seconds per hour of audio: long file {long_best['total'] / long_hours:.2f}, {len(calls)} x {minutes:g} "
          f"min {best.total / hours:.2f} (ratio {best.total / hours / (long_best['total'] / long_hours):.2f}); "
          f"GPU stages alone (segmentation + embeddings): long file {long_gpu / long_hours:.2f}, short files "
          f"{best.gpu_stages / hours:.2f} (ratio {best.gpu_stages / hours / (long_gpu / long_hours):.2f})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--models", default=os.environ.get("DIARIZATION_MODELS")
                        or str(SHARED / "models"),
                        help="model folder (default: DIARIZATION_MODELS / ../shared/models)")
    parser.add_argument("--dev", default=str(DEFAULT_DEV), help="folder of speech files to join")
    parser.add_argument("--modes", default="fast,exact")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--segmentation-batch", type=int, default=256)
    parser.add_argument("--embedding-batch", type=int, default=64)
    parser.add_argument("--check-minutes", type=float, default=2.0, help="0: no CPU agreement check")
    parser.add_argument("--device", default="cuda", help="cuda, or cpu for a smoke run")
    parser.add_argument("--short-files", type=int, default=1000, help="calls in the short-files case (0: none)")
    parser.add_argument("--short-minutes", type=float, default=3.0, help="length of each short call")
    parser.add_argument("--batch-files", type=int, default=32, help="files per model call (the job's GPU default)")
    parser.add_argument("--short-repeat", type=int, default=1, help="timed runs of the short-files case")
    parser.add_argument("--profile", action="store_true", help="profile the clustering stage of one more run")
    parser.add_argument("--torch-profile", action="store_true",
                        help="torch.profiler table of the GPU stages (segmentation, embeddings) of one more run")
    parser.add_argument("--cudnn-benchmark", action="store_true", help="let cuDNN time its algorithms first")
    args = parser.parse_args()

    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("no CUDA device")
        print(f"GPU: {torch.cuda.get_device_name()}, torch {torch.__version__}, "
              f"cuDNN {torch.backends.cudnn.version()}, TF32 convolutions {torch.backends.cudnn.allow_tf32}")
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    work = Path(tempfile.mkdtemp(prefix="gpu-bench-"))
    pool = speech_pool(Path(args.dev))
    path = write_tiled(work / "long.wav", pool, args.minutes * 60)
    clip = write_tiled(work / "clip.wav", pool, 10.0)
    hours = args.minutes / 60
    print(f"input: {args.minutes:g} min of joined LibriSpeech conversations, 16 kHz PCM16 WAV")
    calls = write_calls(work, pool, args.short_files, args.short_minutes * 60) if args.short_files > 0 else []
    if calls:
        print(f"short files: {len(calls)} calls of {args.short_minutes:g} min cut from the same audio, "
              f"{args.batch_files} per batch")

    for mode in args.modes.split(","):
        try:
            load = time.perf_counter()
            pipeline = Pipeline.from_pretrained(args.models, device=device, mode=mode,
                                                segmentation_batch_size=args.segmentation_batch,
                                                embedding_batch_size=args.embedding_batch)
            run_stages(pipeline, clip, work / "clip.rttm")  # warm-up: cuDNN plans, allocator
            print(f"\n== mode {mode} (step {pipeline.segmenter.step} s) on {pipeline.device}: "
                  f"load + warm-up {time.perf_counter() - load:.1f} s ==")
            best = None
            for attempt in range(args.repeat):
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats()
                with GpuSampler() as sampler:
                    times, result = run_stages(pipeline, path, work / f"{mode}.rttm")
                memory = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
                stages = ", ".join(f"{k} {v:.2f}" for k, v in times.items() if k != "total")
                print(f"  run {attempt + 1}: {times['total']:.2f} s end to end ({times['total'] / hours:.2f} s per hour "
                      f"of audio) | {stages} | GPU {sampler.summary()} | peak GPU memory {memory:.2f} GiB | "
                      f"{result.num_speakers} speakers", flush=True)
                if best is None or times["total"] < best["total"]:
                    best = times
            print(f"  best: {best['total']:.2f} s for {hours:.2f} h = {best['total'] / hours:.2f} s per hour")
            if calls:
                short_files_case(pipeline, calls, args.short_minutes, args.batch_files, args.short_repeat, best, hours)
            if args.profile:
                run_stages(pipeline, path, work / f"{mode}.rttm", profile=True)
            if args.torch_profile:
                profile_gpu_stages(pipeline, path)
            if args.check_minutes > 0 and device.type == "cuda":
                piece = write_tiled(work / "check.wav", pool, args.check_minutes * 60)
                _, on_gpu = run_stages(pipeline, piece, work / "check-gpu.rttm")
                on_cpu = Pipeline.from_pretrained(args.models, device="cpu", mode=mode)(piece)
                share = frame_disagreement(on_gpu.speaker_diarization, on_cpu.speaker_diarization,
                                           args.check_minutes * 60)
                print(f"  GPU vs CPU on the first {args.check_minutes:g} min: speakers {on_gpu.num_speakers} vs "
                      f"{on_cpu.num_speakers}, speech frames with a different speaker set {100 * share:.2f}%")
        except Exception:  # noqa: BLE001 - report and go on with the next mode
            traceback.print_exc()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
