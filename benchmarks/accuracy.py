"""The accuracy report: which files are scored, how each is scored, and the per-subset table.

A scored set is a folder of audio (``.wav``, ``.mp3``, ``.flac``, ``.ogg``) with reference RTTMs and, where
given, UEMs. A set whose audio sits in subfolders (``../shared/data/dev``) is reported per subfolder
(``dev/ami_debug_train``, ...) and as a total; a folder with its audio directly inside
(``../shared/data/dev-calls/mono``) is one subset. Files are scored with pyannote.metrics'
``DiarizationErrorRate(collar=0.0, skip_overlap=False)`` and the UEM where given, as
``../shared/tools/der.py`` scores them; the error is split into missed speech, false alarm and confusion,
and the hypothesis' number of speakers is compared with the reference's. Scores of several chunk
alignments (``--offsets``) are pooled: DER = all errors over all scored speech, count errors = mean number
of files per alignment with a wrong count.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

warnings.filterwarnings("ignore")

from pyannote.core import Annotation, Segment, Timeline  # noqa: E402
from pyannote.metrics.diarization import DiarizationErrorRate  # noqa: E402

from benchmarks.devset import load_rttm, load_uem  # noqa: E402, F401  (re-exported for benchmarks.der)
from diarization.result import Diarization  # noqa: E402

AUDIO_SUFFIXES = (".wav", ".mp3", ".flac", ".ogg")


@dataclass(frozen=True)
class ScoredFile:
    """One file to score: its audio and its reference."""

    set_name: str  # the set it belongs to ("dev", "dev-calls/mono")
    subset: str  # the row of the report it counts in ("dev/ami_debug_train", "dev-calls/mono")
    uri: str
    audio: Path
    reference: Annotation
    uem: Timeline | None


def set_name_of(root: Path) -> str:
    """``dev`` for .../data/dev, ``dev-calls/mono`` for .../data/dev-calls/mono (a set in a set's folder)."""
    root = root.resolve()
    has_audio_subfolders = any(p.suffix in AUDIO_SUFFIXES
                               for d in root.iterdir() if d.is_dir() for p in d.iterdir())
    return root.name if has_audio_subfolders else f"{root.parent.name}/{root.name}"


def collect(root: Path) -> list[ScoredFile]:
    """The files of the set ``root`` that have both audio and a reference, sorted by subset and uri."""
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such scored set (a folder of audio with RTTM references)")
    set_name = set_name_of(root)
    folders = sorted({p.parent for p in root.rglob("*") if p.suffix in AUDIO_SUFFIXES})
    items = []
    for folder in folders:
        refs: dict[str, Annotation] = {}
        uems: dict[str, Timeline] = {}
        for path in folder.glob("*.rttm"):
            refs.update(load_rttm(path))
        for path in folder.glob("*.uem"):
            uems.update(load_uem(path))
        subset = set_name if folder == root else f"{set_name}/{folder.relative_to(root)}"
        audio = {p.stem: p for p in sorted(folder.iterdir()) if p.suffix in AUDIO_SUFFIXES}
        items += [ScoredFile(set_name, subset, uri, audio[uri], refs[uri], uems.get(uri))
                  for uri in sorted(refs) if uri in audio]
    return sorted(items, key=lambda item: (item.subset, item.uri))


def hypothesis(diarization: Diarization, uri: str, offset: float = 0.0) -> Annotation:
    """The turns as a pyannote Annotation, shifted back by the ``offset`` of silence put before the file."""
    annotation = Annotation(uri=uri)
    for i, (turn, speaker) in enumerate(diarization):
        begin, end = turn.start - offset, turn.end - offset
        if end > 0:
            annotation[Segment(max(begin, 0.0), end), i] = speaker
    return annotation


@dataclass(frozen=True)
class FileScore:
    """One file at one chunk alignment: seconds of each error, of scored speech, and speaker counts."""

    subset: str
    uri: str
    offset: float
    missed: float
    false_alarm: float
    confusion: float
    total: float  # seconds of reference speech (overlap counted per speaker)
    hyp_speakers: int
    ref_speakers: int

    @property
    def error(self) -> float:
        return self.missed + self.false_alarm + self.confusion

    @property
    def der(self) -> float:
        return self.error / self.total if self.total else 0.0

    @property
    def count_error(self) -> bool:
        return self.hyp_speakers != self.ref_speakers


def score(item: ScoredFile, hyp: Annotation, offset: float = 0.0) -> FileScore:
    """``hyp`` scored against the file's reference (collar 0, overlap scored, the UEM where given)."""
    metric = DiarizationErrorRate(collar=0.0, skip_overlap=False)
    details = metric(item.reference, hyp, uem=item.uem, detailed=True) if item.uem else \
        metric(item.reference, hyp, detailed=True)
    return FileScore(item.subset, item.uri, offset, details["missed detection"], details["false alarm"],
                     details["confusion"], details["total"], len(hyp.labels()), len(item.reference.labels()))


@dataclass(frozen=True)
class Totals:
    """Pooled scores of a group of files over all alignments."""

    files: int
    alignments: int
    missed: float
    false_alarm: float
    confusion: float
    total: float
    count_errors: int  # summed over alignments

    @classmethod
    def of(cls, scores: Sequence[FileScore]) -> Totals:
        alignments = len({s.offset for s in scores})
        return cls(len({(s.subset, s.uri) for s in scores}), alignments, sum(s.missed for s in scores),
                   sum(s.false_alarm for s in scores), sum(s.confusion for s in scores),
                   sum(s.total for s in scores), sum(s.count_error for s in scores))

    def share(self, seconds: float) -> float:
        return 100 * seconds / self.total if self.total else 0.0

    @property
    def der(self) -> float:
        return self.share(self.missed + self.false_alarm + self.confusion)

    @property
    def mean_count_errors(self) -> float:
        return self.count_errors / max(self.alignments, 1)


def grouped(scores: Iterable[FileScore], set_of: dict[str, str]) -> list[tuple[str, Totals]]:
    """(row name, totals) per subset, a total per set with several subsets, and one over everything."""
    scores = list(scores)
    by_subset: dict[str, list[FileScore]] = defaultdict(list)
    for s in scores:
        by_subset[s.subset].append(s)
    rows = []
    for set_name in dict.fromkeys(set_of[subset] for subset in sorted(by_subset)):
        subsets = [subset for subset in sorted(by_subset) if set_of[subset] == set_name]
        rows += [(subset, Totals.of(by_subset[subset])) for subset in subsets]
        if len(subsets) > 1:
            rows.append((f"{set_name} (total)", Totals.of([s for sub in subsets for s in by_subset[sub]])))
    if len({set_of[subset] for subset in by_subset}) > 1:
        rows.append(("all", Totals.of(scores)))
    return rows


def table(scores: Iterable[FileScore], set_of: dict[str, str]) -> list[str]:
    """The report: DER and its parts (% of scored speech), count errors per alignment, per row."""
    lines = [f"{'subset':32s} {'files':>5s} {'DER%':>6s} {'miss%':>6s} {'FA%':>6s} {'conf%':>6s}  "
             "count errors"]
    for name, t in grouped(scores, set_of):
        lines.append(f"{name:32s} {t.files:5d} {t.der:6.2f} {t.share(t.missed):6.2f} "
                     f"{t.share(t.false_alarm):6.2f} {t.share(t.confusion):6.2f}  "
                     f"{t.mean_count_errors:4.1f} of {t.files}")
    return lines


def count_table(scores: Iterable[FileScore]) -> list[str]:
    """Files whose speaker count is wrong at some alignment: the reference count, the hypothesis' per
    alignment."""
    by_file: dict[tuple[str, str], list[FileScore]] = defaultdict(list)
    for s in scores:
        by_file[(s.subset, s.uri)].append(s)
    lines = []
    for (subset, uri), file_scores in sorted(by_file.items()):
        if any(s.count_error for s in file_scores):
            file_scores.sort(key=lambda s: s.offset)
            hyps = ",".join(str(s.hyp_speakers) for s in file_scores)
            der = 100 * sum(s.error for s in file_scores) / max(sum(s.total for s in file_scores), 1e-9)
            name = f"{subset}/{uri}"
            lines.append(f"  {name:44s} ref {file_scores[0].ref_speakers}  hyp {hyps:12s} DER {der:6.2f}%")
    return lines
