"""Why speaker counts go wrong: per file, the reference count, the count the clustering finds, and the
range of AHC thresholds that would have found the reference count.

From cached features (``benchmarks.feature_cache``, shared with ``benchmarks/der.py --cache DIR``). For each
file and alignment the clustering's training embeddings are clustered as ``AgglomerativeClustering`` does
(same linkage and distances, same "large cluster" rule; small clusters it would keep with
``keep_distinct`` are not counted) and cut at every threshold of a grid: the printed interval is
where the number of large clusters equals the reference count ("-" when no single cut gets it; then the
count is lost before clustering: too few training embeddings of some speaker). Also printed: how many
training embeddings the file has, and the share of each reference speaker's speech in the file.

usage: python -m benchmarks.count_analysis [--dev DIR] [--calls [DIR ...]] [--offsets 0] [--cache DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage

from benchmarks.accuracy import collect
from benchmarks.der import DEFAULT_CALLS, add_set_options, parse_offsets
from benchmarks.feature_cache import features
from diarization.clustering.agglomerative import EUCLIDEAN_ONLY, centred
from diarization.clustering.assignment import select_training
from diarization.clustering.distances import condensed_distances
from diarization.pipeline import Pipeline
from diarization.split_calls import ChannelSegmentation

GRID = np.round(np.arange(0.10, 1.41, 0.01), 2)


def counts_by_threshold(train: np.ndarray, min_cluster_size: int, method: str) -> np.ndarray:
    """Number of large clusters at each threshold of ``GRID`` (the clustering's rule for "large")."""
    n = len(train)
    if n < 2:
        return np.full(len(GRID), n)
    min_size = min(min_cluster_size, max(1, round(0.1 * n)))
    if method in EUCLIDEAN_ONLY:
        unit = train / np.linalg.norm(train, axis=-1, keepdims=True)
        dendrogram = linkage(condensed_distances(unit, "euclidean"), method=method)
    else:
        dendrogram = linkage(condensed_distances(train, "cosine"), method=method)
    counts = []
    for threshold in GRID:
        labels = fcluster(dendrogram, threshold, criterion="distance")
        sizes = np.unique(labels, return_counts=True)[1]
        counts.append(max(1, int(np.sum(sizes >= min_size))))
    return np.array(counts)


def interval(counts: np.ndarray, target: int) -> str:
    hits = GRID[counts == target]
    return f"{hits.min():.2f}-{hits.max():.2f}" if len(hits) else "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_set_options(parser)
    args = parser.parse_args()
    roots = [Path(args.dev)] + [Path(p) for p in (DEFAULT_CALLS if args.calls == [] else args.calls or [])]
    items = [item for root in roots for item in collect(root)]
    pipeline = Pipeline.from_pretrained(args.models)
    cache = Path(args.cache) if args.cache else None
    print(f"{pipeline.finisher.clustering} (telephone mixes: {pipeline.finisher.telephone_clustering}); "
          "thresholds giving the reference count of large clusters")
    for offset in parse_offsets(args):
        for item in items:
            feats, _ = features(pipeline, item.audio, offset, cache)
            if feats.embeddings is None:
                continue
            clustering = pipeline.finisher.clustering_for(feats.telephone,
                                                          isinstance(feats.segmentations, ChannelSegmentation))
            train, _, _ = select_training(feats.embeddings, feats.segmentations.data, clustering.min_active_ratio)
            _, train = centred(train, train, clustering.centre)  # the space the clustering cuts in
            counts = counts_by_threshold(train, clustering.min_cluster_size, clustering.method)
            ref = len(item.reference.labels())
            at = int(counts[np.argmin(np.abs(GRID - clustering.threshold))])
            chart = item.reference.chart()
            total = sum(d for _, d in chart)
            shares = " ".join(f"{100 * d / total:.0f}" for _, d in chart)
            mark = "" if at == ref else "  <-- wrong"
            name = f"{item.subset}/{item.uri}"
            print(f"{name:44s} @{offset:<4g} ref {ref} hyp@{clustering.threshold:g} {at}  "
                  f"right cut {interval(counts, ref):9s}  train {len(train):4d}  speech% {shares}{mark}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
