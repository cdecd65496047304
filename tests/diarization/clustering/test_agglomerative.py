"""PLDA-free AgglomerativeClustering against pyannote's, run by tests/golden/make_clustering_golden.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

from diarization.clustering import AgglomerativeClustering, make_clustering
from diarization.clustering.agglomerative import distinct_small

from .conftest import PREFIXES

# (name, method, threshold, min_cluster_size, num_clusters, min_clusters, max_clusters): as the generator
SETTINGS = (
    ("default", "centroid", 0.7045654963945799, 12, None, None, None),
    ("mcs1", "centroid", 0.7045654963945799, 1, None, None, None),
    ("num2", "centroid", 0.7045654963945799, 12, 2, None, None),
    ("num3", "centroid", 0.7045654963945799, 12, 3, None, None),
    ("min4", "centroid", 0.5, 3, None, 4, None),
    ("max2", "centroid", 0.3, 2, None, None, 2),
    ("average", "average", 0.6, 5, None, None, None),
)
CASES = (*PREFIXES, "synthetic0", "synthetic1")


def _inputs(case: str, recorded, golden) -> tuple[np.ndarray, np.ndarray]:
    if case.startswith("synthetic"):
        return golden[f"{case}/embeddings"], golden[f"{case}/segmentations"].astype(np.float32)
    return recorded(f"{case}_embeddings_data"), recorded(f"{case}_segmentation_data")


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("setting", SETTINGS, ids=[s[0] for s in SETTINGS])
def test_matches_reference(case, setting, recorded, golden) -> None:
    name, method, threshold, mcs, num, low, high = setting
    emb, seg = _inputs(case, recorded, golden)
    key = f"ahc/{case}/{name}"
    for constrained in (False, True):
        clustering = AgglomerativeClustering(threshold, mcs, method, constrained_assignment=constrained)
        hard, soft, centroids = clustering.cluster(emb.copy(), seg, num, low or 1, high or math.inf)
        expected = golden[f"{key}/{'constrained' if constrained else 'argmax'}"]
        np.testing.assert_array_equal(hard, expected)
        reference = golden[f"{key}/centroids"]
        if np.isnan(reference).all():  # the reference's centroid when nothing trains; ours: valid mean
            flat = emb.reshape(-1, emb.shape[-1])
            reference = flat[~np.isnan(flat).any(axis=1)].mean(axis=0, keepdims=True)
        np.testing.assert_allclose(centroids, reference, rtol=1e-5, atol=1e-6)
        if not constrained:
            np.testing.assert_allclose(soft, golden[f"{key}/soft"], rtol=1e-5, atol=1e-6)


def test_small_clusters_are_merged() -> None:
    rng = np.random.default_rng(0)
    a, b, c = rng.normal(size=(3, 8))
    train = np.vstack([a + 0.05 * rng.normal(size=(20, 8)), b + 0.05 * rng.normal(size=(20, 8)), c[None]])
    labels = AgglomerativeClustering(threshold=0.3, min_cluster_size=3).cluster_train(train)
    assert labels.max() == 1  # the singleton joined one of the two large clusters
    assert len(set(labels[:20])) == 1 and len(set(labels[20:40])) == 1


def test_requested_number_of_clusters() -> None:
    rng = np.random.default_rng(1)
    voices = rng.normal(size=(4, 8))
    train = np.vstack([v + 0.1 * rng.normal(size=(15, 8)) for v in voices])
    clustering = AgglomerativeClustering(threshold=0.2, min_cluster_size=2)
    for k in (1, 2, 3, 4, 5):
        assert clustering.cluster_train(train, k, k, k).max() + 1 == k


def test_degenerate_inputs() -> None:
    clustering = AgglomerativeClustering()
    assert clustering.cluster_train(np.ones((1, 4))).tolist() == [0]
    emb = np.full((2, 3, 4), np.nan, dtype=np.float32)
    seg = np.ones((2, 10, 3), dtype=np.float32)
    hard, soft, centroids = clustering.cluster(emb, seg)
    assert hard.tolist() == [[0, 0, 0], [0, 0, 0]] and soft.shape == (2, 3, 1) and centroids.shape == (1, 4)


def test_too_little_clean_speech_to_train_still_gives_a_centroid() -> None:
    """No local speaker speaks alone for 20% of a chunk (a 0.5 s file): nothing trains, one cluster,
    and its centroid is the mean of the valid embeddings (it was NaN), as VBxClustering's fallback."""
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(2, 3, 4))
    emb[:, 2] = np.nan
    seg = np.zeros((2, 10, 3))
    seg[:, :1, 0] = seg[:, 5:6, 1] = 1.0  # 1 frame of 10: below min_active_ratio
    hard, _, centroids = AgglomerativeClustering().cluster(emb, seg)
    assert hard.tolist() == [[0, 0, 0], [0, 0, 0]]
    np.testing.assert_allclose(centroids, emb[:, :2].reshape(-1, 4).mean(axis=0, keepdims=True))
    _, _, centroids = AgglomerativeClustering().cluster(np.full_like(emb, np.nan), seg)
    assert centroids.shape == (1, 4) and np.isnan(centroids).all()


