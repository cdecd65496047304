"""Speaker turns of one file that behave like a ``pyannote.core.Annotation`` for the calls users make.

``Diarization`` is what ``output.speaker_diarization`` and ``output.exclusive_speaker_diarization`` are.
Plain-value calls run here without pyannote: iteration as ``(turn, speaker)``, ``itertracks``, ``labels``,
``label_duration``, ``chart``, ``rename_labels``, ``subset``, ``write_rttm``, ``for_json``. Calls whose answer
is a pyannote structure (``get_timeline``, ``support``, ``crop``, ``label_timeline``, ``extrude``,
``get_overlap``, ``argmax``, ...) are answered by ``to_annotation()``, a real ``pyannote.core.Annotation``
(pyannote.core must be installed); that is also how ``pyannote.metrics`` scores a ``Diarization`` passed to it
directly, as reference or hypothesis. Tracks are named as pyannote.audio names them: each speaker's index
in ``labels()``.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

# read-only Annotation methods answered by ``to_annotation()`` (beside the four defined below)
DELEGATED = frozenset({"extrude", "get_overlap", "argmax", "discretize", "get_labels", "get_tracks", "has_track",
                       "co_iter", "rename_tracks", "empty", "to_lab"})


@dataclass(frozen=True, order=True)
class Turn:
    """A time span in seconds (the ``segment`` of pyannote's tracks)."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


def _union_duration(turns: Iterable[Turn]) -> float:
    """Seconds covered by ``turns`` (overlaps counted once), as pyannote's ``Timeline.duration()``."""
    total, reach = 0.0, float("-inf")
    for turn in sorted(turns):
        if turn.end > reach:
            total += turn.end - max(turn.start, reach)
            reach = turn.end
    return total


def _letters(n: int) -> str:
    """0 -> 'A', 25 -> 'Z', 26 -> 'AA', ... (pyannote's string label generator)."""
    name = ""
    while True:
        name = chr(ord("A") + n % 26) + name
        n = n // 26 - 1
        if n < 0:
            return name


def _labels_from(generator: str | Iterable[Any]) -> Iterator[Any]:
    """pyannote's label generators: 'string' (A, B, ..., Z, AA, ...), 'int' (0, 1, ...) or any iterable."""
    if generator == "int":
        return itertools.count()
    if generator == "string":
        return map(_letters, itertools.count())
    return iter(generator)


def _pyannote_core() -> Any:
    try:
        import pyannote.core as core
    except ImportError as error:
        raise ImportError("this call returns pyannote.core objects: pip install pyannote.core") from error
    return core


@dataclass
class Diarization:
    """Speaker turns of one file, iterated as ``(turn, speaker)`` in time order."""

    uri: str
    tracks: list[tuple[Turn, str]] = field(default_factory=list)
    modality: str = "speaker"

    def __iter__(self) -> Iterator[tuple[Turn, str]]:
        return iter(self.tracks)

    def __len__(self) -> int:
        return len(self.tracks)

    def __bool__(self) -> bool:
        return bool(self.tracks)

    def labels(self) -> list[str]:
        """Speaker labels, sorted."""
        return sorted({speaker for _, speaker in self.tracks})

    def itertracks(self, yield_label: bool = False) -> Iterator[tuple[Turn, int] | tuple[Turn, int, str]]:
        """``(turn, track)`` or, with ``yield_label``, ``(turn, track, speaker)`` in time order; a track is
        the speaker's index in ``labels()`` (pyannote.audio's column of that speaker)."""
        index = {label: k for k, label in enumerate(self.labels())}
        for turn, speaker in self.tracks:
            yield (turn, index[speaker], speaker) if yield_label else (turn, index[speaker])

    def itersegments(self) -> Iterator[Turn]:
        """Each turn's time span, in time order (a span two speakers share comes once)."""
        seen: set[Turn] = set()
        for turn, _ in self.tracks:
            if turn not in seen:
                seen.add(turn)
                yield turn

    def speech_duration(self) -> float:
        """Total duration of speaker turns (overlapping speech counted once per speaker)."""
        return float(sum(turn.duration for turn, _ in self.tracks))

    def label_duration(self, label: str) -> float:
        """Seconds ``label`` speaks (``label_timeline(label).duration()`` in pyannote)."""
        return _union_duration(turn for turn, speaker in self.tracks if speaker == label)

    def chart(self, percent: bool = False) -> list[tuple[str, float]]:
        """``(label, seconds)`` from the longest-speaking label down (fractions of the total with ``percent``)."""
        chart = sorted(((label, self.label_duration(label)) for label in self.labels()), key=lambda x: -x[1])
        total = sum(seconds for _, seconds in chart)
        return [(label, seconds / total) for label, seconds in chart] if percent and total else chart

    def rename_labels(self, mapping: dict[str, Any] | None = None, generator: str | Iterable[Any] = "string",
                      copy: bool = True) -> Diarization:
        """Labels renamed by ``mapping`` (unmapped ones kept) or, without one, to 'A', 'B', ... in
        ``labels()`` order (``generator="int"``: 0, 1, ...); in place with ``copy=False``."""
        if mapping is None:
            names = _labels_from(generator)
            mapping = {label: next(names) for label in self.labels()}
        tracks = [(turn, mapping.get(speaker, speaker)) for turn, speaker in self.tracks]
        if not copy:
            self.tracks = tracks
            return self
        return Diarization(self.uri, tracks, self.modality)

    def subset(self, labels: Iterable[str], invert: bool = False) -> Diarization:
        """The turns of ``labels`` only (or of every other label with ``invert``)."""
        keep = set(labels)
        return Diarization(self.uri, [(t, s) for t, s in self.tracks if (s in keep) != invert], self.modality)

    def copy(self) -> Diarization:
        return Diarization(self.uri, list(self.tracks), self.modality)

    def to_rttm(self) -> str:
        """RTTM lines, as pyannote writes them (milliseconds and below, 3 decimals)."""
        uri = self.uri.replace(" ", "_") or "<NA>"
        return "".join(
            f"SPEAKER {uri} 1 {turn.start:.3f} {turn.duration:.3f} <NA> <NA> {speaker} <NA> <NA>\n"
            for turn, speaker in self.tracks
        )

    def write_rttm(self, file: IO[str] | str | os.PathLike) -> None:
        """Write the RTTM lines to an open text file (as pyannote's ``write_rttm``) or to a path."""
        if isinstance(file, (str, os.PathLike)):
            Path(file).write_text(self.to_rttm(), encoding="utf-8")
        else:
            file.write(self.to_rttm())

    def for_json(self) -> dict[str, Any]:
        """pyannote's JSON form of an annotation: ``{"pyannote": "Annotation", "content": [{"segment":
        {"start", "end"}, "track", "label"}, ...], "uri", "modality"}``."""
        content = [{"segment": {"start": turn.start, "end": turn.end}, "track": track, "label": speaker}
                   for turn, track, speaker in self.itertracks(yield_label=True)]
        return {"pyannote": "Annotation", "content": content, "uri": self.uri, "modality": self.modality}

    # -- answered by a real pyannote.core.Annotation ----------------------------------------------------

    def to_annotation(self) -> Any:
        """The same turns as a ``pyannote.core.Annotation`` (needs pyannote.core)."""
        core = _pyannote_core()
        annotation = core.Annotation(uri=self.uri, modality=self.modality)
        for turn, track, speaker in self.itertracks(yield_label=True):
            annotation[core.Segment(turn.start, turn.end), track] = speaker
        return annotation

    def get_timeline(self, copy: bool = True) -> Any:
        """The turns' time spans as a ``pyannote.core.Timeline``."""
        return self.to_annotation().get_timeline(copy=False)

    def support(self, collar: float = 0.0) -> Any:
        """Each speaker's turns closer than ``collar`` joined (a ``pyannote.core.Annotation``)."""
        return self.to_annotation().support(collar=collar)

    def crop(self, support: Any, mode: str = "intersection") -> Any:
        """The turns inside ``support`` (a pyannote ``Segment`` or ``Timeline``), a pyannote ``Annotation``."""
        return self.to_annotation().crop(support, mode=mode)

    def label_timeline(self, label: str, copy: bool = True) -> Any:
        """``label``'s turns as a ``pyannote.core.Timeline``."""
        return self.to_annotation().label_timeline(label, copy=False)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name in DELEGATED:
            return getattr(self.to_annotation(), name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
