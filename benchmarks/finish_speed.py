"""CPU time of the last stage (clustering + reconstruction) on the dev LibriSpeech audio joined into one file
(the scorecard's 13-minute input), for the default clustering and for parameter overrides: the networks run
once, the finish is timed (best of ``--repeat``).

usage: python -m benchmarks.finish_speed [--repeat 3] [--clustering '{"method": "centroid", ...}' ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from benchmarks.accuracy import collect
from benchmarks.built_sets import LIBRI, joined_file
from benchmarks.der import with_clustering
from benchmarks.feature_cache import compute
from diarization.pipeline import Pipeline


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--clustering", nargs="*", default=[], help="JSON overrides timed after the default")
    parser.add_argument("--out", default="/tmp/diarize-joined-libri", help="folder for the joined file")
    args = parser.parse_args()
    joined = Path(args.out) / "joined.wav"
    if not joined.exists():
        joined_file(collect(LIBRI), joined.parent)
    pipeline = Pipeline.from_pretrained(device="cpu")
    feats = compute(pipeline, joined)
    print(f"{joined}: {feats.duration / 60:.1f} min, {feats.segmentations.data.shape[0]} chunks, "
          f"{feats.segmentations.data.shape[2]} columns")
    for overrides in [{}] + [json.loads(c) for c in args.clustering]:
        finisher = with_clustering(pipeline.finisher, overrides)
        times = []
        for _ in range(args.repeat):
            start = time.process_time()
            result = finisher(feats.uri, feats.duration, feats.segmentations, feats.embeddings,
                              telephone=feats.telephone)
            times.append(time.process_time() - start)
        print(f"{json.dumps(overrides) if overrides else 'default'}: finish CPU {min(times):.3f} s "
              f"(best of {args.repeat}), {result.num_speakers} speakers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
