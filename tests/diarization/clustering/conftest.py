"""Fixtures for the clustering tests: community-1's PLDA and the recorded reference artifacts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from diarization.clustering.plda import PLDAModel, load_plda

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "clustering_reference.npz"
PREFIXES = ("pipeline", "3speakers", "single_speaker", "short")


@pytest.fixture(scope="session")
def plda(models_dir: Path) -> PLDAModel:
    return load_plda(models_dir / "community-1" / "plda")


@pytest.fixture(scope="session")
def golden() -> dict[str, np.ndarray]:
    with np.load(GOLDEN) as npz:
        return {k: npz[k] for k in npz.files}


@pytest.fixture(scope="session")
def recorded(artifacts_dir: Path):
    """recorded("pipeline_vbx_gamma") -> the array community-1 recorded."""

    def load(name: str) -> np.ndarray:
        return np.load(artifacts_dir / f"{name}.npy")

    return load
