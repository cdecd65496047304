"""Score the engine on the dev set: per-file and total DER and speaker-count errors.

DER is pyannote.metrics' ``DiarizationErrorRate(collar=0.0, skip_overlap=False)`` with the UEM where the
set gives one (``benchmarks.devset``), as ../shared/tools/der.py scores it.

usage: python3 -m benchmarks.der [--dev ../shared/data/dev] [--models DIR] [--out RTTM_DIR] [--exclusive]
    [--mode fast|exact] [--step SECONDS] [--offset SECONDS]

``--offset`` prepends that much silence to every file and shifts the output back before scoring: the
chunks then fall elsewhere on the speech, so the mean DER over a few offsets tells a setting's accuracy
from the luck of one chunk alignment (worth doing before choosing a step on 33 files).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from pathlib import Path

warnings.filterwarnings("ignore")

from pyannote.core import Annotation, Segment  # noqa: E402
from pyannote.metrics.diarization import DiarizationErrorRate  # noqa: E402

from benchmarks.devset import DEV, load_dev  # noqa: E402
from benchmarks.paths import SHARED  # noqa: E402
from diarization.pipeline import Pipeline  # noqa: E402


def delayed(pipeline: Pipeline, path: Path, seconds: float) -> dict:
    """The file's audio with ``seconds`` of silence before it, as an in-memory input."""
    import torch

    audio = pipeline.load(path)
    silence = torch.zeros((1, round(seconds * audio.sample_rate)), dtype=audio.waveform.dtype)
    return {"waveform": torch.cat([silence, audio.waveform], dim=1), "sample_rate": audio.sample_rate}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dev", default=str(DEV))
    parser.add_argument("--models", default=os.environ.get("DIARIZATION_MODELS") or str(SHARED / "models"),
                        help="model folder (default: $DIARIZATION_MODELS, else ../shared/models)")
    parser.add_argument("--out", default=None, help="keep the hypothesis RTTMs here")
    parser.add_argument("--exclusive", action="store_true", help="score the exclusive diarization")
    parser.add_argument("--mode", choices=["exact", "fast"], help="default: the model set's")
    parser.add_argument("--step", type=float, help="seconds between chunks (default: the mode's)")
    parser.add_argument("--offset", type=float, default=0.0, help="seconds of silence put before each file")
    args = parser.parse_args()

    dev = load_dev(Path(args.dev))
    refs, uems, wavs = dev.refs, dev.uems, dev.wavs
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp())
    out.mkdir(parents=True, exist_ok=True)

    pipeline = Pipeline.from_pretrained(args.models, mode=args.mode, step=args.step)
    print(f"models: {pipeline.models.name} ({pipeline.models.root}), device {pipeline.device}")
    metric = DiarizationErrorRate(collar=0.0, skip_overlap=False)
    by_group: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    count_errors, audio_seconds, compute_seconds = 0, 0.0, 0.0
    for uri in sorted(refs):
        if uri not in wavs:
            print(f"{uri}: no audio", file=sys.stderr)
            continue
        start = time.perf_counter()
        result = pipeline(wavs[uri] if not args.offset else delayed(pipeline, wavs[uri], args.offset))
        compute_seconds += time.perf_counter() - start
        audio_seconds += result.duration
        hyp_annotation = Annotation(uri=uri)
        annotation = result.exclusive_speaker_diarization if args.exclusive else result.speaker_diarization
        for i, (turn, speaker) in enumerate(annotation):
            begin, end = turn.start - args.offset, turn.end - args.offset
            if end > 0:
                hyp_annotation[Segment(max(begin, 0.0), end), i] = speaker
        (out / f"{uri}.rttm").write_text(hyp_annotation.to_rttm())
        ref = refs[uri]
        uem = uems.get(uri)
        details = metric(ref, hyp_annotation, uem=uem, detailed=True) if uem else \
            metric(ref, hyp_annotation, detailed=True)
        group = wavs[uri].parent.name
        by_group[group][0] += details["confusion"] + details["missed detection"] + details["false alarm"]
        by_group[group][1] += details["total"]
        n_hyp, n_ref = len(hyp_annotation.labels()), len(ref.labels())
        count_errors += n_hyp != n_ref
        print(f"{uri:28s} DER {100 * details['diarization error rate']:6.2f}%  "
              f"(miss {details['missed detection']:.1f} s, fa {details['false alarm']:.1f} s, "
              f"conf {details['confusion']:.1f} s)  speakers hyp {n_hyp} ref {n_ref}", flush=True)
    for group, (error, total) in sorted(by_group.items()):
        print(f"  {group:24s} DER {100 * error / max(total, 1e-9):6.2f}%")
    print(f"speaker-count errors: {count_errors} of {len(refs)} files")
    print(f"compute: {compute_seconds:.1f} s for {audio_seconds:.1f} s of audio "
          f"(real-time factor {compute_seconds / max(audio_seconds, 1e-9):.4f}, includes decoding)")
    print(f"DER {100 * abs(metric):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
