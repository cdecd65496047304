"""The dev set as the benchmarks score it: reference turns (RTTM), scored regions (UEM) and audio, by uri.

``../shared/data/dev`` by default (``$DIARIZATION_SHARED/data/dev`` when that is set), every ``*.rttm``,
``*.uem`` and ``*.wav`` under it; a uri is a WAV's stem.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

warnings.filterwarnings("ignore")

from pyannote.core import Annotation, Segment, Timeline  # noqa: E402

from benchmarks.paths import DEV  # noqa: E402



def load_rttm(path: Path) -> dict[str, Annotation]:
    """uri -> Annotation from an RTTM file."""
    out: dict[str, Annotation] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if not fields or fields[0] != "SPEAKER":
            continue
        annotation = out.setdefault(fields[1], Annotation(uri=fields[1]))
        start, duration = float(fields[3]), float(fields[4])
        annotation[Segment(start, start + duration), len(annotation)] = fields[7]
    return out


def load_uem(path: Path) -> dict[str, Timeline]:
    """uri -> scored regions from a UEM file."""
    out: dict[str, Timeline] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if len(fields) >= 4:
            out.setdefault(fields[0], Timeline(uri=fields[0])).add(Segment(float(fields[2]), float(fields[3])))
    return out


@dataclass
class DevSet:
    """References, UEMs and audio of the dev set, keyed by uri (= WAV stem)."""

    refs: dict[str, Annotation]
    uems: dict[str, Timeline]
    wavs: dict[str, Path]

    @property
    def scored(self) -> list[str]:
        """uris with both a reference and audio, sorted."""
        return sorted(uri for uri in self.refs if uri in self.wavs)


def load_dev(dev: Path = DEV) -> DevSet:
    """Every ``*.rttm`` / ``*.uem`` / ``*.wav`` under ``dev``."""
    refs: dict[str, Annotation] = {}
    uems: dict[str, Timeline] = {}
    for path in sorted(dev.rglob("*.rttm")):
        refs.update(load_rttm(path))
    for path in sorted(dev.rglob("*.uem")):
        uems.update(load_uem(path))
    return DevSet(refs, uems, {p.stem: p for p in sorted(dev.rglob("*.wav"))})
