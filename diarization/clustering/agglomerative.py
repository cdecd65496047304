"""PLDA-free clustering (for embedding models without a PLDA, e.g. CAM++): pyannote's
AgglomerativeClustering. Hierarchical clustering of the training embeddings cut at ``threshold``;
clusters smaller than ``min_cluster_size`` are merged into the closest large one; a requested number
of clusters is met by cutting the dendrogram elsewhere; then every embedding is assigned to a centroid.

Additions, off by default (so the reference's algorithm is unchanged; the fast mode turns the first two on,
``diarization.config.FAST_AGGLOMERATIVE``): ``keep_distinct`` keeps a small cluster as a speaker of its own
when it is far from every large cluster (someone heard in only one or two runs is still a speaker), with at
least ``min_distinct_size`` training embeddings; ``centre`` takes a share of the file's mean direction from
every embedding before clustering (what all voices of one recording share, its channel, codec and room, no
longer makes them alike); ``min_active_ratio`` sets which embeddings train (measured on the dev set: 0.2,
the reference's, is best).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import cdist

from ..windows import Windowed
from .assignment import (
    MAX_TRAIN_EMBEDDINGS,
    MIN_ACTIVE_RATIO,
    assign,
    fallback_centroid,
    resolve_num_clusters,
    select_training,
    spread_subset,
)
from .distances import condensed_distances

log = logging.getLogger(__name__)

# pyannote/speaker-diarization-3.1's values (WeSpeaker ResNet34); to be re-tuned for our embeddings
DEFAULT_THRESHOLD = 0.7045654963945799
DEFAULT_MIN_CLUSTER_SIZE = 12
EUCLIDEAN_ONLY = ("centroid", "median", "ward")


def _large_and_small(labels: np.ndarray, min_size: int) -> tuple[np.ndarray, np.ndarray]:
    ids, sizes = np.unique(labels, return_counts=True)
    return ids[sizes >= min_size], ids[sizes < min_size]


def _cut_at_step(dendrogram: np.ndarray, step: int) -> np.ndarray:
    """Flat labels after the first ``step + 1`` merges of the dendrogram."""
    by_step = np.copy(dendrogram)
    by_step[:, 2] = np.arange(len(dendrogram))
    return fcluster(by_step, step, criterion="distance") - 1


def _closest_cut(
    dendrogram: np.ndarray, threshold: float, target: int, min_size: int, labels: np.ndarray
) -> np.ndarray:
    """Labels of the cut whose number of large clusters is closest to ``target``.

    Merge steps are tried by increasing distance of their height to ``threshold``; steps creating a
    cluster smaller than ``min_size`` cannot change the count and are skipped. First exact hit wins.
    """
    best_step, best_count = len(dendrogram), 1  # cutting above the root: one cluster
    count = None
    for step in np.argsort(np.abs(dendrogram[:, 2] - threshold)):
        if dendrogram[step, 3] < min_size:
            continue
        labels = _cut_at_step(dendrogram, step)
        count = len(_large_and_small(labels, min_size)[0])
        if abs(count - target) < abs(best_count - target):
            best_step, best_count = step, count
        if count == target:
            return labels
    if best_count != target:
        labels = _cut_at_step(dendrogram, best_step)
        found = len(_large_and_small(labels, min_size)[0])
        log.info("found only %d clusters; a smaller min_cluster_size than %d might help", found, min_size)
    return labels


def centred(embeddings: np.ndarray, train: np.ndarray, share: float) -> tuple[np.ndarray, np.ndarray]:
    """``embeddings`` (any shape, last axis the dimension) and the (n, dim) ``train`` ones as unit vectors
    less ``share`` of the training embeddings' mean unit vector (unchanged when ``share`` is 0)."""
    if not share or len(train) == 0:
        return embeddings, train
    with np.errstate(divide="ignore", invalid="ignore"):
        unit_all = embeddings / np.linalg.norm(embeddings, axis=-1, keepdims=True)
        unit_train = train / np.linalg.norm(train, axis=-1, keepdims=True)
    mean = share * np.mean(unit_train, axis=0)
    return unit_all - mean, unit_train - mean


def distinct_small(nearest: np.ndarray, keep_distinct: float, room: float) -> list[int]:
    """Indices of the small clusters kept as speakers: those whose closest large centroid is farther than
    ``keep_distinct``, the most distant first, at most ``room`` of them (the clusters allowed beyond the
    large ones)."""
    order = [int(j) for j in np.argsort(-nearest, kind="stable") if nearest[j] > keep_distinct]
    return order[: max(0, int(min(room, len(order))))]


