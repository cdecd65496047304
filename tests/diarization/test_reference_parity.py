"""Our Pipeline against the reference community-1 pipeline (pyannote.audio 4.0.7) on real dev audio.

Both run community-1's folder (real segmentation weights, PLDA, config) with the same deterministic
WeSpeaker ResNet34 checkpoint (``wespeaker_fixture.build_checkpoint``); the reference's RTTMs were
recorded by ``tests/golden/pipeline/make_pipeline_golden.py`` (see ``tests/golden/pipeline/README.md``).
The weights are random, so speaker labels carry no meaning about the real speakers; what is checked is
that the two implementations compute the same thing end to end: mutual DER (collar 0, overlap scored,
both directions) <= 0.5% per file. Measured: 0.0 on every file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from diarization.pipeline import Pipeline

from .test_pipeline import check_result_invariants, diarize_like_golden, exact_pipeline, make_community1
from .wespeaker_fixture import build_checkpoint

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "pipeline"
RECORD = json.loads((GOLDEN / "reference.json").read_text())
FILES = {f["stem"]: f for f in RECORD["files"]}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, models_dir) -> Pipeline:
    return exact_pipeline(make_community1(tmp_path_factory.mktemp("parity") / "community-1", models_dir))


def test_checkpoint_is_the_one_the_golden_files_used(tmp_path) -> None:
    path = build_checkpoint(tmp_path / "pytorch_model.bin")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == RECORD["checkpoint"]["sha256"]


@pytest.mark.parametrize("stem", list(FILES))
def test_pipeline_matches_reference(stem, pipeline, dev_dir) -> None:
    entry = FILES[stem]
    result, reference = diarize_like_golden(pipeline, dev_dir, GOLDEN, entry)
    assert result.uri == stem and result.duration == pytest.approx(entry["audio_s"], abs=0.05)
    assert result.num_speakers == len({speaker for *_, speaker in reference})
    check_result_invariants(result)
