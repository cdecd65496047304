"""Builds a ``DiarizationResult`` from reconstruction's cluster turns, with pyannote's naming rules."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .reconstruction import ClusterTurn
from .result import Diarization, DiarizationResult, Turn


def speaker_label(index: int, channel: int | None = None) -> str:
    """The i-th speaker's name: SPEAKER_00, SPEAKER_01, ...; CH1_SPEAKER_00 for a speaker of channel 1."""
    return f"SPEAKER_{index:02d}" if channel is None else f"CH{channel}_SPEAKER_{index:02d}"


def speaker_labels(clusters: set[int], owners: Sequence[int] | None = None,
                   taken: dict[int, str] | None = None) -> dict[int, str]:
    """pyannote's renaming: clusters, sorted as strings ("0" < "10" < "2"), -> SPEAKER_00, ...; with
    ``owners`` (each cluster's channel), numbered within their channel. ``taken`` names come first; the
    clusters added to them follow in numeric order, as the reference names exclusive-only speakers."""
    names = dict(taken or {})
    for k in sorted(clusters - set(names), key=str if taken is None else int):
        channel = None if owners is None else owners[k]
        used = sum(1 for j in names if owners is None or owners[j] == channel)
        names[k] = speaker_label(used, channel)
    return names


def build_result(uri: str, duration: float, turns: Sequence[ClusterTurn], exclusive: Sequence[ClusterTurn],
                 centroids: np.ndarray | None, owners: Sequence[int] | None = None) -> DiarizationResult:
    """Name clusters SPEAKER_00.. in increasing cluster order (as strings), per channel when ``owners``
    gives each cluster's channel (a split call); align the centroids with them."""
    names = speaker_labels({int(k) for _, _, k in turns}, owners)
    regular = Diarization(uri, [(Turn(float(s), float(e)), names[int(k)]) for s, e, k in turns])
    exclusive_names = speaker_labels({int(k) for _, _, k in exclusive}, owners, taken=names)
    only_one = Diarization(uri, [(Turn(float(s), float(e)), exclusive_names[int(k)]) for s, e, k in exclusive])
    dimension = 0 if centroids is None else centroids.shape[1]
    embeddings = np.zeros((len(names), dimension), dtype=np.float32)
    if centroids is not None:
        for i, k in enumerate(names):
            if k < len(centroids):
                embeddings[i] = centroids[k]
    channels = {} if owners is None else {name: owners[k] for k, name in exclusive_names.items()}
    return DiarizationResult(regular, only_one, embeddings, duration, channels)


def empty_result(uri: str, duration: float, dimension: int) -> DiarizationResult:
    """Nobody speaks."""
    return DiarizationResult(Diarization(uri), Diarization(uri), np.zeros((0, dimension), np.float32), duration)
