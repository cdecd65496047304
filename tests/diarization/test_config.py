"""One engine configuration, built from a model folder without building a network."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from diarization.config import (
    DEFAULT_AGGLOMERATIVE,
    FAST_AGGLOMERATIVE,
    MODES,
    engine_config,
    read_model_facts,
)
from diarization.embedding import load_embedding_model
from diarization.models.pyannet import load_segmentation_model
from diarization.pretrained import resolve_model_set

from .test_pipeline import make_community1


@pytest.fixture(scope="module")
def community1_dir(tmp_path_factory, models_dir: Path) -> Path:
    return make_community1(tmp_path_factory.mktemp("config") / "community-1", models_dir)


def test_default_set(models_dir: Path) -> None:
    config = engine_config(models_dir)
    assert (config.mode, config.step, config.shared_trunk, config.share_sinc, config.cluster_runs) == \
        ("fast", 2.5, True, True, True)
    assert config.clustering.method == "AgglomerativeClustering" and config.clustering.plda is None
    # runs are assigned to their closest centroid (two runs of one chunk may well be the same person), and
    # a distinct small cluster of runs stays a speaker
    assert dict(config.clustering.params) == {**DEFAULT_AGGLOMERATIVE, **FAST_AGGLOMERATIVE,
                                              "constrained_assignment": False}
    assert FAST_AGGLOMERATIVE == {"method": "average", "threshold": 0.55, "keep_distinct": 0.6, "centre": 0.25}
    assert dict(config.clustering.telephone) == {"min_distinct_size": 2}  # telephone audio's change
    assert dict(config.clustering.telephone_mix) == {"threshold": 0.45, "min_active_ratio": 0.15,
                                                     "keep_distinct": 0.5}  # one-row
    assert config.exclude_overlap and config.min_duration_off == 0.0 and config.sample_rate == 16000
    assert (config.segmentation_batch_size, config.embedding_batch_size, config.device) == (32, 32, None)
    exact = engine_config(models_dir, mode="exact")
    assert (exact.step, exact.shared_trunk, exact.share_sinc, exact.cluster_runs) == \
        (MODES["exact"].step, False, False, False)
    assert dict(exact.clustering.params) == DEFAULT_AGGLOMERATIVE and not exact.clustering.telephone
    assert not exact.clustering.telephone_mix


def test_community1_folder(community1_dir: Path) -> None:
    config = engine_config(community1_dir)
    assert config.mode == "exact" and config.step == 1.0
    assert config.clustering.method == "VBxClustering" and config.clustering.plda == community1_dir / "plda"
    assert dict(config.clustering.params) == {"threshold": 0.6, "Fa": 0.07, "Fb": 0.8}
    fast = engine_config(community1_dir, mode="fast")
    assert fast.step == pytest.approx(2.48)  # 31 frames of the ResNet trunk's 80 ms (1280 samples)
    assert fast.facts.trunk_hop == 1280 and fast.facts.embedding_dimension == 256


def test_overrides(models_dir: Path) -> None:
    config = engine_config(resolve_model_set(models_dir), mode="fast", step=1.5, segmentation_batch_size=8,
                           embedding_batch_size=4, device="cpu")
    assert (config.step, config.segmentation_batch_size, config.embedding_batch_size, config.device) == \
        (1.5, 8, 4, "cpu")
    bigger = dataclasses.replace(config, segmentation_batch_size=128, device="cuda")
    assert (bigger.segmentation_batch_size, bigger.device, bigger.step) == (128, "cuda", 1.5)
    assert hash(bigger) != hash(config) and bigger != config
    with pytest.raises(ValueError, match="mode"):
        engine_config(models_dir, mode="turbo")
    with pytest.raises(ValueError, match="step"):
        engine_config(models_dir, step=0.0)
    with pytest.raises(ValueError, match="batch_size"):
        dataclasses.replace(config, embedding_batch_size=0)


@pytest.mark.parametrize("folder", ["default", "community-1"])
def test_facts_are_the_networks_own(folder: str, models_dir: Path, community1_dir: Path) -> None:
    models = resolve_model_set(models_dir if folder == "default" else community1_dir)
    facts = read_model_facts(models)
    segmentation = load_segmentation_model(models.segmentation)
    embedding = load_embedding_model(models.embedding)
    assert facts.sample_rate == segmentation.sample_rate == embedding.sample_rate
    assert facts.frames == segmentation.receptive_field
    assert facts.sinc_stride == segmentation.sincnet.stride
    assert facts.trunk_hop == embedding.network.trunk_hop
    assert facts.embedding_dimension == embedding.dimension
