"""Diarization results: speaker turns, RTTM and plain records."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .annotation import Diarization, Turn

__all__ = ["Diarization", "DiarizationResult", "Turn"]


@dataclass
class DiarizationResult:
    """What the pipeline returns for one file."""

    speaker_diarization: Diarization
    exclusive_speaker_diarization: Diarization
    speaker_embeddings: np.ndarray  # (num_speakers, dimension), rows in ``speaker_diarization.labels()`` order
    duration: float = 0.0
    speaker_channels: dict[str, int] = field(default_factory=dict)  # a split call's speaker -> channel

    @property
    def uri(self) -> str:
        return self.speaker_diarization.uri

    @property
    def num_speakers(self) -> int:
        return len(self.speaker_diarization.labels())

    def to_rttm(self, exclusive: bool = False) -> str:
        """RTTM text of the regular (or exclusive) diarization."""
        return (self.exclusive_speaker_diarization if exclusive else self.speaker_diarization).to_rttm()

    def write_rttm(self, path: str | Path, exclusive: bool = False) -> None:
        """Write the RTTM to a local path."""
        Path(path).write_text(self.to_rttm(exclusive), encoding="utf-8")

    def records(self, exclusive: bool = False, file: str | None = None) -> list[dict]:
        """Plain rows ``{file, speaker, channel, start, end, duration}`` for tables and Parquet (``channel``:
        the speaker's channel in a split call, else None)."""
        annotation = self.exclusive_speaker_diarization if exclusive else self.speaker_diarization
        name = self.uri if file is None else file
        return [
            {"file": name, "speaker": speaker, "channel": self.speaker_channels.get(speaker), "start": turn.start,
             "end": turn.end, "duration": turn.duration}
            for turn, speaker in annotation
        ]

    def embeddings_by_speaker(self) -> dict[str, np.ndarray]:
        """Speaker label -> embedding (centroid of its clustered embeddings)."""
        return dict(zip(self.speaker_diarization.labels(), self.speaker_embeddings))
