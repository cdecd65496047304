"""Sweep the PLDA-free clustering's threshold (and min cluster size) on the dev set.

Segmentation and embeddings are computed once per file (for the chosen mode); only clustering and
reconstruction are repeated, so a sweep costs little more than one pass. Prints total DER per setting
and per dev subset. One global setting is chosen for all files: do not tune to single files.

usage: python -m benchmarks.tune_clustering [--mode fast|exact] [--thresholds 0.5,0.6,...]
"""

from __future__ import annotations

import argparse
import os
import dataclasses
import sys
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dev", default=str(DEV))
    parser.add_argument("--models", default=os.environ.get("DIARIZATION_MODELS") or str(SHARED / "models"),
                        help="model folder (default: $DIARIZATION_MODELS, else ../shared/models)")
    parser.add_argument("--mode", default=None)
    parser.add_argument("--step", type=float, default=None, help="segmentation step (s), overrides the mode's")
    parser.add_argument("--thresholds", default="0.5,0.55,0.6,0.65,0.7,0.75,0.8,0.85,0.9")
    parser.add_argument("--min-cluster-sizes", default="12")
    args = parser.parse_args()

    dev = load_dev(Path(args.dev))
    refs, uems, wavs = dev.refs, dev.uems, dev.wavs
    pipeline = Pipeline.from_pretrained(args.models, mode=args.mode, step=args.step)
    print(f"models {pipeline.models.name}, mode {pipeline.mode}, step {pipeline.segmenter.step} s")
    cache = {}
    start = time.perf_counter()
    audio_seconds = 0.0
    for uri in sorted(refs):
        audio = pipeline.load(wavs[uri])
        [segs] = pipeline.segment_many([audio])
        [embs] = pipeline.embed_many([(audio, segs)]) if pipeline.needs_embeddings(segs) else [None]
        cache[uri] = (audio.uri, audio.duration, segs, embs)
        audio_seconds += audio.duration
    elapsed = time.perf_counter() - start
    print(f"segmentation + embeddings: {elapsed:.1f} s for {audio_seconds:.0f} s of audio "
          f"(RTF {elapsed / audio_seconds:.4f})")
    base = pipeline.finisher
    for size in [int(v) for v in args.min_cluster_sizes.split(",")]:
        for threshold in [float(v) for v in args.thresholds.split(",")]:
            clustering = dataclasses.replace(base.clustering, threshold=threshold, min_cluster_size=size)
            pipeline.finisher = dataclasses.replace(base, clustering=clustering)
            metric = DiarizationErrorRate(collar=0.0, skip_overlap=False)
            groups = defaultdict(lambda: [0.0, 0.0])
            count_errors = 0
            for uri, (name, duration, segs, embs) in cache.items():
                result = pipeline.finish(name, duration, segs, embs)
                hyp = Annotation(uri=uri)
                for i, (turn, speaker) in enumerate(result.speaker_diarization):
                    hyp[Segment(turn.start, turn.end), i] = speaker
                d = metric(refs[uri], hyp, uem=uems[uri], detailed=True) if uri in uems else \
                    metric(refs[uri], hyp, detailed=True)
                group = groups[wavs[uri].parent.name]
                group[0] += d["confusion"] + d["missed detection"] + d["false alarm"]
                group[1] += d["total"]
                count_errors += len(hyp.labels()) != len(refs[uri].labels())
            per_group = "  ".join(f"{g[:6]} {100 * e / t:5.1f}" for g, (e, t) in sorted(groups.items()))
            print(f"threshold {threshold:.3f} min_size {size:3d}: DER {100 * abs(metric):6.2f}%  "
                  f"count errors {count_errors:2d}  | {per_group}", flush=True)
    pipeline.finisher = base
    return 0


if __name__ == "__main__":
    sys.exit(main())
