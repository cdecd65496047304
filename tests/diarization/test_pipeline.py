"""The assembled Pipeline end to end against community-1's own outputs.

The WeSpeaker weights of community-1 are not obtainable, so on the four recordings in
``shared/reference/community-1-artifacts`` we run our own stages on the real audio (``load`` +
``segment_many`` with the real segmentation weights of the community-1 folder) and give ``finish`` the
embeddings community-1 itself computed (``<prefix>_embeddings_data.npy``) in place of ours. Everything
else — speaker counting, VBx with the folder's PLDA, reconstruction, turns, labels — is ours and must
reproduce ``<prefix>_expected.rttm``: the same turns to the microsecond (the RTTM precision), and a
mutual DER of 0.
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import shutil
from pathlib import Path

import numpy as np
import pytest

from diarization.result import Diarization, DiarizationResult
from diarization.config import engine_config
from diarization.pipeline import Pipeline

from .wespeaker_fixture import build_checkpoint

RECORDINGS = {
    "pipeline": "test.wav",
    "3speakers": "test_3speakers.wav",
    "single_speaker": "test_single_speaker.wav",
    "short": "test_short.wav",
}
MAX_DER = 0.005  # the brief's bar; the turns are in fact identical (DER 0.0)


def make_community1(root: Path, models_dir: Path) -> Path:
    """A user's community-1 folder: the shared copy plus a WeSpeaker checkpoint in the exact format."""
    shutil.copytree(models_dir / "community-1", root)
    (root / "embedding").mkdir()
    build_checkpoint(root / "embedding" / "pytorch_model.bin")
    return root


def exact_pipeline(root: Path) -> Pipeline:
    """The community-1 folder's pipeline in community-1's own algorithm (``mode="exact"`` where the
    engine has modes: the fast mode trades exactness for speed and is not what parity is about)."""
    kwargs = {"mode": "exact"} if "mode" in inspect.signature(Pipeline.from_pretrained).parameters else {}
    return Pipeline.from_pretrained(root, device="cpu", **kwargs)


def read_rttm(path_or_text: str | Path) -> list[tuple[float, float, str]]:
    """(start, end, speaker) rows of an RTTM file or text."""
    text = path_or_text.read_text() if isinstance(path_or_text, Path) else path_or_text
    rows = []
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == "SPEAKER":
            start, duration = float(fields[3]), float(fields[4])
            rows.append((start, start + duration, fields[7]))
    return rows


def to_annotation(rows, uri: str = "file"):
    from pyannote.core import Annotation, Segment

    annotation = Annotation(uri=uri)
    for i, (start, end, speaker) in enumerate(rows):
        annotation[Segment(start, end), i] = speaker
    return annotation


def mutual_der(a, b) -> tuple[float, float]:
    """DER of ``b`` against ``a`` and of ``a`` against ``b`` (collar 0, overlap scored)."""
    from pyannote.metrics.diarization import DiarizationErrorRate

    ra, rb = to_annotation(a), to_annotation(b)
    metric = DiarizationErrorRate(collar=0.0, skip_overlap=False)
    return float(metric(ra, rb)), float(metric(rb, ra))


