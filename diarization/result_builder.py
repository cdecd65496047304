"""Builds a ``DiarizationResult`` from reconstruction's cluster turns, with pyannote's naming rules."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .reconstruction import ClusterTurn
from .result import Diarization, DiarizationResult, Turn


def speaker_label(index: int) -> str:
    """The i-th speaker's name: SPEAKER_00, SPEAKER_01, ..."""
    return f"SPEAKER_{index:02d}"


def speaker_labels(turns: Sequence[ClusterTurn]) -> dict[int, str]:
    """pyannote's renaming: clusters present, sorted as strings ("0" < "10" < "2"), -> SPEAKER_00, ..."""
    clusters = sorted({int(k) for _, _, k in turns}, key=str)
    return {k: speaker_label(i) for i, k in enumerate(clusters)}


def build_result(uri: str, duration: float, turns: Sequence[ClusterTurn], exclusive: Sequence[ClusterTurn],
                 centroids: np.ndarray | None) -> DiarizationResult:
    """Name clusters SPEAKER_00.. in increasing cluster order (as strings); align the centroids with them."""
    names = speaker_labels(turns)
    regular = Diarization(uri, [(Turn(float(s), float(e)), names[int(k)]) for s, e, k in turns])
    exclusive_names = {k: names.get(k, speaker_label(len(names) + i))
                       for i, k in enumerate(sorted({int(k) for _, _, k in exclusive} - set(names)))}
    exclusive_names.update(names)
    only_one = Diarization(uri, [(Turn(float(s), float(e)), exclusive_names[int(k)]) for s, e, k in exclusive])
    dimension = 0 if centroids is None else centroids.shape[1]
    embeddings = np.zeros((len(names), dimension), dtype=np.float32)
    if centroids is not None:
        for i, k in enumerate(names):
            if k < len(centroids):
                embeddings[i] = centroids[k]
    return DiarizationResult(regular, only_one, embeddings, duration)


def empty_result(uri: str, duration: float, dimension: int) -> DiarizationResult:
    """Nobody speaks."""
    return DiarizationResult(Diarization(uri), Diarization(uri), np.zeros((0, dimension), np.float32), duration)
