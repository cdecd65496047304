"""One system of ``python3 -m benchmarks.compare`` in its own process: load, warm up, diarize, report.

Run by the system's own interpreter (ours: the project's python; the reference: the pyannote.audio 4.0.7
venv; senko: the senko 0.2.2 venv), so this module imports only the standard library at the top:

    PYTHON -m benchmarks.compare.child SYSTEM --out-dir RTTM_DIR [--models DIR] [--warmup WAV] WAV...

SYSTEM is ``ours-fast`` / ``ours-exact`` (our Pipeline, that mode, on ``--models``), ``reference``
(pyannote.audio's SpeakerDiarization configured from the community-1 folder ``--models``, as
``shared/tools/reference-diarize.py`` does), ``reference-default`` (the same pipeline class on our default
set ``--models``: segmentation-3.0 + CAM++, agglomerative clustering; see benchmarks.reference_pipelines)
or ``senko`` (senko 0.2.2 through ``benchmarks.senko_here``'s
torch fbank stand-in). Prints one ``RESULT {json}`` line after loading and one per file:

* load record: ``load_s`` (model loading), ``warmup_s`` (a first diarization of ``--warmup``, excluded
  from every other figure), ``rss_after_load_mb``, ``rss_after_warmup_mb``;
senko takes 16 kHz only: other rates are resampled (scipy ``resample_poly``) as part of its decode stage.

* file record: ``audio_s``, ``total_s`` (decode + diarize + write RTTM, model load excluded),
  ``stages_s`` (decode, segmentation, embeddings or segmentation+embeddings when both run side by side,
  clustering = clustering + reconstruction, writing, other = time a system spent outside its named
  stages), ``speakers``, ``turns``, ``stage_source``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Record = dict[str, Any]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _emit(record: Record) -> None:
    print("RESULT " + json.dumps(record), flush=True)


def _emit_loaded(start: float, loaded: float, rss_load: float, models: Any) -> None:
    """The first record of a child: model load and warm-up time and memory (both excluded from timing)."""
    warm = time.perf_counter()
    _emit({"load_s": round(loaded - start, 3), "warmup_s": round(warm - loaded, 3),
           "rss_after_load_mb": rss_load, "rss_after_warmup_mb": _rss_mb(), "models": models})


class StageClock:
    """Collects a pipeline hook's end-of-step marks: ``hook(step, artifact, total=None, completed=None)``.

    A call without ``total`` marks the end of ``step``. When embedding progress arrives before the
    segmentation has ended, both models ran side by side (our fast mode on CPU): their time is one stage.
    """

    def __init__(self) -> None:
        self.ends: dict[str, float] = {}
        self.concurrent = False

    def __call__(
        self,
        step: str,
        artifact: Any = None,
        *args: Any,
        total: int | None = None,
        completed: int | None = None,
        **kwargs: Any,
    ) -> None:
        if total is None:
            self.ends[step] = time.perf_counter()
        elif step == "embeddings" and "segmentation" not in self.ends:
            self.concurrent = True

    def stages(self, start: float, end: float, segmentation_end: str = "segmentation") -> dict[str, float]:
        """segmentation / embeddings / clustering seconds between ``start`` and ``end``."""
        seg = self.ends.get(segmentation_end, self.ends.get("segmentation", start))
        emb = self.ends.get("embeddings", seg)
        if self.concurrent:
            return {"segmentation+embeddings": emb - start, "clustering": end - emb}
        return {"segmentation": seg - start, "embeddings": emb - seg, "clustering": end - emb}


def _file_record(
    path: str, audio_s: float, stages: dict[str, float], speakers: int, turns: int, source: str
) -> Record:
    return {
        "file": path,
        "audio_s": round(audio_s, 3),
        "total_s": round(sum(stages.values()), 4),
        "stages_s": {k: round(v, 4) for k, v in stages.items()},
        "speakers": speakers,
        "turns": turns,
        "stage_source": source,
    }


def _rttm_path(out_dir: Path, audio: str) -> Path:
    return out_dir / f"{Path(audio).stem}.rttm"


# -- ours -----------------------------------------------------------------------------------------------


def run_ours(mode: str, models: str | None, files: list[str], out_dir: Path, warmup: str | None) -> None:
    """Our Pipeline as ``diarize file`` runs it (decode, ``pipeline(audio, hook=...)``, write RTTM)."""
    start = time.perf_counter()
    from diarization.pipeline import Pipeline

    pipeline = Pipeline.from_pretrained(models, device="cpu", mode=mode)
    loaded = time.perf_counter()
    rss_load = _rss_mb()
    if warmup:
        pipeline(warmup)
    _emit_loaded(start, loaded, rss_load, pipeline.versions)
    for path in files:
        clock = StageClock()
        t0 = time.perf_counter()
        audio = pipeline.load(path)
        t1 = time.perf_counter()
        result = pipeline(audio, hook=clock)
        t2 = time.perf_counter()
        _rttm_path(out_dir, path).write_text(result.to_rttm(), encoding="utf-8")
        t3 = time.perf_counter()
        stages = {"decode": t1 - t0, **clock.stages(t1, t2), "writing": t3 - t2}
        _emit(
            _file_record(
                path,
                audio.duration,
                stages,
                result.num_speakers,
                len(result.speaker_diarization),
                "progress hook",
            )
        )


# -- the reference ----------------------------------------------------------------------------------------


def run_reference(models: str, files: list[str], out_dir: Path, warmup: str | None,
                  plda_folder: str | None = None, constrained: bool = True) -> None:
    """pyannote.audio 4.0.7's pipeline (benchmarks.reference_pipelines): community-1 from a community-1
    folder, or, with ``plda_folder``, on our default set in ``models``; audio decoded with soundfile and
    given in memory."""
    import warnings

    warnings.filterwarnings("ignore")
    start = time.perf_counter()
    import soundfile as sf
    import torch

    from benchmarks.reference_pipelines import community1_pipeline, default_set_pipeline

    pipeline = (community1_pipeline(models) if plda_folder is None
                else default_set_pipeline(models, plda_folder, constrained))
    loaded = time.perf_counter()
    rss_load = _rss_mb()

    def read(path: str) -> tuple[dict[str, Any], float]:
        data, rate = sf.read(path, dtype="float32", always_2d=True)
        waveform = torch.from_numpy(data.T.copy())
        return {"waveform": waveform, "sample_rate": rate, "uri": Path(path).stem}, data.shape[0] / rate

    if warmup:
        pipeline(read(warmup)[0])
    _emit_loaded(start, loaded, rss_load, {"pyannote.audio": _version("pyannote.audio")})
    for path in files:
        clock = StageClock()
        t0 = time.perf_counter()
        item, duration = read(path)
        t1 = time.perf_counter()
        output = pipeline(item, hook=clock)
        t2 = time.perf_counter()
        with open(_rttm_path(out_dir, path), "w", encoding="utf-8") as rttm:
            output.speaker_diarization.write_rttm(rttm)
        t3 = time.perf_counter()
        # speaker counting belongs to the segmentation stage; clustering includes reconstruction
        stages = {
            "decode": t1 - t0,
            **clock.stages(t1, t2, segmentation_end="speaker_counting"),
            "writing": t3 - t2,
        }
        annotation = output.speaker_diarization
        _emit(
            _file_record(path, duration, stages, len(annotation.labels()), len(annotation), "progress hook")
        )


# -- senko ------------------------------------------------------------------------------------------------


def run_senko(files: list[str], out_dir: Path, warmup: str | None) -> None:
    """senko 0.2.2 with benchmarks.senko_here's fbank; stages from senko's own ``timing_stats``."""
    start = time.perf_counter()
    import senko
    import soundfile as sf
    import torch

    from benchmarks.senko_here import _fbank_list

    diarizer = senko.Diarizer(device="cpu", warmup=False, quiet=True)
    diarizer.use_gpu_fbank, diarizer.torch_device, diarizer.kaldifeat_fbank = (
        True,
        torch.device("cpu"),
        _fbank_list,
    )
    loaded = time.perf_counter()
    rss_load = _rss_mb()

    def read(path: str) -> tuple[Any, int]:
        """Mono 16 kHz: senko takes nothing else in memory, so other rates are resampled here (decode)."""
        data, rate = sf.read(path, dtype="float32", always_2d=True)
        mono = data.mean(axis=1)
        if rate != 16000:
            from math import gcd

            from scipy.signal import resample_poly

            g = gcd(16000, rate)
            mono = resample_poly(mono, 16000 // g, rate // g).astype("float32").clip(-1.0, 1.0)
        return mono, 16000

    if warmup:
        diarizer.diarize_samples(*read(warmup))
    _emit_loaded(start, loaded, rss_load, {"senko": _version("senko")})
    for path in files:
        t0 = time.perf_counter()
        samples, rate = read(path)
        t1 = time.perf_counter()
        result = diarizer.diarize_samples(samples, sample_rate=rate) or {}
        t2 = time.perf_counter()
        segments = result.get("merged_segments", [])
        uri = Path(path).stem
        with open(_rttm_path(out_dir, path), "w", encoding="utf-8") as rttm:
            for s in segments:
                rttm.write(
                    f"SPEAKER {uri} 1 {s['start']:.3f} {s['end'] - s['start']:.3f} <NA> <NA> "
                    f"{s['speaker']} <NA> <NA>\n"
                )
        t3 = time.perf_counter()
        timing = getattr(diarizer, "_timing_stats", {}) or {}
        named = {
            "segmentation": timing.get("vad_time", 0.0),  # silero VAD on CPU
            "embeddings": timing.get("fbank_time", 0.0) + timing.get("embeddings_time", 0.0),
            "clustering": timing.get("clustering_time", 0.0),
        }
        # senko rounds its stage times to 10 ms; what is left (resampling, sub-segments) is "other"
        stages = {
            "decode": t1 - t0,
            **named,
            "other": max(0.0, (t2 - t1) - sum(named.values())),
            "writing": t3 - t2,
        }
        _emit(
            _file_record(
                path,
                len(samples) / rate,
                stages,
                len({s["speaker"] for s in segments}),
                len(segments),
                "senko timing_stats (VAD = segmentation, fbank + CAM++ = embeddings)",
            )
        )


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


RUNNERS: dict[str, Callable[[argparse.Namespace], None]] = {
    "ours-fast": lambda a: run_ours("fast", a.models, a.files, Path(a.out_dir), a.warmup),
    "ours-exact": lambda a: run_ours("exact", a.models, a.files, Path(a.out_dir), a.warmup),
    "reference": lambda a: run_reference(a.models, a.files, Path(a.out_dir), a.warmup),
    "reference-default": lambda a: run_reference(
        a.models, a.files, Path(a.out_dir), a.warmup, a.plda, a.assignment == "constrained"),
    "senko": lambda a: run_senko(a.files, Path(a.out_dir), a.warmup),
}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("system", choices=sorted(RUNNERS))
    parser.add_argument("files", nargs="*")
    parser.add_argument(
        "--models", help="model folder (ours: default set or community-1; reference: community-1)"
    )
    parser.add_argument(
        "--plda", help="reference-default: a community-1 folder (pyannote always loads a PLDA)"
    )
    parser.add_argument("--assignment", choices=("constrained", "argmax"), default="constrained",
                        help="reference-default: how speakers are assigned to clusters")
    parser.add_argument("--out-dir", required=True, help="RTTM per file goes here")
    parser.add_argument("--warmup", help="diarize this file first, untimed")
    args = parser.parse_intermixed_args()
    Path(args.out_dir).mkdir(parents=True, exist_ok=True)
    if args.system == "reference" and not args.models:
        parser.error("reference needs --models (a community-1 folder)")
    if args.system == "reference-default" and not (args.models and args.plda):
        parser.error("reference-default needs --models (our default set) and --plda (a community-1 folder)")
    RUNNERS[args.system](args)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    sys.exit(main())
