"""Audio for the job tests: real excerpts cut from the dev set, and generated broken files (the local Ray
cluster and the moto S3 server are session fixtures in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import soxr

# -- audio ---------------------------------------------------------------------------------------------

EXCERPTS = [  # (dev file, start s): short real speech, cut and turned into 8 kHz telephone-like files
    ("pyannote_sample/sample.wav", 4.0), ("stereo_overlap/stereo_diarization_mono.wav", 0.0),
    ("espeak_conversation/espeak_conv01.wav", 10.0), ("libri_conversations/dev_2spk_00.wav", 5.0),
    ("ami_debug_train/trn00.wav", 10.0), ("libri_conversations/dev_3spk_08.wav", 20.0),
]


def write_excerpt(dev_dir: Path, source: str, start: float, seconds: float, target: Path,
                  rate: int = 8000, stereo: bool = False) -> Path:
    """Cut ``seconds`` of a dev file, resample it to ``rate`` and write it (format from the suffix)."""
    data, source_rate = sf.read(dev_dir / source, dtype="float32", always_2d=True)
    piece = data[int(start * source_rate): int((start + seconds) * source_rate)].mean(axis=1)
    piece = soxr.resample(piece, source_rate, rate).astype(np.float32)
    if stereo:
        piece = np.stack([piece, 0.5 * piece], axis=1)
    target.parent.mkdir(parents=True, exist_ok=True)
    subtype = "PCM_16" if target.suffix == ".wav" else None
    sf.write(target, piece, rate, subtype=subtype)
    return target


def write_broken(folder: Path) -> dict[str, Path]:
    """Files that must each become one error row: empty, truncated, not audio; plus a missing path."""
    folder.mkdir(parents=True, exist_ok=True)
    empty = folder / "empty.wav"
    empty.write_bytes(b"")
    truncated = folder / "truncated.wav"
    truncated.write_bytes(b"RIFF\x24\x08\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00")  # cut inside the header
    text = folder / "notes.wav"
    text.write_text("this is not audio\n" * 50)
    return {"empty": empty, "truncated": truncated, "not_audio": text, "missing": folder / "missing.wav"}


@pytest.fixture(scope="session")
def pipeline(models_dir: Path) -> Any:
    from diarization.pipeline import Pipeline

    return Pipeline.from_pretrained(models_dir, device="cpu")


@pytest.fixture(scope="session")
def audio_dir(tmp_path_factory: pytest.TempPathFactory, dev_dir: Path) -> Path:
    """Short excerpts of the dev files as 8 kHz telephone WAV and 16 kHz FLAC, one stereo, one silent."""
    folder = tmp_path_factory.mktemp("audio")
    for n, (source, start) in enumerate(EXCERPTS):
        write_excerpt(dev_dir, source, start, 5.0, folder / f"call{n:02d}.wav", rate=8000)
        write_excerpt(dev_dir, source, start + 1.0, 3.0, folder / f"clip{n:02d}.flac", rate=16000)
    write_excerpt(dev_dir, EXCERPTS[0][0], 12.0, 4.0, folder / "stereo.wav", rate=8000, stereo=True)
    sf.write(folder / "silence.wav", np.zeros(16000, np.float32), 8000, subtype="PCM_16")
    write_broken(folder / "broken")
    return folder
