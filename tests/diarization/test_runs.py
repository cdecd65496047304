"""Runs of local speakers as clustering columns (diarization.runs) and their effect in the fast mode."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from diarization.pipeline import Pipeline
from diarization.runs import pad_columns, split_runs


def test_each_run_gets_its_own_column_in_speaker_then_time_order() -> None:
    data = np.zeros((2, 10, 3), np.float32)
    data[0, 0:3, 0] = data[0, 6:9, 0] = 1  # local speaker 0: two runs
    data[0, 2:5, 1] = 1  # local speaker 1: one run, overlapping the first
    data[1, 4:6, 2] = 1  # chunk 1: one run of local speaker 2
    runs = split_runs(data)
    assert runs.shape == (2, 10, 3)
    assert np.flatnonzero(runs[0, :, 0]).tolist() == [0, 1, 2]
    assert np.flatnonzero(runs[0, :, 1]).tolist() == [6, 7, 8]
    assert np.flatnonzero(runs[0, :, 2]).tolist() == [2, 3, 4]
    assert np.flatnonzero(runs[1, :, 0]).tolist() == [4, 5] and not runs[1, :, 1:].any()
    assert np.array_equal(runs.sum(axis=2), data.sum(axis=2))  # the speaker count per frame is unchanged


def test_groups_of_chunks_split_as_the_whole() -> None:
    rng = np.random.default_rng(7)
    data = (rng.random((12, 50, 3)) < 0.4).astype(np.float32)
    whole = split_runs(data)
    groups = pad_columns([split_runs(data[a:a + 5]) for a in range(0, 12, 5)], axis=2, fill=0.0)
    assert np.array_equal(np.concatenate(groups), whole)


def test_silent_chunks_keep_one_empty_column() -> None:
    assert split_runs(np.zeros((3, 8, 3), np.float32)).shape == (3, 8, 1)


def test_fast_mode_clusters_runs_and_exact_mode_local_speakers(models_dir: Path, shared_dir: Path) -> None:
    """A telephone call whose two voices share local tracks (0.3.0 labelled them together: 48% DER): in the
    fast mode every run is a column of its own and the two parties come apart; exact mode keeps the three
    local speakers of community-1."""
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    folder = shared_dir / "data" / "dev-calls" / "mono"
    reference = Annotation()
    for line in (folder / "devcall_04.rttm").read_text().splitlines():
        fields = line.split()
        reference[Segment(float(fields[3]), float(fields[3]) + float(fields[4]))] = fields[7]
    fast = Pipeline.from_pretrained(models_dir, device="cpu")
    audio = fast.load(folder / "devcall_04.wav")
    assert fast.segment_many([audio])[0].data.shape[2] > 3
    hypothesis = Annotation()
    for turn, speaker in fast(audio).speaker_diarization:
        hypothesis[Segment(turn.start, turn.end)] = speaker
    assert DiarizationErrorRate(collar=0.0, skip_overlap=False)(reference, hypothesis) < 0.25
    exact = Pipeline.from_pretrained(models_dir, device="cpu", mode="exact")
    assert exact.segment_many([audio])[0].data.shape[2] == 3
