"""Sweep the clustering's parameters on the scored sets, from cached segmentations and embeddings.

Segmentation and embeddings are computed once per file and alignment (``benchmarks.feature_cache``; with
``--cache DIR`` once for good, e.g. shared with ``benchmarks/der.py --cache DIR``); only clustering and
reconstruction are repeated, so a sweep costs seconds per setting. One line per setting: DER and
speaker-count errors per subset, pooled over the alignments. One global setting is chosen for all files:
do not tune to single files.

usage: python -m benchmarks.tune_clustering [--dev DIR] [--calls [DIR ...]] [--offsets 0,0.7,1.3,1.9]
    [--cache DIR] [--mode fast|exact] [--thresholds 0.5,0.6,...] [--min-cluster-sizes 12]
    [--grid '[{"threshold": 0.7}, {"threshold": 0.8, "min_cluster_size": 6}]']

``--grid`` (a JSON list of parameter overrides) replaces the threshold x min-cluster-size product.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

from benchmarks.accuracy import FileScore, collect, grouped
from benchmarks.der import DEFAULT_CALLS, add_set_options, finish_and_score, parse_offsets, with_clustering
from benchmarks.feature_cache import features
from diarization.pipeline import Pipeline


def settings_of(args: argparse.Namespace) -> list[dict]:
    if args.grid:
        return list(json.loads(args.grid))
    return [{"threshold": float(t), "min_cluster_size": int(m)}
            for m, t in itertools.product(args.min_cluster_sizes.split(","), args.thresholds.split(","))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_set_options(parser)
    parser.add_argument("--mode", default=None)
    parser.add_argument("--step", type=float, default=None, help="segmentation step (s)")
    parser.add_argument("--thresholds", default="0.5,0.55,0.6,0.65,0.7,0.75,0.8,0.85,0.9")
    parser.add_argument("--min-cluster-sizes", default="12")
    parser.add_argument("--grid", default=None, help="JSON list of clustering parameter overrides")
    args = parser.parse_args()

    roots = [Path(args.dev)] + [Path(p) for p in (DEFAULT_CALLS if args.calls == [] else args.calls or [])]
    items = [item for root in roots for item in collect(root)]
    set_of = {item.subset: item.set_name for item in items}
    offsets = parse_offsets(args)
    cache = Path(args.cache) if args.cache else None
    pipeline = Pipeline.from_pretrained(args.models, mode=args.mode, step=args.step)
    print(f"models {pipeline.models.name}, mode {pipeline.mode}, step {pipeline.segmenter.step} s, "
          f"offsets {offsets}, base {pipeline.finisher.clustering}")
    start = time.perf_counter()
    loaded = [(item, offset, features(pipeline, item.audio, offset, cache)[0])
              for offset in offsets for item in items]
    print(f"features of {len(loaded)} file alignments ready in {time.perf_counter() - start:.1f} s")
    for overrides in settings_of(args):
        finisher = with_clustering(pipeline.finisher, overrides)
        start = time.perf_counter()
        scores: list[FileScore] = [finish_and_score(finisher, item, feats, offset)[0]
                                   for item, offset, feats in loaded]
        rows = grouped(scores, set_of)
        summary = "  ".join(f"{name.split('/')[-1][:8]} {t.der:5.2f}/{t.mean_count_errors:.1f}"
                            for name, t in rows)
        print(f"{json.dumps(overrides)}: {summary}  ({time.perf_counter() - start:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
