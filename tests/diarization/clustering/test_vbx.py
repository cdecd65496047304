"""AHC initialisation and VBx iterations against community-1's recorded internals."""

from __future__ import annotations

import numpy as np

from diarization.clustering.vbx import (
    ahc_init,
    cluster_vbx,
    initial_responsibilities,
    vbx,
    vbx_centroids,
)


def test_ahc_labels_identical(recorded) -> None:
    labels = ahc_init(recorded("pipeline_train_embeddings"), threshold=0.6)
    np.testing.assert_array_equal(labels, recorded("pipeline_ahc_clusters"))


def test_vbx_gamma_pi_match(recorded, plda) -> None:
    features = recorded("pipeline_plda_features")
    gamma, pi = cluster_vbx(
        recorded("pipeline_ahc_clusters"), features, plda.phi, Fa=0.07, Fb=0.8, max_iters=20
    )
    np.testing.assert_allclose(gamma, recorded("pipeline_vbx_gamma"), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(pi, recorded("pipeline_vbx_pi"), rtol=1e-9, atol=1e-12)


def test_vbx_from_our_plda_features(recorded, plda) -> None:
    emb = recorded("pipeline_train_embeddings")
    gamma, pi = cluster_vbx(ahc_init(emb), plda(emb), plda.phi, Fa=0.07, Fb=0.8)
    np.testing.assert_allclose(gamma, recorded("pipeline_vbx_gamma"), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(pi, recorded("pipeline_vbx_pi"), rtol=1e-9, atol=1e-12)


def test_vbx_is_invariant_to_axis_signs(recorded, plda) -> None:
    # the PLDA eigenvectors' signs are arbitrary: VBx must not depend on them
    features = recorded("pipeline_plda_features")
    labels = recorded("pipeline_ahc_clusters")
    signs = np.where(np.random.default_rng(0).random(features.shape[1]) < 0.5, -1.0, 1.0)
    a = cluster_vbx(labels, features, plda.phi, 0.07, 0.8)
    b = cluster_vbx(labels, features * signs, plda.phi, 0.07, 0.8)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-9, atol=1e-15)


def test_elbo_increases_and_prunes_redundant_speakers() -> None:
    rng = np.random.default_rng(1)
    phi = np.linspace(20, 1, 16)
    means = rng.normal(size=(2, 16)) * np.sqrt(phi)
    x = np.vstack([means[0] + rng.normal(size=(40, 16)), means[1] + rng.normal(size=(40, 16))])
    labels = rng.integers(0, 6, size=80)  # a bad 6-cluster start
    result = vbx(x, phi, initial_responsibilities(labels), Fa=0.3, Fb=1.0, max_iters=50)
    assert np.all(np.diff(result.elbo) > -1e-6)
    kept = result.pi > 1e-7
    assert 2 <= kept.sum() <= 6
    assert np.argmax(result.gamma, axis=1)[:40].tolist().count(np.argmax(result.gamma[0])) >= 38


def test_initial_responsibilities() -> None:
    q = initial_responsibilities(np.array([0, 2, 1]), smoothing=7.0)
    assert q.shape == (3, 3)
    np.testing.assert_allclose(q.sum(axis=1), 1.0)
    assert np.all(np.argmax(q, axis=1) == [0, 2, 1])
    np.testing.assert_array_equal(initial_responsibilities(np.array([1, 0]), smoothing=-1), [[0, 1], [1, 0]])


def test_centroids_drop_vanished_speakers() -> None:
    gamma = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.5, 0.0, 0.5]])
    pi = np.array([0.5, 0.0, 0.5])
    emb = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    np.testing.assert_allclose(vbx_centroids(gamma, pi, emb), [[1.0, 1 / 3], [1 / 3, 1.0]])