def diarize_like_golden(pipeline: Pipeline, dev_dir: Path, golden: Path, entry: dict
                        ) -> tuple[DiarizationResult, list[tuple[float, float, str]]]:
    """Diarize a golden file's dev audio (checked unchanged since the golden run) and check the mutual DER
    against the recorded RTTM (<= MAX_DER both ways); returns our result and the reference's rows."""
    path = dev_dir / entry["path"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"], f"{path} changed since the golden run"
    result = pipeline(path)
    reference = read_rttm(golden / f"{entry['stem']}.rttm")
    forward, backward = mutual_der(reference, read_rttm(result.to_rttm()))
    assert forward <= MAX_DER and backward <= MAX_DER, (entry["stem"], forward, backward)
    return result, reference


def turns_of(diarization: Diarization) -> list[tuple[float, float, str]]:
    return [(turn.start, turn.end, speaker) for turn, speaker in diarization]


def check_result_invariants(result: DiarizationResult) -> None:
    """Exclusive turns never overlap; embeddings rows follow the labels; labels are SPEAKER_00.."""
    exclusive = sorted(turns_of(result.exclusive_speaker_diarization))
    for (_, end, _), (start, _, _) in itertools.pairwise(exclusive):
        assert end <= start + 1e-9, "exclusive diarization has overlapping turns"
    # community-1 does not crop turns to the file: the zero-padded last chunk can carry a turn up to
    # ~1 s past the end (trn05: 30.96 s for a 30.00 s file, as the reference)
    for start, end, _ in turns_of(result.speaker_diarization) + exclusive:
        assert 0.0 <= start < end <= result.duration + 1.0
    labels = result.speaker_diarization.labels()
    assert labels == [f"SPEAKER_{i:02d}" for i in range(len(labels))]
    assert set(result.exclusive_speaker_diarization.labels()) <= set(labels)
    assert result.speaker_embeddings.shape[0] == len(labels) == result.num_speakers
    assert np.isfinite(result.speaker_embeddings).all()
    assert list(result.embeddings_by_speaker()) == labels


@pytest.fixture(scope="module")
def community1(tmp_path_factory, models_dir) -> Pipeline:
    return exact_pipeline(make_community1(tmp_path_factory.mktemp("pipeline") / "community-1", models_dir))


@pytest.fixture(scope="module")
def recorded_results(community1, artifacts_dir) -> dict[str, DiarizationResult]:
    """Our load + segment_many on each recording, finished with community-1's recorded embeddings."""
    audios = {prefix: community1.load(artifacts_dir / wav) for prefix, wav in RECORDINGS.items()}
    segmentations = community1.segment_many(list(audios.values()))  # chunks of the four files batched together
    results = {}
    for (prefix, audio), seg in zip(audios.items(), segmentations):
        embeddings = np.load(artifacts_dir / f"{prefix}_embeddings_data.npy")
        assert embeddings.shape == (seg.data.shape[0], 3, 256)
        results[prefix] = community1.finish(prefix, audio.duration, seg, embeddings)
    return results


def test_fast_mode_on_a_community1_folder(community1, artifacts_dir) -> None:
    """The fast mode works with the WeSpeaker ResNet34 too: chunk step on its trunk's 80 ms frame grid."""
    fast = Pipeline(engine_config(community1.models, device="cpu", mode="fast"))
    assert fast.segmenter.step == pytest.approx(2.48) and fast.segmenter.share_sinc
    assert fast.versions["mode"] == "fast" and fast.fingerprint != community1.fingerprint
    result = fast(artifacts_dir / "test.wav")
    assert result.num_speakers >= 1 and len(result.speaker_diarization) > 0
    assert result.duration == pytest.approx(community1.load(artifacts_dir / "test.wav").duration)


def test_community1_folder_is_used(community1) -> None:
    assert community1.models.name == "community-1"
    assert community1.versions["clustering"] == "VBxClustering"
    assert community1.exclude_overlap is True and community1.min_duration_off == 0.0


@pytest.mark.parametrize("prefix", list(RECORDINGS))
def test_recorded_embeddings_reproduce_community1(prefix, recorded_results, artifacts_dir) -> None:
    result = recorded_results[prefix]
    expected = read_rttm(artifacts_dir / f"{prefix}_expected.rttm")
    ours = turns_of(result.speaker_diarization)
    # identical turns: same count, labels and order; times equal at the RTTM's 6-decimal precision
    assert [s for *_, s in ours] == [s for *_, s in expected]
    np.testing.assert_allclose([t[:2] for t in ours], [t[:2] for t in expected], rtol=0, atol=1e-6)
    forward, backward = mutual_der(expected, ours)
    assert forward <= MAX_DER and backward <= MAX_DER, (forward, backward)
    assert forward == 0.0 and backward == 0.0
    # the RTTM text (pyannote's 3 decimals) keeps the turns and labels to the millisecond
    written = read_rttm(result.to_rttm())
    assert [s for *_, s in written] == [s for *_, s in expected]
    np.testing.assert_allclose([t[:2] for t in written], [t[:2] for t in expected], rtol=0, atol=1.5e-3)
    check_result_invariants(result)
    assert result.uri == prefix and result.duration == pytest.approx(
        {"pipeline": 26.0, "3speakers": 35.3, "single_speaker": 15.0, "short": 3.3}[prefix], abs=0.05)


def test_speaker_embeddings_are_the_cluster_centroids(recorded_results, artifacts_dir) -> None:
    """community-1's speaker_embeddings: the mean of the recorded embeddings assigned to each speaker."""
    result = recorded_results["pipeline"]
    assert result.num_speakers == 2
    hard = np.load(artifacts_dir / "pipeline_hard_clusters.npy")
    embeddings = np.load(artifacts_dir / "pipeline_embeddings_data.npy")
    for k, label in enumerate(result.speaker_diarization.labels()):
        rows = embeddings[hard == k]
        rows = rows[np.isfinite(rows).all(axis=1)]
        centroid = rows.mean(axis=0)
        cos = float(centroid @ result.speaker_embeddings[k]
                    / np.linalg.norm(centroid) / np.linalg.norm(result.speaker_embeddings[k]))
        assert cos > 0.99, (label, cos)


def test_exclusive_covers_speech_once(recorded_results) -> None:
    """Exclusive diarization: a subset of the regular speech, one speaker at a time, same speakers."""
    for result in recorded_results.values():
        regular = to_annotation(turns_of(result.speaker_diarization))
        exclusive = to_annotation(turns_of(result.exclusive_speaker_diarization))
        assert exclusive.get_timeline().support().duration() == pytest.approx(
            regular.get_timeline().support().duration(), abs=0.1)
        assert not list(exclusive.get_overlap())
