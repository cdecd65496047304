"""Turn lists from reconstruction -> a labelled ``DiarizationResult`` (pyannote's renaming rules)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .output import Diarization, DiarizationResult, Turn

RawTurn = tuple[float, float, int]  # (start, end, cluster index)


def speaker_label(index: int) -> str:
    """The i-th speaker's name: SPEAKER_00, SPEAKER_01, ..."""
    return f"SPEAKER_{index:02d}"


def build_result(uri: str, duration: float, turns: Sequence[RawTurn], exclusive: Sequence[RawTurn],
                 centroids: np.ndarray | None) -> DiarizationResult:
    """Name clusters SPEAKER_00.. in increasing cluster order and align the centroids with them."""
    clusters = sorted({int(k) for _, _, k in turns}, key=str)  # pyannote sorts cluster ids as strings
    names = {k: speaker_label(i) for i, k in enumerate(clusters)}
    regular = Diarization(uri, [(Turn(float(s), float(e)), names[int(k)]) for s, e, k in turns])
    exclusive_names = {k: names.get(k, speaker_label(len(names) + i))
                       for i, k in enumerate(sorted({int(k) for _, _, k in exclusive} - set(names)))}
    exclusive_names.update(names)
    only_one = Diarization(uri, [(Turn(float(s), float(e)), exclusive_names[int(k)]) for s, e, k in exclusive])
    dimension = 0 if centroids is None else centroids.shape[1]
    embeddings = np.zeros((len(clusters), dimension), dtype=np.float32)
    if centroids is not None:
        for i, k in enumerate(clusters):
            if k < len(centroids):
                embeddings[i] = centroids[k]
    return DiarizationResult(regular, only_one, embeddings, duration)


def empty_result(uri: str, duration: float, dimension: int) -> DiarizationResult:
    """Nobody speaks."""
    return DiarizationResult(Diarization(uri), Diarization(uri), np.zeros((0, dimension), np.float32), duration)
