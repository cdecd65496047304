"""The last stage from the configuration alone: recorded community-1 segmentation and embeddings in,
community-1's RTTM out, without any network."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from diarization.config import engine_config
from diarization.finish import Finisher
from diarization.windows import SlidingWindow, Windowed

from .test_pipeline import make_community1, read_rttm, turns_of


def test_finisher_reproduces_community1(tmp_path: Path, models_dir: Path, artifacts_dir: Path) -> None:
    finisher = Finisher.from_config(engine_config(make_community1(tmp_path / "community-1", models_dir)))
    window = SlidingWindow(**json.loads((artifacts_dir / "pipeline_segmentation_window.json").read_text()))
    segmentations = Windowed(np.load(artifacts_dir / "pipeline_segmentation_data.npy"), window)
    embeddings = np.load(artifacts_dir / "pipeline_embeddings_data.npy")
    result = finisher("pipeline", 26.0, segmentations, embeddings)
    expected = read_rttm(artifacts_dir / "pipeline_expected.rttm")
    ours = turns_of(result.speaker_diarization)
    assert [s for *_, s in ours] == [s for *_, s in expected]
    np.testing.assert_allclose([t[:2] for t in ours], [t[:2] for t in expected], rtol=0, atol=1e-6)
    assert result.speaker_embeddings.shape == (2, 256)
    silent = finisher("silence", 5.0, Windowed(np.zeros_like(segmentations.data), window), None)
    assert silent.num_speakers == 0 and silent.speaker_embeddings.shape == (0, 256)
