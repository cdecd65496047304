"""Score the engine: per file, per subset and in total, DER split into miss / false alarm / confusion, and
speaker-count errors (hypothesis vs reference number of speakers per file).

DER is pyannote.metrics' ``DiarizationErrorRate(collar=0.0, skip_overlap=False)`` with the UEM where the
set gives one, as ../shared/tools/der.py scores it (``benchmarks.accuracy``).

usage: python3 -m benchmarks.der [--dev ../shared/data/dev] [--calls [DIR ...]] [--models DIR]
    [--out RTTM_DIR] [--exclusive] [--mode fast|exact] [--step SECONDS] [--offsets 0,0.8,1.6]
    [--cache DIR] [--clustering JSON] [--quiet]

``--calls`` adds ../shared/data/dev-calls/mono and mp3 (or the folders given) as further sets.
``--offsets`` (or ``--offset``) prepends that much silence to every file and shifts the output back before
scoring: the chunks then fall elsewhere on the speech, so the pooled DER over a few offsets tells a
setting's accuracy from the luck of one chunk alignment (worth doing on 33 files).
``--cache DIR`` keeps each file's segmentation and embeddings (``benchmarks.feature_cache``): a second run,
e.g. with other ``--clustering`` parameters (JSON merged into the clustering's), only clusters.
"""

from __future__ import annotations

import argparse
import os
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.accuracy import (  # noqa: F401  (load_rttm, load_uem: imported from here by other scripts)
    FileScore,
    ScoredFile,
    collect,
    count_table,
    hypothesis,
    load_rttm,
    load_uem,
    score,
    table,
)
from benchmarks.feature_cache import Features, delayed, features  # noqa: F401  (delayed: as before)
from benchmarks.paths import SHARED
from diarization.clustering import Clustering
from diarization.finish import Finisher
from diarization.pipeline import Pipeline

SHARED_DATA = SHARED / "data"
DEFAULT_CALLS = [SHARED_DATA / "dev-calls" / "mono", SHARED_DATA / "dev-calls" / "mp3"]


def with_clustering(finisher: Finisher, overrides: dict) -> Finisher:
    """``finisher`` with its clusterings' parameters (telephone audio's too) updated by ``overrides``."""
    if not overrides:
        return finisher

    def updated(clustering: Clustering | None) -> Clustering | None:
        return clustering and dataclasses.replace(clustering, **overrides)

    return dataclasses.replace(finisher, clustering=updated(finisher.clustering),
                               telephone_clustering=updated(finisher.telephone_clustering),
                               channel_clustering=updated(finisher.channel_clustering))


def finish_and_score(finisher: Finisher, item: ScoredFile, feats: Features, offset: float,
                     exclusive: bool = False) -> tuple[FileScore, object]:
    """Clustering and reconstruction of cached features, then the score: (score, hypothesis Annotation)."""
    result = finisher(feats.uri, feats.duration, feats.segmentations, feats.embeddings,
                      telephone=feats.telephone)
    diarization = result.exclusive_speaker_diarization if exclusive else result.speaker_diarization
    hyp = hypothesis(diarization, item.uri, offset)
    return score(item, hyp, offset), hyp


def parse_offsets(args: argparse.Namespace) -> list[float]:
    if args.offsets:
        return [float(v) for v in args.offsets.split(",")]
    return [args.offset]


def add_set_options(parser: argparse.ArgumentParser) -> None:
    """The options of every script that scores sets: which sets, which models, which alignments, a cache."""
    parser.add_argument("--dev", default=str(SHARED_DATA / "dev"), help="a scored set (default: dev)")
    parser.add_argument("--calls", nargs="*", default=None, metavar="DIR",
                        help="further sets (no value: ../shared/data/dev-calls/mono and mp3)")
    parser.add_argument("--models", default=os.environ.get("DIARIZATION_MODELS") or str(SHARED / "models"),
                        help="model folder (default: $DIARIZATION_MODELS, else ../shared/models)")
    parser.add_argument("--offset", type=float, default=0.0, help="seconds of silence put before each file")
    parser.add_argument("--offsets", default=None, help="several offsets, comma-separated (e.g. 0,0.8,1.6)")
    parser.add_argument("--cache", default=None, help="folder keeping segmentations and embeddings")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_set_options(parser)
    parser.add_argument("--out", default=None, help="keep the hypothesis RTTMs here")
    parser.add_argument("--exclusive", action="store_true", help="score the exclusive diarization")
    parser.add_argument("--mode", choices=["exact", "fast"], help="default: the model set's")
    parser.add_argument("--step", type=float, help="seconds between chunks (default: the mode's)")
    parser.add_argument("--clustering", default="{}", help="JSON of clustering parameters to override")
    parser.add_argument("--min-duration-off", type=float,
                        help="fill same-speaker gaps shorter than this (s); default: the mode's")
    parser.add_argument("--quiet", action="store_true", help="no per-file lines")
    args = parser.parse_args()

    roots = [Path(args.dev)] + [Path(p) for p in (DEFAULT_CALLS if args.calls == [] else args.calls or [])]
    items = [item for root in roots for item in collect(root)]
    set_of = {item.subset: item.set_name for item in items}
    offsets = parse_offsets(args)
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp())
    cache = Path(args.cache) if args.cache else None

    pipeline = Pipeline.from_pretrained(args.models, mode=args.mode, step=args.step)
    finisher = with_clustering(pipeline.finisher, json.loads(args.clustering))
    if args.min_duration_off is not None:
        finisher = dataclasses.replace(finisher, min_duration_off=args.min_duration_off)
    print(f"models: {pipeline.models.name} ({pipeline.models.root}), mode {pipeline.mode}, "
          f"device {pipeline.device}, clustering {finisher.clustering}")
    scores: list[FileScore] = []
    audio_seconds, compute_seconds, computed = 0.0, 0.0, 0
    for offset in offsets:
        folder = out / f"offset-{offset:g}" if len(offsets) > 1 else out
        for item in items:
            start = time.perf_counter()
            feats, fresh = features(pipeline, item.audio, offset, cache)
            file_score, hyp = finish_and_score(finisher, item, feats, offset, args.exclusive)
            if fresh:
                compute_seconds += time.perf_counter() - start
                audio_seconds += feats.duration
                computed += 1
            scores.append(file_score)
            target = folder / item.subset
            target.mkdir(parents=True, exist_ok=True)
            (target / f"{item.uri}.rttm").write_text(hyp.to_rttm())
            if not args.quiet:
                s = file_score
                print(f"{item.subset + '/' + item.uri:44s} @{offset:<4g} DER {100 * s.der:6.2f}%  "
                      f"(miss {s.missed:.1f} s, fa {s.false_alarm:.1f} s, conf {s.confusion:.1f} s)  "
                      f"speakers hyp {s.hyp_speakers} ref {s.ref_speakers}", flush=True)
    print(f"offsets: {', '.join(f'{o:g}' for o in offsets)} s (scores pooled over them)")
    print("\n".join(table(scores, set_of)))
    print("speaker-count errors (hyp per offset):")
    print("\n".join(count_table(scores)) or "  none")
    if computed:
        print(f"compute: {compute_seconds:.1f} s for {audio_seconds:.1f} s of audio in {computed} files "
              f"(real-time factor {compute_seconds / max(audio_seconds, 1e-9):.4f}, includes decoding)")
    first_set = [s for s in scores if set_of[s.subset] == items[0].set_name]
    print(f"DER {100 * sum(s.error for s in first_set) / max(sum(s.total for s in first_set), 1e-9):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
