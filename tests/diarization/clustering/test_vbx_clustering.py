"""community-1's VBxClustering end to end on the recorded embeddings, and its K-means fallback."""

from __future__ import annotations

import math

import numpy as np
import pytest

from diarization.clustering import Clustering, VBxClustering, make_clustering
from diarization.clustering.assignment import (
    constrained_argmax,
    resolve_num_clusters,
    resolve_num_speakers,
    select_training,
)
from diarization.clustering.kmeans import kmeans
from diarization.config import clustering_config
from diarization.finish import build_clustering
from diarization.pretrained import ModelSet

from .conftest import PREFIXES


@pytest.fixture(scope="module")
def vbx_clustering(plda) -> VBxClustering:
    return VBxClustering(plda, threshold=0.6, Fa=0.07, Fb=0.8)


def _case(recorded, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    return recorded(f"{prefix}_embeddings_data"), recorded(f"{prefix}_segmentation_data")


def test_training_selection(recorded, vbx_clustering) -> None:
    emb, seg = _case(recorded, "pipeline")
    fit = vbx_clustering.fit(emb, seg)
    np.testing.assert_array_equal(fit.chunk_idx, recorded("pipeline_train_chunk_idx"))
    np.testing.assert_array_equal(fit.speaker_idx, recorded("pipeline_train_speaker_idx"))
    np.testing.assert_array_equal(fit.train_embeddings, recorded("pipeline_train_embeddings"))
    np.testing.assert_allclose(fit.features, recorded("pipeline_plda_features"), rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(fit.ahc_labels, recorded("pipeline_ahc_clusters"))
    np.testing.assert_allclose(fit.gamma, recorded("pipeline_vbx_gamma"), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(fit.pi, recorded("pipeline_vbx_pi"), rtol=1e-9, atol=1e-12)


def test_hard_clusters_identical(recorded, vbx_clustering) -> None:
    # The recorded embeddings are NaN for the local speakers that are silent in their chunk (set after
    # recording): those never train, their scores become the lowest valid score before the matching,
    # and the pipeline then marks them -2, as the recorded hard clusters are.
    emb, seg = _case(recorded, "pipeline")
    hard, soft, centroids = vbx_clustering.cluster(emb, seg)
    assert centroids.shape == (2, 256) and soft.shape == (18, 3, 2)
    hard[seg.sum(axis=1) == 0] = -2
    np.testing.assert_array_equal(hard, recorded("pipeline_hard_clusters"))


@pytest.mark.parametrize("case", ["pipeline", "3speakers"])
@pytest.mark.parametrize(
    "name,num,low,high",
    [("num3", 3, 3, 3), ("min4", None, 4, math.inf), ("max1", None, 1, 1), ("free", None, 1, math.inf)],
)
def test_bounds_and_kmeans_fallback_match_reference(
    recorded, golden, vbx_clustering, case, name, num, low, high
) -> None:
    emb, seg = _case(recorded, case)
    hard, _, centroids = vbx_clustering.cluster(
        emb, seg, num_clusters=num, min_clusters=low, max_clusters=high
    )
    np.testing.assert_array_equal(hard, golden[f"vbx/{case}/{name}/hard"])
    np.testing.assert_allclose(centroids, golden[f"vbx/{case}/{name}/centroids"], rtol=1e-5, atol=1e-6)


def test_few_training_embeddings(recorded, vbx_clustering) -> None:
    emb, seg = _case(recorded, "short")  # nobody speaks alone 20% of the chunk: no VBx
    hard, soft, centroids = vbx_clustering.cluster(emb, seg)
    assert hard.tolist() == [[0, 0, 0]] and soft.shape == (1, 3, 1)
    assert centroids.shape == (1, 256) and np.all(np.isfinite(centroids))
    nan = np.full_like(emb, np.nan)
    _, _, centroids = vbx_clustering.cluster(nan, seg)
    assert np.all(np.isnan(centroids))


@pytest.mark.parametrize("case", [*PREFIXES, "synthetic0", "synthetic1"])
def test_kmeans_matches_scikit_learn(recorded, golden, case) -> None:
    if case.startswith("synthetic"):
        emb, seg = golden[f"{case}/embeddings"], golden[f"{case}/segmentations"].astype(np.float32)
    else:
        emb, seg = _case(recorded, case)
    train, _, _ = select_training(emb, seg)
    normed = train / np.linalg.norm(train, axis=1, keepdims=True)
    for k in (2, 3, 5):
        key = f"kmeans/{case}/{k}"
        if key in golden:
            np.testing.assert_array_equal(kmeans(normed, k), golden[key], err_msg=key)


def test_kmeans_edge_cases() -> None:
    x = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    assert sorted(set(kmeans(x, 2).tolist())) == [0, 1]
    assert kmeans(x, 1).tolist() == [0, 0, 0]
    with pytest.raises(ValueError):
        kmeans(x, 4)


def test_constrained_argmax() -> None:
    soft = np.array([[[0.9, 0.8], [0.95, 0.1], [np.nan, np.nan]]])
    # one cluster per speaker, best total: speaker 1 -> 0, speaker 0 -> 1, speaker 2 left out
    assert constrained_argmax(soft).tolist() == [[1, 0, -2]]


def test_resolve_bounds() -> None:
    assert resolve_num_clusters(10) == (None, 1, 10)
    assert resolve_num_clusters(10, num_clusters=3) == (3, 3, 3)
    assert resolve_num_clusters(2, min_clusters=4) == (2, 2, 2)
    with pytest.raises(ValueError):
        resolve_num_clusters(10, min_clusters=5, max_clusters=3)
    assert resolve_num_speakers() == (None, 1, math.inf)
    assert resolve_num_speakers(min_speakers=2, max_speakers=2) == (2, 2, 2)
    with pytest.raises(ValueError):
        resolve_num_speakers(min_speakers=3, max_speakers=2)


def test_factory(plda, models_dir) -> None:
    folder = models_dir / "community-1"
    models = ModelSet("community-1", folder, folder / "segmentation", folder / "embedding", folder / "plda",
                      params={"clustering": {"threshold": 0.6, "Fa": 0.07, "Fb": 0.8}},
                      options={"clustering": "VBxClustering"})
    clustering = build_clustering(clustering_config(models))
    assert isinstance(clustering, VBxClustering) and isinstance(clustering, Clustering)
    assert (clustering.threshold, clustering.Fa, clustering.Fb) == (0.6, 0.07, 0.8)
    ahc = make_clustering("AgglomerativeClustering", {"threshold": 0.5, "min_cluster_size": 3})
    assert isinstance(ahc, Clustering) and ahc.threshold == 0.5
    with pytest.raises(ValueError):
        make_clustering("VBxClustering", {"threshold": 0.6})
    with pytest.raises(ValueError):
        make_clustering("VBxClustering", {"bogus": 1}, plda)
    with pytest.raises(ValueError):
        make_clustering("KMeans")


def test_training_cap_bounds_the_training_set(recorded, plda) -> None:
    emb, seg = _case(recorded, "3speakers")
    full = VBxClustering(plda, max_train_embeddings=None)
    n = len(full.fit(emb, seg).train_embeddings)
    assert (
        VBxClustering(plda, max_train_embeddings=n).cluster(emb, seg)[0].tolist()
        == full.cluster(emb, seg)[0].tolist()
    )
    capped = VBxClustering(plda, max_train_embeddings=n // 2)
    fit = capped.fit(emb, seg)
    assert len(fit.train_embeddings) == n // 2
    assert fit.chunk_idx[0] == full.fit(emb, seg).chunk_idx[0] and np.all(np.diff(fit.chunk_idx) >= 0)
    hard, _, centroids = capped.cluster(emb, seg)
    assert hard.shape == (27, 3) and centroids.shape[1] == 256
