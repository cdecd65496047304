"""PLDA loading and transform against community-1's recorded PLDA features."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from diarization.clustering.plda import load_plda, load_plda_files, plda_features, xvec_transform
from diarization.errors import ModelLoadError


def test_phi_is_recorded_phi_and_psi(plda, recorded, models_dir: Path) -> None:
    np.testing.assert_allclose(plda.phi, recorded("pipeline_plda_phi"), rtol=1e-12)
    with np.load(models_dir / "community-1" / "plda" / "plda.npz") as npz:
        np.testing.assert_allclose(plda.phi, npz["psi"], rtol=1e-12)
    assert plda.dimension == 256 and plda.lda_dimension == 128
    assert np.all(np.diff(plda.phi) <= 0)


def test_features_match_recorded(plda, recorded) -> None:
    features = plda(recorded("pipeline_train_embeddings"))
    expected = recorded("pipeline_plda_features")
    assert features.shape == expected.shape == (27, 128)
    np.testing.assert_allclose(features, expected, rtol=1e-9, atol=1e-9)


def test_joint_diagonalisation(plda, models_dir: Path) -> None:
    # in the PLDA space the within-class covariance is I and the across-class one diag(phi)
    with np.load(models_dir / "community-1" / "plda" / "plda.npz") as npz:
        tr, psi = npz["tr"], npz["psi"]
    within = np.linalg.inv(tr.T @ tr)
    across = np.linalg.inv((tr.T / psi) @ tr)
    t = plda.transform
    np.testing.assert_allclose(t @ within @ t.T, np.eye(128), atol=1e-8)
    np.testing.assert_allclose(t @ across @ t.T, np.diag(plda.phi), atol=1e-8)


def test_xvec_transform_norms(plda, recorded) -> None:
    x = xvec_transform(plda, recorded("pipeline_train_embeddings"))
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), np.sqrt(128), rtol=1e-12)
    emb = recorded("pipeline_train_embeddings")
    np.testing.assert_array_equal(plda_features(plda, emb), plda(emb))


def test_lda_dimension_truncates(models_dir: Path, recorded) -> None:
    folder = models_dir / "community-1" / "plda"
    small = load_plda(folder, lda_dimension=16)
    full = load_plda(folder)
    emb = recorded("pipeline_train_embeddings")
    assert small.phi.shape == (16,)
    np.testing.assert_allclose(small(emb), full(emb)[:, :16])


def test_missing_folder_and_files(tmp_path: Path, models_dir: Path) -> None:
    with pytest.raises(ModelLoadError, match="nowhere"):
        load_plda(tmp_path / "nowhere")
    folder = tmp_path / "plda"
    shutil.copytree(models_dir / "community-1" / "plda", folder)
    (folder / "plda.npz").unlink()
    with pytest.raises(ModelLoadError, match="plda.npz"):
        load_plda(folder)


def test_corrupt_and_incomplete_files(tmp_path: Path, models_dir: Path) -> None:
    src = models_dir / "community-1" / "plda"
    bad = tmp_path / "xvec_transform.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ModelLoadError, match="xvec_transform.npz"):
        load_plda_files(bad, src / "plda.npz")
    with np.load(src / "plda.npz") as npz:
        np.savez(tmp_path / "no_psi.npz", mu=npz["mu"], tr=npz["tr"])
        np.savez(tmp_path / "wrong_shape.npz", mu=npz["mu"][:10], tr=npz["tr"], psi=npz["psi"])
        np.savez(tmp_path / "nan.npz", mu=npz["mu"] * np.nan, tr=npz["tr"], psi=npz["psi"])
    with pytest.raises(ModelLoadError, match="no_psi.npz.*psi"):
        load_plda_files(src / "xvec_transform.npz", tmp_path / "no_psi.npz")
    with pytest.raises(ModelLoadError, match="wrong_shape.npz"):
        load_plda_files(src / "xvec_transform.npz", tmp_path / "wrong_shape.npz")
    with pytest.raises(ModelLoadError, match="nan.npz"):
        load_plda_files(src / "xvec_transform.npz", tmp_path / "nan.npz")
