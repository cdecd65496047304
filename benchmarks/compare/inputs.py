"""Inputs of ``python3 -m benchmarks.compare``: benchmark audio built from the dev set, and a community-1
folder.

Audio: every dev recording (mono, 16 kHz) joined into one ~20-minute pool, in a fixed order (LibriSpeech
conversations first, then AMI, the pyannote sample, the espeak conversation, the mono overlap file). A file
of N seconds is the pool repeated until N seconds are written (16 kHz PCM16 WAV, written block by block so
a 2-hour file needs little memory). ``tel10m`` is the 10-minute file resampled to 8 kHz mu-law WAV
(telephone audio). A 10-second warm-up clip is cut from the pool too.

community-1 folder: ``shared/models/community-1`` (real config, segmentation, PLDA) copied next to the
audio, plus ``embedding/pytorch_model.bin`` written by ``shared/tools/make-wespeaker-checkpoint.py`` (a
WeSpeaker ResNet34 checkpoint in the exact community-1 format with seeded random weights). The reference
and our exact mode load the very same bytes, so their speed compares like for like; their DER is
meaningless (random embedding weights).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from benchmarks.paths import DEV, SHARED

RATE = 16000
TEL_RATE = 8000
POOL_ORDER = (
    "libri_conversations",
    "ami_debug_train",
    "pyannote_sample",
    "espeak_conversation",
    "stereo_overlap",
)
SKIP = {"empty.wav", "stereo_diarization.wav"}  # silence, and the stereo original of the mono mix


@dataclass(frozen=True)
class InputSpec:
    """One benchmark input: a name, its length and how it is encoded."""

    name: str
    seconds: float
    rate: int = RATE
    subtype: str = "PCM_16"

    @property
    def label(self) -> str:
        encoding = "mu-law" if self.subtype == "ULAW" else self.subtype.replace("_", "")
        return f"{self.name} ({_clock(self.seconds)}, {self.rate // 1000} kHz {encoding})"


SIZES: dict[str, InputSpec] = {
    "30s": InputSpec("30s", 30.0),
    "2m": InputSpec("2m", 120.0),  # small development runs; not in the default set
    "10m": InputSpec("10m", 600.0),
    "1h": InputSpec("1h", 3600.0),
    "2h": InputSpec("2h", 7200.0),
    "tel10m": InputSpec("tel10m", 600.0, TEL_RATE, "ULAW"),
}
DEFAULT_SIZES = ("30s", "10m", "1h", "2h", "tel10m")


def _clock(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:g} s"
    if seconds < 3600:
        return f"{seconds / 60:g} min"
    return f"{seconds / 3600:g} h"


def dev_recordings(dev: Path = DEV) -> list[Path]:
    """The dev WAVs that go into the pool, in pool order."""
    found = []
    for group in POOL_ORDER:
        found += sorted(p for p in (dev / group).glob("*.wav") if p.name not in SKIP)
    return found


def speech_pool(dev: Path = DEV) -> np.ndarray:
    """All dev recordings, mono float32 at 16 kHz, joined end to end."""
    pieces = []
    for path in dev_recordings(dev):
        data, rate = sf.read(path, dtype="float32", always_2d=True)
        mono = data.mean(axis=1)
        pieces.append(mono if rate == RATE else soxr.resample(mono, rate, RATE).astype(np.float32))
    if not pieces:
        raise FileNotFoundError(f"no dev audio under {dev}")
    return np.concatenate(pieces)


def write_tiled(path: Path, pool: np.ndarray, seconds: float, block_seconds: float = 60.0) -> Path:
    """``seconds`` of the pool repeated, as a 16 kHz PCM16 WAV written block by block."""
    total = round(seconds * RATE)
    block = round(block_seconds * RATE)
    partial = path.with_name(path.name + ".partial")
    with sf.SoundFile(partial, "w", samplerate=RATE, channels=1, subtype="PCM_16", format="WAV") as out:
        for start in range(0, total, block):
            indices = np.arange(start, min(total, start + block)) % len(pool)
            out.write(np.clip(pool[indices], -1.0, 1.0))
    partial.replace(path)
    return path


def write_telephone(path: Path, source: Path, rate: int = TEL_RATE) -> Path:
    """``source`` resampled to ``rate`` and stored as mu-law WAV."""
    data, source_rate = sf.read(source, dtype="float32")
    resampled = soxr.resample(data, source_rate, rate).astype(np.float32)
    partial = path.with_name(path.name + ".partial")
    sf.write(partial, np.clip(resampled, -1.0, 1.0), rate, subtype="ULAW", format="WAV")
    partial.replace(path)
    return path


def _is_complete(path: Path, spec: InputSpec) -> bool:
    if not path.is_file():
        return False
    info = sf.info(path)
    return info.samplerate == spec.rate and abs(info.duration - spec.seconds) < 0.01


def build_inputs(folder: Path, names: list[str], dev: Path = DEV) -> tuple[dict[str, Path], Path]:
    """Write (or reuse, when already complete) the inputs ``names`` and a 10 s warm-up clip in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    pool: np.ndarray | None = None
    paths: dict[str, Path] = {}
    warmup = folder / "warmup.wav"
    wanted = [("warmup", InputSpec("warmup", 10.0), warmup)]
    for name in names:
        spec = SIZES[name]
        wanted.append((name, spec, folder / f"{name}.wav"))
    for name, spec, path in wanted:
        if name != "warmup":
            paths[name] = path
        if _is_complete(path, spec):
            continue
        if spec.rate != RATE:  # the telephone version of the same-length 16 kHz file
            base = next(s for s in SIZES.values() if s.rate == RATE and s.seconds == spec.seconds)
            base_path = folder / f"{base.name}.wav"
            if not _is_complete(base_path, base):
                pool = speech_pool(dev) if pool is None else pool
                write_tiled(base_path, pool, base.seconds)
            write_telephone(path, base_path, spec.rate)
            continue
        if pool is None:
            pool = speech_pool(dev)
        if name == "warmup":  # from the far end of the pool: not the start of every input
            sf.write(path, pool[-round(spec.seconds * RATE) :], RATE, subtype="PCM_16")
        else:
            write_tiled(path, pool, spec.seconds)
    return paths, warmup


def make_community1(folder: Path, reference_python: str, seed: int = 0, shared: Path = SHARED) -> Path:
    """``folder``: the shared community-1 folder plus a generated WeSpeaker checkpoint (reused if present)."""
    checkpoint = folder / "embedding" / "pytorch_model.bin"
    if checkpoint.is_file() and (folder / "config.yaml").is_file():
        return folder
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(shared / "models" / "community-1", folder, copy_function=shutil.copyfile)
    for directory in [folder, *(p for p in folder.rglob("*") if p.is_dir())]:
        directory.chmod(0o755)  # the shared copy is read-only: let us add embedding/ and clean up later
    checkpoint.parent.mkdir()
    run = subprocess.run(
        [
            reference_python,
            "-W",
            "ignore",
            str(shared / "tools" / "make-wespeaker-checkpoint.py"),
            str(checkpoint),
            str(seed),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode or not checkpoint.is_file():
        raise RuntimeError(
            f"make-wespeaker-checkpoint.py failed (exit {run.returncode}):\n{run.stderr[-2000:]}"
        )
    return folder
