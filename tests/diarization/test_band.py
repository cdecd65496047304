"""Telephone audio told by its band (``diarization.band``): a phone call is telephone audio in an 8 kHz
mu-law file, in a 16 kHz WAV and in a 44.1 kHz MP3 alike; wideband speech at 16 kHz is not, nor is silence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from diarization.audio import load_audio
from diarization.band import (EXCERPT_SECONDS, EXCERPTS, MAX_LEVEL_ABOVE_BAND, excerpts, is_telephone,
                              level_above_band)


def resampled(source: Path, target: Path, rate: int, **write: str) -> Path:
    samples, source_rate = sf.read(source, always_2d=True)
    sf.write(target, soxr.resample(samples, source_rate, rate), rate, **write)
    return target


def test_a_call_is_telephone_audio_in_any_file(shared_dir: Path, tmp_path: Path) -> None:
    call = shared_dir / "data" / "dev-calls" / "mono" / "devcall_06.wav"
    stereo = shared_dir / "data" / "dev-calls" / "stereo" / "devcall_06.wav"
    files = {
        "mu-law 8 kHz": call,
        "PCM 16 kHz": resampled(call, tmp_path / "call16.wav", 16000, subtype="PCM_16"),
        "MP3 44.1 kHz": resampled(call, tmp_path / "call44.mp3", 44100, format="MP3"),
        "stereo 16 kHz": resampled(stereo, tmp_path / "stereo16.wav", 16000, subtype="PCM_16"),
    }
    for name, path in files.items():
        audio = load_audio(path, keep_channels=True)
        assert audio.telephone, name
        if audio.source_sample_rate > 8000:  # told by the band, not by the rate
            level = level_above_band(audio.waveform.numpy(), audio.sample_rate)
            assert level is not None and level < MAX_LEVEL_ABOVE_BAND - 10, (name, level)


def test_wideband_speech_and_silence_are_not(dev_dir: Path) -> None:
    for path in (dev_dir / "libri_conversations" / "dev_2spk_05.wav", dev_dir / "ami_debug_train" / "trn03.wav",
                 dev_dir / "espeak_conversation" / "espeak_conv01.wav"):
        audio = load_audio(path)
        assert not audio.telephone, path.name
        assert level_above_band(audio.waveform.numpy(), audio.sample_rate) > MAX_LEVEL_ABOVE_BAND + 20
    silence = np.zeros((1, 16000 * 5), dtype=np.float32)
    assert level_above_band(silence, 16000) is None and not is_telephone(16000, silence, 16000)
    assert not is_telephone(16000, np.zeros((1, 100), dtype=np.float32), 16000)  # too short to tell
    assert is_telephone(8000) and not is_telephone(16000) and not is_telephone(None)


def test_a_long_file_is_measured_on_excerpts() -> None:
    rate = 16000
    rows = np.random.default_rng(0).normal(size=(2, rate * 600)).astype(np.float32)  # ten minutes, two rows
    picked = excerpts(rows, rate)
    assert picked.shape == (2, EXCERPTS * int(EXCERPT_SECONDS * rate))
    assert np.array_equal(picked[:, :rate], rows[:, :rate])  # the first excerpt starts the file
    assert np.array_equal(picked[:, -rate:], rows[:, -rate:])  # the last one ends it
    short = rows[:, : rate * 10]
    assert excerpts(short, rate) is short
    assert abs(level_above_band(rows, rate)) < 0.5  # white noise: as much above the band as within it
