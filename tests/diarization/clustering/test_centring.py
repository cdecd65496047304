"""The fast mode's additions to the agglomerative clustering: a share of the file's mean embedding taken from
each before clustering (``centre``), and the training embeddings a small cluster needs to be kept
(``min_distinct_size``)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from diarization.clustering import AgglomerativeClustering, make_clustering
from diarization.clustering.agglomerative import centred

DIM = 8
COMMON, *OWN = np.eye(DIM)[:5]  # what one recording's voices share (its channel), and each voice's own


def voices(*sizes: int, own: float = 0.6, seed: int = 0) -> np.ndarray:
    """(sum(sizes), DIM) embeddings: voice i, ``sizes[i]`` times, the common direction plus ``own`` of its
    own (voices 0.26 apart in cosine distance at own 0.6), with a little noise."""
    rng = np.random.default_rng(seed)
    return np.vstack([COMMON + own * OWN[i] + 0.03 * rng.normal(size=(n, DIM)) for i, n in enumerate(sizes)])


def as_chunks(train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n chunks, 1 local speaker, DIM) embeddings and (n, 10 frames, 1) segmentations: each embedding's
    speaker speaks alone in its whole chunk, so every one trains."""
    return train[:, None, :], np.ones((len(train), 10, 1), dtype=np.float32)


def test_centred_takes_a_share_of_the_training_mean_from_unit_vectors() -> None:
    train = voices(5, 5)
    embeddings = np.stack([train, 2 * train])  # (2, 10, DIM): the length of an embedding does not count
    embeddings[1, 3] = np.nan
    same, same_train = centred(embeddings, train, 0.0)
    assert same is embeddings and same_train is train
    space, train_space = centred(embeddings, train, 0.25)
    unit = train / np.linalg.norm(train, axis=1, keepdims=True)
    mean = unit.mean(axis=0)
    np.testing.assert_allclose(train_space, unit - 0.25 * mean, atol=1e-12)
    np.testing.assert_allclose(space[0], unit - 0.25 * mean, atol=1e-12)
    np.testing.assert_allclose(np.delete(space[1], 3, axis=0), np.delete(unit - 0.25 * mean, 3, axis=0), atol=1e-12)
    assert np.all(np.isnan(space[1, 3]))  # a missing embedding stays missing
    assert centred(embeddings, train[:0], 0.25)[0] is embeddings  # nothing trains: nothing to centre on


def test_centring_tells_apart_voices_that_share_a_recording() -> None:
    embeddings, segmentations = as_chunks(voices(20, 20))
    plain = AgglomerativeClustering(threshold=0.3, min_cluster_size=3, method="average")
    hard, _, centroids = plain.cluster(embeddings, segmentations)
    assert len(centroids) == 1 and len(np.unique(hard)) == 1  # 0.26 apart: one voice at a 0.3 cut
    hard, _, centroids = AgglomerativeClustering(threshold=0.3, min_cluster_size=3, method="average",
                                                 centre=0.25).cluster(embeddings, segmentations)
    assert len(centroids) == 2
    assert len(set(hard[:20, 0])) == len(set(hard[20:, 0])) == 1 and hard[0, 0] != hard[20, 0]
    # the centroids (the file's speaker embeddings) are means of the embeddings as given, not centred
    for k in range(2):
        np.testing.assert_allclose(centroids[k], embeddings[hard[:, 0] == k, 0].mean(axis=0), atol=1e-12)


def test_centring_does_not_split_one_voice() -> None:
    one = voices(40, own=0.0, seed=3)
    _, centred_one = centred(one, one, 0.25)
    assert pdist(centred_one, "cosine").max() > pdist(one, "cosine").max()  # spread, but far below the cut
    embeddings, segmentations = as_chunks(one)
    fast_like = AgglomerativeClustering(threshold=0.55, method="average", keep_distinct=0.72, centre=0.25)
    hard, _, centroids = fast_like.cluster(embeddings, segmentations)
    assert len(centroids) == 1 and set(hard[:, 0]) == {0}


@pytest.mark.parametrize(("bounds", "expected"), [
    ({}, 3), ({"num_clusters": 2}, 2), ({"num_clusters": 4}, 4), ({"min_clusters": 4}, 4),
    ({"max_clusters": 2}, 2), ({"min_clusters": 2, "max_clusters": 3}, 3),
])
def test_speaker_bounds_hold_with_centring(bounds: dict, expected: int) -> None:
    embeddings, segmentations = as_chunks(voices(15, 15, 15))
    clustering = AgglomerativeClustering(threshold=0.3, min_cluster_size=3, method="average", centre=0.25,
                                         keep_distinct=0.72)
    hard, soft, centroids = clustering.cluster(embeddings, segmentations, **bounds)
    assert len(centroids) == expected and soft.shape[-1] == expected
    assert set(np.unique(hard)) <= set(range(expected))


def test_a_kept_small_cluster_needs_min_distinct_size_training_embeddings() -> None:
    rng = np.random.default_rng(1)
    stranger = np.eye(DIM)[6] + 0.03 * rng.normal(size=(2, DIM))  # a third voice, far from both
    lone = np.vstack([voices(20, 20, own=3.0), stranger[:1]])
    pair = np.vstack([voices(20, 20, own=3.0), stranger])
    kept = AgglomerativeClustering(threshold=0.3, min_cluster_size=3, method="average", keep_distinct=0.7)
    strict = AgglomerativeClustering(threshold=0.3, min_cluster_size=3, method="average", keep_distinct=0.7,
                                     min_distinct_size=2)
    assert kept.cluster_train(lone).max() + 1 == 3  # one far embedding is a speaker of its own by default
    labels = strict.cluster_train(lone)
    assert labels.max() + 1 == 2 and labels[40] in (labels[0], labels[20])  # not with two needed
    assert strict.cluster_train(pair).max() + 1 == 3  # two embeddings of the far voice: kept


def test_make_clustering_knows_centre_and_min_distinct_size() -> None:
    clustering = make_clustering("AgglomerativeClustering", {"centre": 0.25, "min_distinct_size": 2})
    assert clustering.centre == 0.25 and clustering.min_distinct_size == 2
    assert AgglomerativeClustering().centre == 0.0 and AgglomerativeClustering().min_distinct_size == 1
