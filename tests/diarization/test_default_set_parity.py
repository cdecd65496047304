"""Our exact mode against the reference pipeline on our DEFAULT model set: real weights, real speakers.

pyannote.audio 4.0.7's ``SpeakerDiarization`` ran segmentation-3.0 + CAM++ with agglomerative clustering
(``benchmarks/reference_pipelines.default_set_pipeline``; our CAM++ module handed to pyannote as a
``Model``); its RTTMs were recorded by ``tests/golden/pipeline_default/make_golden.py``. Unlike
test_reference_parity.py (random WeSpeaker weights), these turns are meaningful, so this checks the
whole community-1 algorithm end to end on real speaker embeddings: mutual DER (collar 0, overlap scored,
both directions) <= 0.5% per file and the same number of speakers. Measured: identical turns.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from diarization.config import DEFAULT_AGGLOMERATIVE
from diarization.pipeline import Pipeline

from .test_pipeline import check_result_invariants, diarize_like_golden

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "pipeline_default"
RECORD = json.loads((GOLDEN / "reference.json").read_text())
FILES = {f["stem"]: f for f in RECORD["files"]}


@pytest.fixture(scope="module")
def pipeline(models_dir) -> Pipeline:
    return Pipeline.from_pretrained(models_dir, device="cpu", mode="exact")


def test_golden_files_used_our_hyper_parameters(pipeline) -> None:
    assert RECORD["params"]["clustering"] == {k: DEFAULT_AGGLOMERATIVE[k] for k in RECORD["params"]["clustering"]}
    assert set(RECORD["params"]["clustering"]) == set(DEFAULT_AGGLOMERATIVE)
    assert RECORD["params"]["segmentation"]["min_duration_off"] == pipeline.min_duration_off
    assert pipeline.exclude_overlap and pipeline.segmenter.step == 1.0


@pytest.mark.parametrize("stem", list(FILES))
def test_exact_mode_matches_reference(stem, pipeline, dev_dir) -> None:
    entry = FILES[stem]
    result, reference = diarize_like_golden(pipeline, dev_dir, GOLDEN, entry)
    assert result.num_speakers == entry["speakers"] == len({speaker for *_, speaker in reference})
    check_result_invariants(result)