def _two_voices_and_a_stranger(seed: int = 0) -> np.ndarray:
    """20 + 20 embeddings of two voices, then one of a third voice (orthogonal to both)."""
    rng = np.random.default_rng(seed)
    a, b, c = np.eye(8)[:3] + 0.05 * rng.normal(size=(3, 8))
    noise = 0.05 * rng.normal(size=(41, 8))
    return np.vstack([a + noise[:20], b + noise[20:40], c[None] + noise[40:]])


def test_distinct_small_cluster_is_kept() -> None:
    train = _two_voices_and_a_stranger()
    merged = AgglomerativeClustering(threshold=0.3, min_cluster_size=3).cluster_train(train)
    assert merged.max() == 1  # the reference's rule: too small to count
    kept = AgglomerativeClustering(threshold=0.3, min_cluster_size=3, keep_distinct=0.7).cluster_train(train)
    assert kept.max() == 2 and len(set(kept[:20])) == len(set(kept[20:40])) == 1
    assert kept[40] not in (kept[0], kept[20])
    # a small cluster close to a large one (cosine distance below keep_distinct) still joins it
    near = train.copy()
    near[40] = train[0] + 0.5 * np.eye(8)[3]  # its own cluster at 0.3 (0.46 away), cosine distance 0.1
    labels = AgglomerativeClustering(threshold=0.3, min_cluster_size=3, keep_distinct=0.7).cluster_train(near)
    assert labels.max() == 1 and labels[40] == labels[0]
    assert AgglomerativeClustering(threshold=0.3, min_cluster_size=1).cluster_train(near).max() == 2


def test_kept_clusters_respect_the_speaker_bounds() -> None:
    train = _two_voices_and_a_stranger()
    clustering = AgglomerativeClustering(threshold=0.3, min_cluster_size=3, keep_distinct=0.7)
    assert clustering.cluster_train(train, max_clusters=2).max() + 1 == 2  # no room beyond the large ones
    assert clustering.cluster_train(train, 2, 2, 2).max() + 1 == 2  # a requested count wins
    assert clustering.cluster_train(train, min_clusters=3).max() + 1 == 3
    assert clustering.cluster_train(train, max_clusters=5).max() + 1 == 3


def test_distinct_small_picks_the_farthest_first() -> None:
    nearest = np.array([0.9, 0.2, 1.4, 0.75])
    assert distinct_small(nearest, 0.7, math.inf) == [2, 0, 3]
    assert distinct_small(nearest, 0.7, 2) == [2, 0]
    assert distinct_small(nearest, 0.7, 0) == [] and distinct_small(nearest, 1.5, 3) == []


def test_min_active_ratio_chooses_the_training_embeddings() -> None:
    """A local speaker alone for 15% of its chunk trains at min_active_ratio 0.1, not at the default 0.2."""
    emb = np.vstack([np.eye(4)[None, :2], np.eye(4)[None, 2:]])  # (2 chunks, 2 speakers, 4)
    seg = np.zeros((2, 100, 2), dtype=np.float32)
    seg[0, :60, 0] = seg[1, :60, 0] = 1.0  # speaker 0 alone 60% of both chunks
    seg[0, 70:85, 1] = seg[1, 70:85, 1] = 1.0  # speaker 1 alone 15%
    _, _, default = AgglomerativeClustering(threshold=0.5, min_cluster_size=1).cluster(emb, seg)
    lower_ratio = AgglomerativeClustering(threshold=0.5, min_cluster_size=1, min_active_ratio=0.1)
    _, _, lower = lower_ratio.cluster(emb, seg)
    assert len(default) == 2 and len(lower) == 4  # two trained speakers; then all four (orthogonal) ones


def test_make_clustering_knows_the_new_parameters() -> None:
    clustering = make_clustering("AgglomerativeClustering", {"keep_distinct": 0.72, "min_active_ratio": 0.1})
    assert clustering.keep_distinct == 0.72 and clustering.min_active_ratio == 0.1
    with pytest.raises(ValueError, match="keep_small"):
        make_clustering("AgglomerativeClustering", {"keep_small": 1})
