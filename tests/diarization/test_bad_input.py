"""Bad and unusual input through the whole Pipeline (``__call__``) and the ``diarize file`` command.

Every input ends in one of two ways, never a hang or an unhandled crash:
* a typed ``diarization.errors.AudioError`` whose message names the input and says why;
* a valid result: empty when nobody speaks (silence), at most one speaker for noise or a fraction of a
  second of speech, ordinary diarization for mu-law, stereo and multi-channel audio.
The pipeline is our default model set (segmentation-3.0 + CAM++), as ``diarize file`` uses it.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from diarization.errors import (
    AudioDecodeError,
    AudioError,
    AudioNotFoundError,
    DiarizationError,
    InvalidAudioError,
)
from diarization.pipeline import Pipeline

from .test_pipeline import check_result_invariants, mutual_der, read_rttm

REPO = Path(__file__).resolve().parents[2]
RATE = 16000


@pytest.fixture(scope="module")
def pipeline(models_dir) -> Pipeline:
    return Pipeline.from_pretrained(models_dir, device="cpu")


@pytest.fixture(scope="module")
def speech(dev_dir) -> np.ndarray:
    """10 s of two-speaker phone speech (sample.wav 7-17 s; its first 6.7 s are silent)."""
    data, rate = sf.read(dev_dir / "pyannote_sample" / "sample.wav", dtype="float32")
    assert rate == RATE
    return data[7 * RATE : 17 * RATE]


@pytest.fixture(scope="module")
def speech_result(pipeline, speech):
    return pipeline({"waveform": speech[None], "sample_rate": RATE, "uri": "speech"})


def wav_bytes(data: np.ndarray, rate: int = RATE, subtype: str = "PCM_16", fmt: str = "WAV") -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, data, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def speech_regions(result) -> list[tuple[float, float, str]]:
    """Where anyone speaks, as one-label rows (speaker labels ignored)."""
    from pyannote.core import Segment, Timeline

    timeline = Timeline([Segment(t.start, t.end) for t, _ in result.speaker_diarization]).support()
    return [(segment.start, segment.end, "speech") for segment in timeline]


# ------------------------------------------------------------------------------ typed errors


def _error_cases(speech: np.ndarray) -> dict[str, tuple[bytes, type[AudioError], str]]:
    """name -> (file bytes, error class, a word of the reason)."""
    good = wav_bytes(speech[:RATE])
    rng = np.random.default_rng(0)
    nan, inf = speech[: 3 * RATE].copy(), speech[: 3 * RATE].copy()
    nan[100], inf[RATE] = np.nan, -np.inf
    no_channels, zero_rate = bytearray(good), bytearray(good)
    no_channels[22:24] = struct.pack("<H", 0)  # WAV fmt chunk: channel count
    zero_rate[24:28] = struct.pack("<I", 0)  # WAV fmt chunk: sample rate
    flac = wav_bytes(speech, fmt="FLAC")
    return {
        "empty.wav": (b"", AudioDecodeError, "empty"),
        "header20.wav": (good[:20], AudioDecodeError, "not a readable audio file"),
        "header44.wav": (good[:44], AudioDecodeError, "truncated: header says 16000 samples, file has 0"),
        "half.wav": (good[:44 + RATE], AudioDecodeError, "truncated: header says 16000 samples, file has 8000"),
        "random.wav": (rng.integers(0, 256, 5000, dtype=np.uint8).tobytes(), AudioDecodeError, "not a readable"),
        "text.mp3": (b"hello, this is not audio\n" * 200, AudioDecodeError, "not a readable"),
        "nan.wav": (wav_bytes(nan, subtype="FLOAT"), InvalidAudioError, "NaN"),
        "inf.wav": (wav_bytes(inf, subtype="FLOAT"), InvalidAudioError, "Inf"),
        "zero_channels.wav": (bytes(no_channels), AudioDecodeError, "Channel count is zero"),
        "zero_rate.wav": (bytes(zero_rate), AudioDecodeError, "not a readable"),
        "rate_2k.wav": (wav_bytes(speech[:4000], rate=2000), InvalidAudioError, "sample rate 2000 Hz"),
        "truncated.flac": (flac[: len(flac) // 2], AudioDecodeError, "truncated"),
    }


ERROR_NAMES = ["empty.wav", "header20.wav", "header44.wav", "half.wav", "random.wav", "text.mp3", "nan.wav",
               "inf.wav", "zero_channels.wav", "zero_rate.wav", "rate_2k.wav", "truncated.flac"]


@pytest.mark.parametrize("name", ERROR_NAMES)
def test_bad_file_raises_a_typed_error_naming_it(name, pipeline, speech, tmp_path) -> None:
    payload, error, reason = _error_cases(speech)[name]
    path = tmp_path / name
    path.write_bytes(payload)
    with pytest.raises(error) as caught:
        pipeline(path)
    assert str(caught.value).startswith(f"{path}: ") and reason in str(caught.value)
    assert caught.value.source == str(path) and isinstance(caught.value, DiarizationError)
    if name != "empty.wav":  # the same bytes given in memory: same error class, named "<bytes>"
        with pytest.raises(error, match="^<bytes>: "):
            pipeline(payload)


def test_missing_file_and_directory(pipeline, tmp_path) -> None:
    with pytest.raises(AudioNotFoundError, match=f"^{tmp_path / 'nope.wav'}: no such file"):
        pipeline(tmp_path / "nope.wav")
    with pytest.raises(AudioNotFoundError, match="is a directory"):
        pipeline(tmp_path)
    with pytest.raises(AudioDecodeError, match="^<bytes>: empty"):
        pipeline(b"")


@pytest.mark.parametrize(
    "waveform,rate,error,reason",
    [
        (np.full((1, RATE), np.nan, np.float32), RATE, InvalidAudioError, "NaN"),
        (np.full((2, RATE), np.inf, np.float32), RATE, InvalidAudioError, "Inf"),
        (np.zeros((0, RATE), np.float32), RATE, InvalidAudioError, "no channels"),
        (np.zeros((1, 0), np.float32), RATE, InvalidAudioError, "no samples"),
        (np.zeros((1, 2, RATE), np.float32), RATE, InvalidAudioError, "must be \\(channel, time\\)"),
        (np.zeros((1, RATE), np.float32), 0, InvalidAudioError, "sample rate"),
        (np.zeros((1, RATE), np.float32), 16000.5, InvalidAudioError, "sample rate"),
        (np.zeros((1, RATE), np.float32), "fast", InvalidAudioError, "not a number"),
        (np.zeros((1, RATE), np.complex64), RATE, InvalidAudioError, "sample type"),
        (np.zeros((RATE, 12), np.float32), RATE, InvalidAudioError, "shape \\(16000, 12\\) is ambiguous"),
    ],
    ids=["nan", "inf-stereo", "0-channel", "0-sample", "3-d", "rate-0", "rate-fraction", "rate-str", "complex",
         "ambiguous"],
)
def test_bad_array_raises_a_typed_error(pipeline, waveform, rate, error, reason) -> None:
    for as_tensor in (False, True):
        data = torch.from_numpy(waveform) if as_tensor else waveform
        with pytest.raises(error, match=f"^bad: .*{reason}"):
            pipeline({"waveform": data, "sample_rate": rate, "uri": "bad"})
    with pytest.raises(InvalidAudioError, match="needs 'waveform' and 'sample_rate'"):
        pipeline({"waveform": np.zeros((1, RATE), np.float32)})


# ------------------------------------------------------------------------------ valid results


def test_pure_silence_gives_an_empty_result(pipeline, tmp_path, dev_dir) -> None:
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(20 * RATE, np.float32), RATE)
    for source, duration in ((path, 20.0), (dev_dir / "ami_debug_train" / "empty.wav", 1.0)):
        result = pipeline(source)
        assert len(result.speaker_diarization) == len(result.exclusive_speaker_diarization) == 0
        assert result.num_speakers == 0 and result.speaker_embeddings.shape == (0, 192)
        assert result.duration == pytest.approx(duration) and result.to_rttm() == ""
        assert result.uri == Path(source).stem


@pytest.mark.parametrize("seconds", [1 / RATE, 0.1, 0.5])
def test_under_one_second_gives_at_most_one_speaker(pipeline, speech, tmp_path, seconds) -> None:
    path = tmp_path / "short.wav"
    sf.write(path, speech[3 * RATE : 3 * RATE + max(1, round(seconds * RATE))], RATE)  # inside a turn
    result = pipeline(path)
    assert result.duration == pytest.approx(seconds, abs=1e-6)
    assert result.num_speakers <= 1
    check_result_invariants(result)


def test_clipped_full_scale_noise(pipeline, tmp_path) -> None:
    path = tmp_path / "clipped.wav"
    noise = np.random.default_rng(1).standard_normal(10 * RATE) * 4.0
    sf.write(path, np.clip(noise, -1.0, 1.0).astype(np.float32), RATE, subtype="PCM_16")
    result = pipeline(path)
    assert result.duration == pytest.approx(10.0) and result.num_speakers <= 1
    check_result_invariants(result)


def test_8khz_mu_law(pipeline, speech, speech_result, tmp_path) -> None:
    import soxr

    path = tmp_path / "phone.wav"
    sf.write(path, soxr.resample(speech, RATE, 8000), 8000, subtype="ULAW")
    assert sf.info(path).subtype == "ULAW"
    audio = pipeline.load(path)
    assert (audio.source_sample_rate, audio.sample_rate) == (8000, RATE)
    result = pipeline(path)
    assert result.duration == pytest.approx(10.0) and result.num_speakers >= 1
    check_result_invariants(result)
    # the same speech: the speech regions agree closely (labels may differ on 8 kHz audio)
    assert max(mutual_der(speech_regions(speech_result), speech_regions(result))) < 0.05  # measured 0.0


def test_stereo_downmix_and_channel_selection(pipeline, speech, speech_result, tmp_path) -> None:
    same = tmp_path / "same.wav"
    sf.write(same, np.stack([speech, speech], axis=1), RATE, subtype="FLOAT")
    result = pipeline(same)  # the average of two equal channels is that channel, bit for bit
    assert pipeline.load(same).source_channels == 2
    assert read_rttm(result.to_rttm()) == read_rttm(speech_result.to_rttm())
    mixed = tmp_path / "mixed.wav"
    sf.write(mixed, np.stack([speech, np.zeros_like(speech)], axis=1), RATE, subtype="FLOAT")
    left = pipeline(mixed, channel=0)
    assert read_rttm(left.to_rttm()) == read_rttm(speech_result.to_rttm())
    assert pipeline(mixed, channel=1).num_speakers == 0
    check_result_invariants(pipeline(mixed))  # speech at half amplitude
    with pytest.raises(InvalidAudioError, match="channel 2 requested but the audio has 2"):
        pipeline(mixed, channel=2)


def test_eight_channels(pipeline, speech, speech_result, tmp_path) -> None:
    path = tmp_path / "array.wav"
    gains = np.linspace(0.6, 1.0, 8, dtype=np.float32)
    sf.write(path, speech[:, None] * gains[None, :], RATE, subtype="FLOAT")
    assert sf.info(path).channels == 8
    result = pipeline(path)
    check_result_invariants(result)
    assert result.duration == pytest.approx(10.0) and result.num_speakers >= 1
    # the mix is the speech at 0.8 gain: the same speech regions
    assert max(mutual_der(speech_regions(speech_result), speech_regions(result))) < 0.05


def test_truncated_wav_body_is_a_decode_error(pipeline, speech, tmp_path) -> None:
    """A WAV cut short (header says 10 s, 5 s present) is refused, not diarized as a 5 s file (libsndfile
    alone would count the frames that are there); as a path, bytes or an open file."""
    payload = wav_bytes(speech)
    path = tmp_path / "cut.wav"
    path.write_bytes(payload[: 44 + 5 * RATE * 2])
    reason = f"truncated: header says {10 * RATE} samples, file has {5 * RATE}"
    with pytest.raises(AudioDecodeError, match=f"^{path}: {reason}$"):
        pipeline(path)
    with pytest.raises(AudioDecodeError, match=f"^<bytes>: {reason}$"):
        pipeline(path.read_bytes())
    with open(path, "rb") as stream, pytest.raises(AudioDecodeError, match=f"^{path}: {reason}$"):
        pipeline(stream)


def test_integer_array_input(pipeline, speech, speech_result) -> None:
    pcm = np.round(speech * 32767).astype(np.int16)[None]
    result = pipeline({"waveform": pcm, "sample_rate": RATE, "uri": "pcm"})
    assert result.uri == "pcm" and result.duration == pytest.approx(10.0)
    assert max(mutual_der(read_rttm(speech_result.to_rttm()), read_rttm(result.to_rttm()))) < 0.05


# ------------------------------------------------------------------------------ a long file


@pytest.mark.slow
def test_long_file_memory_is_bounded(tmp_path, models_dir) -> None:
    """A 20-minute 8 kHz file (silence, noise bursts, 8 s of speech every 2 min) diarized in a fresh
    process: it finishes, and its peak RSS (getrusage) stays bounded. Measured on 2 cores: ~45 s, models
    ~0.34 GB, peak 1.1-1.4 GB, of which ~0.4 GB is freed memory glibc keeps (0.75 GB with
    MALLOC_MMAP_THRESHOLD_=1048576); ``benchmarks/long_file_memory.py`` gives 10 min / 1 h / 2 h figures."""
    from benchmarks.long_file_memory import measure, write_long_file

    path = write_long_file(tmp_path / "long.wav", 20 * 60, rate=8000, speech_every=120.0)
    figures = measure(path, str(models_dir), threads=1, timeout=300)
    assert figures["audio_s"] == pytest.approx(1200.0)
    assert figures["speakers"] >= 1 and figures["turns"] >= 5
    assert figures["peak_rss_mb"] < figures["rss_after_models_mb"] + 1500, figures


# ------------------------------------------------------------------------------ the command line


def _diarize(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return subprocess.run([sys.executable, "-m", "diarization.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def test_cli_bad_file_exits_3_with_one_line(tmp_path, models_dir) -> None:
    """An input error (3), not a usage error (2, argparse's) nor an engine or model error (4)."""
    bad = tmp_path / "not audio.wav"
    bad.write_bytes(b"\x00\x01garbage" * 100)
    run = _diarize("file", str(bad), "--models", str(models_dir), "-q", cwd=tmp_path)
    assert run.returncode == 3, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("diarize file: error: ") and str(bad) in lines[0] and "Traceback" not in run.stderr
    assert run.stdout == ""
    missing = _diarize("file", "missing.wav", "--models", str(models_dir), "-q", cwd=tmp_path)
    assert missing.returncode == 3 and missing.stderr.strip() == "diarize file: error: missing.wav: no such file"


def test_cli_good_file_writes_rttm_and_plot(tmp_path, models_dir, speech, speech_result) -> None:
    sf.write(tmp_path / "call.wav", speech, RATE)
    run = _diarize("file", "call.wav", "--models", str(models_dir), "--rttm", "out.rttm", "--plot", "out.png",
                   "-q", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    rttm = (tmp_path / "out.rttm").read_text()
    assert rttm and all(line.startswith("SPEAKER call 1 ") for line in rttm.splitlines())
    assert max(mutual_der(read_rttm(speech_result.to_rttm()), read_rttm(rttm))) < 1e-3
    png = (tmp_path / "out.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
