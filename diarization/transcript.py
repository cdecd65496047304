"""Speakers for a transcript: each segment and word (``{"start", "end", ...}`` dicts, as WhisperX and
faster-whisper give them) gets the speaker it overlaps most.

The semantics of WhisperX's ``assign_word_speakers``, on our own code: for a span, every diarization turn
overlapping it adds its overlap (seconds) to its speaker's total; the speaker with the largest total is the
span's ``"speaker"`` (ties: the first in ``labels()`` order). A span that overlaps no turn gets no
``"speaker"`` key, or with ``fill_nearest=True`` the speaker of the closest turn. Words without a ``"start"``
(WhisperX leaves unalignable words, e.g. numbers, without timestamps) are left as they are. Pass the
exclusive diarization (one speaker at a time), which is what a ``DiarizationResult`` gives.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

Span = Mapping[str, Any]


def _turns(diarization: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(starts, ends, speaker index, labels) of a DiarizationResult (its exclusive diarization), a
    ``Diarization``, a pyannote ``Annotation`` or any iterable of ``(turn, speaker)``."""
    turns = getattr(diarization, "exclusive_speaker_diarization", diarization)
    pairs = [(float(turn.start), float(turn.end), str(speaker)) for turn, speaker in turns]
    labels = sorted({speaker for _, _, speaker in pairs})
    index = {label: k for k, label in enumerate(labels)}
    starts = np.array([p[0] for p in pairs], dtype=np.float64)
    ends = np.array([p[1] for p in pairs], dtype=np.float64)
    speakers = np.array([index[p[2]] for p in pairs], dtype=np.int64)
    return starts, ends, speakers, labels


def speaker_of(start: float, end: float, turns: tuple[np.ndarray, np.ndarray, np.ndarray, list[str]],
               fill_nearest: bool = False) -> str | None:
    """The speaker overlapping ``[start, end]`` most (see the module docstring); None when none does."""
    starts, ends, speakers, labels = turns
    if not len(starts):
        return None
    overlap = np.minimum(ends, end) - np.maximum(starts, start)
    hit = overlap > 0
    if hit.any():
        totals = np.bincount(speakers[hit], weights=overlap[hit], minlength=len(labels))
        return labels[int(np.argmax(totals))]
    if fill_nearest:
        return labels[int(speakers[int(np.argmax(overlap))])]  # the least negative overlap: the closest turn
    return None


def _with_speaker(span: Span, turns: tuple, fill_nearest: bool) -> dict[str, Any]:
    out = dict(span)
    if "start" in span and span["start"] is not None:
        start = float(span["start"])
        end = float(span["end"]) if span.get("end") is not None else start
        speaker = speaker_of(start, end, turns, fill_nearest)
        if speaker is not None:
            out["speaker"] = speaker
    return out


def _segments_with_speakers(segments: Iterable[Span], turns: tuple, fill_nearest: bool) -> list[dict[str, Any]]:
    out = []
    for segment in segments:
        labelled = _with_speaker(segment, turns, fill_nearest)
        if isinstance(segment.get("words"), Iterable):
            labelled["words"] = [_with_speaker(word, turns, fill_nearest) for word in segment["words"]]
        out.append(labelled)
    return out


def assign_speakers(transcript: Sequence[Span] | Mapping[str, Any], diarization: Any,
                    fill_nearest: bool = False) -> Any:
    """``transcript`` with a ``"speaker"`` on each segment and each of its ``"words"``, from
    ``diarization`` (a ``DiarizationResult``: its exclusive diarization; or any ``(turn, speaker)``
    iterable). ``transcript`` is a list of segment dicts or WhisperX's result dict (``{"segments": [...],
    ...}``); the same shape comes back, as new dicts (the input is not changed)."""
    turns = _turns(diarization)
    if isinstance(transcript, Mapping):
        return {**transcript, "segments": _segments_with_speakers(transcript.get("segments", []), turns,
                                                                  fill_nearest)}
    return _segments_with_speakers(transcript, turns, fill_nearest)
