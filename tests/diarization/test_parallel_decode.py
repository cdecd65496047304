"""Long local files decoded in ranges by several threads give exactly the block decoder's waveform."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from diarization.audio import decode_in_ranges, load_audio
from diarization.errors import AudioDecodeError, InvalidAudioError
from diarization.parallel_decode import MIN_RANGE_SECONDS, decode_ranges, plan_ranges, ranged_file


@pytest.fixture(scope="module")
def speech(artifacts_dir: Path) -> np.ndarray:
    x, rate = sf.read(artifacts_dir / "test_short.wav", dtype="float32")
    assert rate == 16000
    return np.tile(x, int(np.ceil(12 * 16000 / len(x))))[:12 * 16000 + 123]  # 12 s and an odd remainder


def _ranges(path: Path, channel: int | None = None, workers: int = 3, max_seconds: float | None = None,
            min_range_seconds: float = 1.0) -> tuple[np.ndarray, int, int] | None:
    """(16 kHz waveform, source rate, source channels) of the ranged decoder, or None where it declines."""
    audio = decode_in_ranges(str(path), 16000, channel, max_seconds, workers, min_range_seconds)
    if audio is None:
        return None
    return audio.waveform[0].numpy(), audio.source_sample_rate, audio.source_channels


def test_plan_ranges_cover_the_file_in_long_enough_pieces() -> None:
    assert plan_ranges(1000, 10, 4, min_range_seconds=30.0) == [0, 333, 666, 1000]
    assert plan_ranges(1000, 10, 8, min_range_seconds=30.0) == [0, 333, 666, 1000]  # ranges of >= 300 frames
    assert plan_ranges(500, 10, 8, min_range_seconds=30.0) == [0, 500]  # one range: sequential
    assert plan_ranges(1000, 10, 1, min_range_seconds=1.0) == [0, 1000]


@pytest.mark.parametrize(
    "fmt,subtype,rate,channels,channel",
    [("WAV", "PCM_16", 16000, 1, None), ("WAV", "PCM_24", 16000, 1, None), ("WAV", "FLOAT", 16000, 2, None),
     ("WAV", "FLOAT", 16000, 2, 1), ("FLAC", "PCM_16", 16000, 1, None), ("AIFF", "PCM_16", 16000, 2, None),
     ("WAV", "ULAW", 8000, 2, None), ("WAV", "ALAW", 8000, 2, 0), ("WAV", "PCM_16", 8000, 2, None)],
)
def test_ranges_equal_the_block_decoder(tmp_path: Path, speech: np.ndarray, fmt: str, subtype: str, rate: int,
                                        channels: int, channel: int | None) -> None:
    data = speech if rate == 16000 else soxr.resample(speech, 16000, rate)
    if channels == 2:
        data = np.stack([data, 0.3 * data[::-1]], axis=1)
    path = tmp_path / f"x.{fmt.lower()}"
    sf.write(path, data, rate, format=fmt, subtype=subtype)
    decoded = _ranges(path, channel)
    assert decoded is not None
    waveform, source_rate, source_channels = decoded
    sequential = load_audio(path, channel=channel, workers=1)
    assert (source_rate, source_channels) == (rate, channels)
    assert waveform.dtype == np.float32
    np.testing.assert_array_equal(waveform, sequential.waveform[0].numpy())


def test_files_the_ranges_leave_to_the_block_decoder(tmp_path: Path, speech: np.ndarray) -> None:
    mono_8k = tmp_path / "mono8k.wav"  # all its time is resampling
    sf.write(mono_8k, soxr.resample(speech, 16000, 8000), 8000, subtype="ULAW")
    high = tmp_path / "high.wav"  # above the models' rate: would need a buffer larger than the output
    sf.write(high, np.stack([speech, speech], axis=1), 16000 * 3, subtype="PCM_16")
    ogg = tmp_path / "x.ogg"  # no exact seeking
    sf.write(ogg, speech, 16000, format="OGG", subtype="VORBIS")
    adpcm = tmp_path / "adpcm.wav"  # seekable, but its decoder carries state from block to block
    sf.write(adpcm, np.stack([speech, speech], axis=1), 16000, subtype="IMA_ADPCM")
    plain = tmp_path / "plain.wav"
    sf.write(plain, speech, 16000, subtype="PCM_16")
    assert _ranges(mono_8k) is None
    assert _ranges(high) is None
    assert _ranges(ogg) is None
    assert _ranges(adpcm) is None
    assert _ranges(plain, channel=1) is None  # no such channel: the block decoder names the error
    assert _ranges(plain, max_seconds=5.0) is None  # too long: likewise
    assert _ranges(plain, workers=1) is None
    assert _ranges(plain, workers=4, min_range_seconds=MIN_RANGE_SECONDS) is None  # 12 s < 2 x 60 s
    assert _ranges(plain) is not None


def test_bad_values_fall_back_to_the_block_decoder_and_its_error(tmp_path: Path, speech: np.ndarray) -> None:
    broken = speech.copy()
    broken[len(broken) * 3 // 4] = np.nan  # in the last range
    path = tmp_path / "nan.wav"
    sf.write(path, broken, 16000, subtype="FLOAT")
    assert _ranges(path) is None
    with pytest.raises(InvalidAudioError, match="NaN"):
        load_audio(path, workers=4)


def test_a_truncated_file_is_the_same_decode_error_for_both_decoders(tmp_path: Path, speech: np.ndarray) -> None:
    whole = tmp_path / "whole.wav"
    sf.write(whole, speech, 16000, subtype="PCM_16")
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole.read_bytes()[:-40001])  # the header still announces the full length, half a sample
    present = (len(speech) * 2 - 40001) // 2
    assert _ranges(cut) is not None  # the ranged decoder alone would count the frames that are there
    for workers in (1, 3):  # but load_audio checks the header's length before either decoder runs
        with pytest.raises(AudioDecodeError, match=f"cut.wav: truncated: header says {len(speech)} samples, "
                                                   f"file has {present}$"):
            load_audio(cut, workers=workers)


def test_load_audio_uses_ranges_on_long_local_files(tmp_path: Path, speech: np.ndarray) -> None:
    long = np.tile(speech, 11)  # 132 s: two ranges of at least 60 s
    path = tmp_path / "long.wav"
    sf.write(path, np.stack([long, -long], axis=1), 16000, subtype="PCM_16")
    assert _ranges(path, 0, workers=2, min_range_seconds=MIN_RANGE_SECONDS) is not None
    together = load_audio(path, channel=0, workers=2)
    alone = load_audio(path, channel=0, workers=1)
    assert together.source_channels == 2 and together.duration == alone.duration
    assert together.uri == alone.uri == "long"
    np.testing.assert_array_equal(together.waveform.numpy(), alone.waveform.numpy())


@pytest.mark.parametrize("fmt,channels", [("WAV", 2), ("FLAC", 1)])
def test_corrupted_bytes_give_the_block_decoders_waveform_or_none(tmp_path: Path, speech: np.ndarray,
                                                                   fmt: str, channels: int) -> None:
    data = np.stack([speech, speech[::-1]], axis=1) if channels == 2 else speech
    clean = tmp_path / f"clean.{fmt.lower()}"
    sf.write(clean, data, 16000, format=fmt, subtype="PCM_16")
    original = clean.read_bytes()
    rng = np.random.default_rng(0)
    for case in range(30):
        damaged = bytearray(original)
        for at in rng.integers(0, len(damaged), size=int(rng.choice([1, 3, 20]))):
            damaged[at] = int(rng.integers(0, 256))
        if case % 3 == 0:
            damaged = damaged[:int(rng.integers(len(damaged) // 2, len(damaged)))]
        path = tmp_path / f"case{case}.{fmt.lower()}"
        path.write_bytes(bytes(damaged))
        parallel = _ranges(path)
        if parallel is None:
            continue  # the block decoder decides, and names the error if any
        if len(damaged) < len(original) and fmt == "WAV":  # cut short: refused before either decoder runs
            with pytest.raises(AudioDecodeError, match="truncated: header says"):
                load_audio(path, workers=1)
            continue
        sequential = load_audio(path, workers=1)  # a ranged decode implies the block decoder succeeds
        np.testing.assert_array_equal(parallel[0], sequential.waveform[0].numpy())


def test_ranges_return_the_files_own_rate(tmp_path: Path, speech: np.ndarray) -> None:
    """The ranged decoder leaves resampling to audio.py: 8 kHz stereo comes back as 8 kHz mono."""
    data = soxr.resample(speech, 16000, 8000)
    data = np.stack([data, 0.5 * data], axis=1)
    path = tmp_path / "stereo8k.wav"
    sf.write(path, data, 8000, subtype="FLOAT")
    file = ranged_file(str(path), min_range_seconds=1.0)
    assert file is not None and (file.sample_rate, file.channels, file.frames) == (8000, 2, len(data))
    samples = decode_ranges(file, None, 3, min_range_seconds=1.0)
    assert samples is not None and samples.dtype == np.float32
    np.testing.assert_array_equal(samples, data.astype(np.float32).mean(axis=1, dtype=np.float32))
    right = decode_ranges(file, 1, 3, min_range_seconds=1.0)
    np.testing.assert_array_equal(right, data[:, 1].astype(np.float32))
    assert decode_ranges(file, 2, 3, min_range_seconds=1.0) is None  # no such channel
