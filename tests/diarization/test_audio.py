"""Audio decoding: formats, telephone codecs, channels, resampling and typed errors."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch

from diarization.audio import Audio, is_transient, load_audio
from diarization.errors import (AudioDecodeError, AudioNotFoundError, AudioReadError, AudioTooLongError,
                                InvalidAudioError)


@pytest.fixture(scope="module")
def speech(artifacts_dir: Path) -> np.ndarray:
    x, rate = sf.read(artifacts_dir / "test_short.wav", dtype="float32")
    assert rate == 16000
    return x


def _write(path: Path, data: np.ndarray, rate: int, fmt: str, subtype: str) -> Path:
    sf.write(path, data, rate, format=fmt, subtype=subtype)
    return path


@pytest.mark.parametrize(
    "fmt,subtype,rate",
    [("WAV", "PCM_16", 16000), ("WAV", "PCM_24", 16000), ("WAV", "FLOAT", 16000), ("WAV", "ULAW", 8000),
     ("WAV", "ALAW", 8000), ("WAV", "PCM_16", 8000), ("FLAC", "PCM_16", 44100), ("OGG", "VORBIS", 16000),
     ("OGG", "OPUS", 48000), ("MP3", "MPEG_LAYER_III", 8000)],
)
def test_formats_decode_to_16k_mono(tmp_path: Path, speech: np.ndarray, fmt: str, subtype: str, rate: int) -> None:
    data = speech if rate == 16000 else soxr.resample(speech, 16000, rate)
    path = _write(tmp_path / f"x.{fmt.lower()}", data, rate, fmt, subtype)
    audio = load_audio(path)
    assert audio.sample_rate == 16000 and audio.source_sample_rate == rate
    assert audio.waveform.dtype == torch.float32 and audio.waveform.shape[0] == 1
    assert abs(audio.duration - len(speech) / 16000) < 0.1  # lossy codecs add a little padding
    assert audio.uri == "x"
    if fmt in ("WAV", "FLAC") and subtype not in ("ULAW", "ALAW") and rate == 16000:
        assert np.allclose(audio.waveform[0].numpy(), speech, atol=1e-4)
    else:  # resampled or lossy: still the same signal
        n = min(audio.num_samples, len(speech))
        if fmt == "WAV":
            corr = np.corrcoef(audio.waveform[0, :n].numpy(), speech[:n])[0, 1]
            assert corr > 0.95


def test_stereo_is_averaged_or_one_channel_selected(tmp_path: Path, speech: np.ndarray) -> None:
    stereo = np.stack([speech, np.zeros_like(speech)], axis=1)
    path = _write(tmp_path / "call.wav", stereo, 16000, "WAV", "FLOAT")
    mixed = load_audio(path)
    assert mixed.source_channels == 2
    assert np.allclose(mixed.waveform[0].numpy(), speech / 2, atol=1e-6)
    left = load_audio(path, channel=0)
    assert np.allclose(left.waveform[0].numpy(), speech, atol=1e-6)
    with pytest.raises(InvalidAudioError, match="channel 5"):
        load_audio(path, channel=5)


def test_in_memory_inputs(speech: np.ndarray) -> None:
    tensor = torch.from_numpy(speech)[None]
    audio = load_audio({"waveform": tensor, "sample_rate": 16000, "uri": "mem"})
    assert audio.uri == "mem" and torch.equal(audio.waveform, tensor)
    eight_k = soxr.resample(speech, 16000, 8000)
    audio = load_audio({"waveform": eight_k[None], "sample_rate": 8000})
    assert abs(audio.duration - len(speech) / 16000) < 1e-3
    pcm = (speech * 32767).astype(np.int16)
    audio = load_audio({"waveform": pcm[None], "sample_rate": 16000})
    assert np.allclose(audio.waveform[0].numpy(), speech, atol=1e-4)
    buffer = io.BytesIO()
    sf.write(buffer, speech, 16000, format="WAV")
    assert load_audio(buffer.getvalue()).num_samples == len(speech)
    assert isinstance(load_audio(audio), Audio)


def test_fsspec_url(speech: np.ndarray) -> None:
    import fsspec

    with fsspec.open("memory://calls/a b ü.wav", "wb") as file:
        sf.write(file, speech, 16000, format="WAV")
    audio = load_audio("memory://calls/a b ü.wav")
    assert audio.uri == "a b ü" and audio.num_samples == len(speech)
    with pytest.raises(AudioNotFoundError):
        load_audio("memory://calls/missing.wav")


def test_bad_inputs_raise_typed_errors_naming_the_file(tmp_path: Path, speech: np.ndarray) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioDecodeError, match="empty.wav: empty file"):
        load_audio(empty)
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n" * 100)
    with pytest.raises(AudioDecodeError, match="notes.wav"):
        load_audio(text)
    good = _write(tmp_path / "good.wav", speech, 16000, "WAV", "PCM_16")
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(good.read_bytes()[:40])
    with pytest.raises((AudioDecodeError, InvalidAudioError), match="truncated.wav"):
        load_audio(truncated)
    with pytest.raises(AudioNotFoundError, match="nowhere.wav: no such file"):
        load_audio(tmp_path / "nowhere.wav")
    with pytest.raises(AudioNotFoundError, match="directory"):
        load_audio(tmp_path)
    with pytest.raises(InvalidAudioError, match="NaN or Inf"):
        load_audio({"waveform": np.array([[0.0, np.inf, 0.0]] * 1), "sample_rate": 16000})
    with pytest.raises(InvalidAudioError, match="no channels"):
        load_audio({"waveform": np.zeros((0, 100)), "sample_rate": 16000})
    with pytest.raises(InvalidAudioError, match="no samples"):
        load_audio({"waveform": np.zeros((1, 0)), "sample_rate": 16000})
    with pytest.raises(InvalidAudioError, match="sample rate"):
        load_audio({"waveform": np.zeros((1, 100)), "sample_rate": 1})
    with pytest.raises(AudioTooLongError, match="limit"):
        load_audio(good, max_duration=1.0)


class _DroppedConnection(io.BytesIO):
    """A remote object whose connection resets after ``limit`` bytes were read."""

    name = "s3://calls/dropped.wav"

    def __init__(self, data: bytes, limit: int) -> None:
        super().__init__(data)
        self.limit = limit

    def _check(self) -> None:
        if self.tell() >= self.limit:
            raise ConnectionResetError(104, "Connection reset by peer")

    def read(self, size: int | None = -1) -> bytes:
        self._check()
        return super().read(size)

    def readinto(self, buffer) -> int:  # noqa: ANN001
        self._check()
        return super().readinto(buffer)


def test_a_read_failing_midway_is_a_read_error_not_a_corrupt_file(speech: np.ndarray) -> None:
    buffer = io.BytesIO()
    sf.write(buffer, np.tile(speech, 4), 16000, format="WAV", subtype="PCM_16")
    with pytest.raises(AudioReadError, match="dropped.wav: read failed .*ConnectionResetError") as error:
        load_audio(_DroppedConnection(buffer.getvalue(), limit=len(buffer.getvalue()) // 2))
    assert error.value.code == "read_error"


def test_transient_storage_errors() -> None:
    from botocore.exceptions import EndpointConnectionError, NoCredentialsError, ReadTimeoutError

    for transient in (ConnectionResetError(), TimeoutError(), OSError(5, "Input/output error"),
                      EndpointConnectionError(endpoint_url="http://127.0.0.1:9"),
                      ReadTimeoutError(endpoint_url="http://127.0.0.1:9")):
        assert is_transient(transient), transient
    for permanent in (FileNotFoundError(), PermissionError(), IsADirectoryError(), ValueError("bad URL"),
                      NoCredentialsError()):
        assert not is_transient(permanent), permanent


def test_nan_in_a_float_wav_file(tmp_path: Path, speech: np.ndarray) -> None:
    data = speech.copy()
    data[100] = np.nan
    path = _write(tmp_path / "nan.wav", data, 16000, "WAV", "FLOAT")
    with pytest.raises(InvalidAudioError, match="nan.wav: samples contain NaN"):
        load_audio(path)