@dataclass(frozen=True)
class AgglomerativeClustering:
    """Hierarchical clustering of (cosine-compared) embeddings; no PLDA needed."""

    threshold: float = DEFAULT_THRESHOLD
    min_cluster_size: int = DEFAULT_MIN_CLUSTER_SIZE
    method: str = "centroid"
    constrained_assignment: bool = True
    max_train_embeddings: int | None = MAX_TRAIN_EMBEDDINGS  # beyond: an evenly spread subset trains
    min_active_ratio: float = MIN_ACTIVE_RATIO  # an embedding trains if its speaker speaks alone this share
    # a cluster too small to count stays a speaker of its own when its centroid is farther than this
    # (cosine distance) from every large one; None: every small cluster joins its closest large one
    keep_distinct: float | None = None
    min_distinct_size: int = 1  # training embeddings a small cluster needs to be kept by keep_distinct
    centre: float = 0.0  # share of the file's mean (unit) embedding taken from each before clustering

    def cluster_train(
        self,
        embeddings: np.ndarray,
        min_clusters: int = 1,
        max_clusters: float = math.inf,
        num_clusters: int | None = None,
    ) -> np.ndarray:
        """Labels 0..K-1 of (n, dim) training embeddings (bounds already resolved)."""
        n = embeddings.shape[0]
        # small inputs: a cluster of 10% of them is already "large"
        min_size = min(self.min_cluster_size, max(1, round(0.1 * n)))
        if n == 1:
            return np.zeros((1,), dtype=np.int64)
        if self.method in EUCLIDEAN_ONLY:
            with np.errstate(divide="ignore", invalid="ignore"):
                embeddings = embeddings / np.linalg.norm(embeddings, axis=-1, keepdims=True)
            dendrogram = linkage(condensed_distances(embeddings, "euclidean"), method=self.method)
        else:
            dendrogram = linkage(condensed_distances(embeddings, "cosine"), method=self.method)
        labels = fcluster(dendrogram, self.threshold, criterion="distance") - 1

        num_large = len(_large_and_small(labels, min_size)[0])
        if num_large < min_clusters:
            num_clusters = min_clusters
        elif num_large > max_clusters:
            num_clusters = max_clusters
        if num_clusters is not None and num_large != num_clusters:
            labels = _closest_cut(dendrogram, self.threshold, int(num_clusters), min_size, labels)

        large, small = _large_and_small(labels, min_size)
        if len(large) == 0:
            return np.zeros_like(labels, dtype=np.int64)
        if len(small) == 0:
            return labels.astype(np.int64)
        # merge every small cluster into the large cluster with the closest centroid
        large_centroids = np.vstack([np.mean(embeddings[labels == k], axis=0) for k in large])
        small_centroids = np.vstack([np.mean(embeddings[labels == k], axis=0) for k in small])
        distance = cdist(large_centroids, small_centroids, metric="cosine")
        closest = np.argmin(distance, axis=0)
        kept = set()
        if self.keep_distinct is not None and num_clusters is None:
            sizes = np.array([np.count_nonzero(labels == k) for k in small])
            nearest = np.where(sizes >= self.min_distinct_size, distance.min(axis=0), -np.inf)
            kept = set(distinct_small(nearest, self.keep_distinct, max_clusters - len(large)))
        labels = labels.copy()
        for j, i in enumerate(closest):
            if j not in kept:
                labels[labels == small[j]] = large[i]
        return np.unique(labels, return_inverse=True)[1].astype(np.int64)

    def cluster(
        self,
        embeddings: np.ndarray,
        segmentations: np.ndarray | Windowed,
        num_clusters: int | None = None,
        min_clusters: int = 1,
        max_clusters: float = math.inf,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Same contract as :meth:`VBxClustering.cluster`: (hard (C, S), soft (C, S, K), centroids (K, dim)).

        Centroids are the means of the training embeddings of each cluster (as given, not centred).
        """
        train, _, _ = select_training(embeddings, segmentations, self.min_active_ratio)
        keep = spread_subset(len(train), self.max_train_embeddings)
        if keep is not None:
            train = train[keep]
        num_clusters, min_clusters, max_clusters = resolve_num_clusters(
            len(train), num_clusters, min_clusters, None if math.isinf(max_clusters) else max_clusters
        )
        num_chunks, num_speakers, _ = embeddings.shape
        if max_clusters < 2:
            hard = np.zeros((num_chunks, num_speakers), dtype=np.int64)
            soft = np.ones((num_chunks, num_speakers, 1))
            return hard, soft, fallback_centroid(embeddings, train)
        space, train_space = centred(embeddings, train, self.centre)
        labels = self.cluster_train(train_space, min_clusters, max_clusters, num_clusters)
        clusters = range(labels.max() + 1)
        middles = np.vstack([np.mean(train_space[labels == k], axis=0) for k in clusters])
        hard, soft = assign(space, middles, segmentations, constrained=self.constrained_assignment)
        centroids = np.vstack([np.mean(train[labels == k], axis=0) for k in clusters])
        return hard, soft, centroids
