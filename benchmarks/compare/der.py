"""Dev-set DER for ``python3 -m benchmarks.compare --der``, scored as benchmarks.der and shared/tools/der.py
score it.

pyannote.metrics ``DiarizationErrorRate(collar=0.0, skip_overlap=False)``, UEM where the set gives one,
the dev set as ``benchmarks.devset`` reads it. A hypothesis folder holds one ``<stem>.rttm`` per audio file
(whatever uri its lines carry); a file without output counts as all missed speech.

Also scores the RTTMs recorded from the real community-1 pipeline
(``shared/reference/community-1-artifacts/<prefix>_expected.rttm``) against the dev references where the
recorded audio is a dev recording (matched by content, not by name), so the reference's own DER on those
files is known.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

warnings.filterwarnings("ignore")

from pyannote.core import Annotation  # noqa: E402
from pyannote.metrics.diarization import DiarizationErrorRate  # noqa: E402

from benchmarks.devset import DevSet, load_rttm  # noqa: E402

# prefix of the recorded files -> their audio (as shared/README.md lists them)
RECORDED = {
    "pipeline": "test.wav",
    "3speakers": "test_3speakers.wav",
    "single_speaker": "test_single_speaker.wav",
    "short": "test_short.wav",
}


def read_hypothesis(path: Path) -> Annotation:
    """All turns of one RTTM file as one annotation (empty when the file is missing or empty)."""
    if not path.is_file():
        return Annotation()
    merged = Annotation()
    for annotation in load_rttm(path).values():
        for segment, track, label in annotation.itertracks(yield_label=True):
            merged[segment, len(merged)] = label
    return merged


@dataclass
class Score:
    """DER of one system over a set of files."""

    der: float
    groups: dict[str, float]
    files: dict[str, dict[str, float]]
    speaker_count_errors: int
    missing: int
    notes: list[str] = field(default_factory=list)


def score(dev: DevSet, hypotheses: dict[str, Annotation], uris: list[str]) -> Score:
    """DER over ``uris``; per dev group (folder) and per file too."""
    metric = DiarizationErrorRate(collar=0.0, skip_overlap=False)
    groups: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    files: dict[str, dict[str, float]] = {}
    count_errors = missing = 0
    for uri in uris:
        ref = dev.refs[uri]
        hyp = hypotheses.get(uri)
        if hyp is None:
            missing += 1
            hyp = Annotation(uri=uri)
        uem = dev.uems.get(uri)
        details = metric(ref, hyp, uem=uem, detailed=True) if uem else metric(ref, hyp, detailed=True)
        error = details["confusion"] + details["missed detection"] + details["false alarm"]
        group = dev.wavs[uri].parent.name if uri in dev.wavs else "recorded"
        groups[group][0] += error
        groups[group][1] += details["total"]
        n_hyp, n_ref = len(hyp.labels()), len(ref.labels())
        count_errors += n_hyp != n_ref
        files[uri] = {
            "der": 100 * details["diarization error rate"],
            "speakers_hyp": n_hyp,
            "speakers_ref": n_ref,
        }
    return Score(
        100 * abs(metric),
        {g: 100 * e / max(t, 1e-9) for g, (e, t) in sorted(groups.items())},
        files,
        count_errors,
        missing,
    )


def score_folder(dev: DevSet, folder: Path) -> Score:
    """DER of the ``<stem>.rttm`` files in ``folder`` over every scored dev file."""
    uris = dev.scored
    hypotheses = {
        uri: read_hypothesis(folder / f"{uri}.rttm") for uri in uris if (folder / f"{uri}.rttm").is_file()
    }
    return score(dev, hypotheses, uris)


def agreement(dev: DevSet, reference: Path, hypothesis: Path) -> tuple[float, int, int]:
    """Parity of two systems' outputs: DER of ``hypothesis`` against ``reference`` (both RTTM folders) over
    the scored dev files, UEM where given, plus how many files differ at all (DER > 0) of how many."""
    metric = DiarizationErrorRate(collar=0.0, skip_overlap=False)
    differing = 0
    for uri in dev.scored:
        ref, hyp = read_hypothesis(reference / f"{uri}.rttm"), read_hypothesis(hypothesis / f"{uri}.rttm")
        uem = dev.uems.get(uri)
        value = metric(ref, hyp, uem=uem) if uem else metric(ref, hyp)
        differing += value > 0
    return 100 * abs(metric), differing, len(dev.scored)


def _mono16k(path: Path) -> np.ndarray:
    data, rate = sf.read(path, dtype="float32", always_2d=True)
    mono = data.mean(axis=1)
    return mono if rate == 16000 else soxr.resample(mono, rate, 16000).astype(np.float32)


def same_audio(a: np.ndarray, b: np.ndarray, tolerance: float = 1e-3) -> bool:
    """Same recording: equal length (within 10 ms) and near-identical samples (any encoding)."""
    if abs(len(a) - len(b)) > 160:
        return False
    n = min(len(a), len(b))
    return bool(n) and float(np.max(np.abs(a[:n] - b[:n]))) <= tolerance


def recorded_community1(dev: DevSet, artifacts: Path) -> tuple[Score | None, list[str]]:
    """The real community-1 RTTMs scored on the dev recordings they were made from; and what was found."""
    lines: list[str] = []
    if not artifacts.is_dir():
        return None, [f"{artifacts}: not found"]
    dev_audio = {uri: _mono16k(dev.wavs[uri]) for uri in dev.scored}
    hypotheses: dict[str, Annotation] = {}
    for prefix, wav in RECORDED.items():
        rttm, audio = artifacts / f"{prefix}_expected.rttm", artifacts / wav
        if not rttm.is_file() or not audio.is_file():
            continue
        recorded = _mono16k(audio)
        match = next((uri for uri, x in dev_audio.items() if same_audio(recorded, x)), None)
        if match is None:
            lines.append(
                f"{prefix}_expected.rttm ({wav}, {len(recorded) / 16000:.1f} s): "
                "not a dev recording, no reference to score it against"
            )
        else:
            hypotheses[match] = read_hypothesis(rttm)
            lines.append(f"{prefix}_expected.rttm ({wav}) = dev {match}")
    if not hypotheses:
        return None, lines
    return score(dev, hypotheses, sorted(hypotheses)), lines
