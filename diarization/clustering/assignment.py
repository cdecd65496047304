"""Pieces both clusterings share: training-set selection, cluster-count bounds, and the assignment of
every (chunk, local speaker) embedding to a centroid (argmax, or Hungarian per chunk)."""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from ..windows import Windowed

MIN_ACTIVE_RATIO = 0.2  # a speaker trains the clustering if it speaks alone >= 20% of the chunk
# AHC (scipy linkage) needs O(n^2) memory: 8000 training embeddings (~2.4 h of audio) is ~0.5 GB peak.
# Above that, an evenly spread subset trains the clustering and every embedding is still assigned.
MAX_TRAIN_EMBEDDINGS = 8000


def as_array(segmentations: np.ndarray | Windowed) -> np.ndarray:
    """The (num_chunks, num_frames, num_speakers) array of a Windowed or of an array."""
    return np.asarray(segmentations.data if isinstance(segmentations, Windowed) else segmentations)


def select_training(
    embeddings: np.ndarray,
    segmentations: np.ndarray | Windowed,
    min_active_ratio: float = MIN_ACTIVE_RATIO,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Embeddings fit to train the clustering: (embeddings (n, dim), chunk_idx (n,), speaker_idx (n,)).

    Kept: non-NaN embeddings of local speakers active alone (no other local speaker) in at least
    ``min_active_ratio`` of the chunk's frames. Order: by chunk, then by local speaker.
    """
    seg = as_array(segmentations)
    num_frames = seg.shape[1]
    alone = np.sum(seg, axis=2, keepdims=True) == 1
    clean_frames = np.sum(seg * alone, axis=1)  # (num_chunks, num_speakers)
    active = clean_frames >= min_active_ratio * num_frames
    valid = ~np.any(np.isnan(embeddings), axis=2)
    chunk_idx, speaker_idx = np.where(active * valid)
    return embeddings[chunk_idx, speaker_idx], chunk_idx, speaker_idx


def fallback_centroid(embeddings: np.ndarray, train: np.ndarray) -> np.ndarray:
    """The one centroid when fewer than two embeddings train: their mean, else the mean of all valid
    (non-NaN) embeddings, NaN only when there is none (as when a file's speech is too short in every
    chunk to train: each local speaker must speak alone for 20% of a chunk).

    (The reference returns the mean of the training set, NaN when it is empty.)
    """
    if len(train):
        return np.mean(train, axis=0, keepdims=True)
    flat = embeddings.reshape(-1, embeddings.shape[-1])
    valid = flat[~np.any(np.isnan(flat), axis=1)]
    if len(valid):
        return np.mean(valid, axis=0, keepdims=True)
    return np.full((1, embeddings.shape[-1]), np.nan)


def spread_subset(n: int, cap: int | None) -> np.ndarray | None:
    """Indices of ``cap`` items evenly spread over ``n`` (None when ``n <= cap`` or no cap)."""
    if cap is None or n <= cap:
        return None
    return np.unique(np.linspace(0, n - 1, cap).round().astype(np.int64))


def resolve_num_clusters(
    num_embeddings: int,
    num_clusters: int | None = None,
    min_clusters: int | None = None,
    max_clusters: float | None = None,
) -> tuple[int | None, int, int]:
    """Bounds on the number of clusters, clipped to [1, num_embeddings]: (num_clusters, min, max).

    ``num_clusters`` overrides both bounds; equal bounds fix ``num_clusters``.
    """
    low = num_clusters or min_clusters or 1
    low = max(1, min(num_embeddings, low))
    high = num_clusters or max_clusters or num_embeddings
    high = max(1, min(num_embeddings, high))
    if low > high:
        raise ValueError(f"min_clusters ({low:g}) must not exceed max_clusters ({high:g})")
    if low == high:
        num_clusters = low
    return num_clusters, int(low), int(high)


def resolve_num_speakers(
    num_speakers: int | None = None,
    min_speakers: int | None = None,
    max_speakers: int | None = None,
) -> tuple[int | None, int, float]:
    """Pipeline-level speaker bounds, validated as pyannote's ``set_num_speakers``: (num_speakers,
    min_speakers, max_speakers or inf); equal bounds fix ``num_speakers``."""
    for name, value in (("num_speakers", num_speakers), ("min_speakers", min_speakers),
                        ("max_speakers", max_speakers)):
        if value is not None and (not isinstance(value, (int, np.integer)) or value < 1):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if num_speakers is not None:
        return int(num_speakers), int(num_speakers), int(num_speakers)
    low = int(min_speakers or 1)
    high: float = int(max_speakers) if max_speakers is not None else math.inf
    if low > high:
        raise ValueError(f"min_speakers ({low}) is larger than max_speakers ({max_speakers})")
    return (low if low == high else None), low, high


def similarity(embeddings: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """(num_chunks, num_speakers, K) scores 2 - cosine distance (NaN for NaN embeddings)."""
    num_chunks, num_speakers, dim = embeddings.shape
    distance = cdist(embeddings.reshape(-1, dim), centroids, metric="cosine")
    return 2 - distance.reshape(num_chunks, num_speakers, -1)


def constrained_argmax(soft_clusters: np.ndarray) -> np.ndarray:
    """Per chunk, a one-to-one speaker -> cluster matching maximising the total score (Hungarian).

    NaN scores count as the lowest score; speakers left without a cluster get -2.
    """
    soft = np.nan_to_num(soft_clusters, nan=np.nanmin(soft_clusters))
    num_chunks, num_speakers, _ = soft.shape
    hard = np.full((num_chunks, num_speakers), -2, dtype=np.int64)
    for c, cost in enumerate(soft):
        speakers, clusters = linear_sum_assignment(cost, maximize=True)
        hard[c, speakers] = clusters
    return hard


def assign(
    embeddings: np.ndarray,
    centroids: np.ndarray,
    segmentations: np.ndarray | Windowed,
    constrained: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Assign every (chunk, local speaker) to a centroid: (hard (C, S) int64, soft (C, S, K)).

    Constrained (community-1): speakers silent in their chunk get a score below every other, then
    a Hungarian matching per chunk, so two local speakers never share a cluster. Otherwise argmax.
    """
    soft = similarity(embeddings, centroids)
    if not constrained:
        return np.argmax(soft, axis=2).astype(np.int64), soft
    # as the reference: this lowest score is NaN when some embedding is NaN, and then becomes the
    # lowest valid score inside constrained_argmax
    lowest = soft.min() - 1.0
    soft[as_array(segmentations).sum(axis=1) == 0] = lowest
    return constrained_argmax(soft), soft
