"""Property-based fuzzing of the decoder (hypothesis, a bounded number of derandomised examples): any
bytes, and valid files of every format with mangled headers, flipped bytes or cuts, end as a typed
``AudioError`` or as finite mono 16 kHz audio, quickly. A watchdog ends the run with a traceback if one
example hangs inside native code, where no Python-level timeout could interrupt it."""

from __future__ import annotations

import faulthandler
import struct
import time
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diarization.audio import load_audio
from diarization.errors import AudioError

from .corpus import _tone, encode

SETTINGS = settings(max_examples=400, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FORMATS = [("WAV", "PCM_16"), ("WAV", "FLOAT"), ("WAV", "PCM_U8"), ("WAV", "ULAW"), ("FLAC", "PCM_16"),
           ("OGG", "VORBIS"), ("MP3", "MPEG_LAYER_III"), ("AIFF", "PCM_16"), ("AU", "PCM_16"), ("CAF", "PCM_16")]
VALID = {f"{fmt}-{subtype}": encode(_tone(0.25, 8000, seed=7), 8000, fmt, subtype) for fmt, subtype in FORMATS}


@pytest.fixture(autouse=True)
def watchdog() -> Iterator[None]:
    faulthandler.dump_traceback_later(240, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def decodes_safely(data: bytes) -> None:
    """The property: a typed error or usable audio, within a few seconds."""
    started = time.perf_counter()
    try:
        audio = load_audio(data)
    except AudioError as error:
        assert error.code in {"decode_error", "invalid_audio", "not_found", "too_long"}
    else:
        samples = audio.waveform.numpy()
        assert samples.dtype == np.float32 and samples.ndim == 2 and samples.shape[0] == 1
        assert samples.shape[1] >= 1 and audio.sample_rate == 16000
        assert np.isfinite(samples).all()
    assert time.perf_counter() - started < 10


@SETTINGS
@given(st.binary(max_size=4096))
def test_any_bytes(data: bytes) -> None:
    decodes_safely(data)


@SETTINGS
@given(st.sampled_from(sorted(VALID)), st.lists(st.tuples(st.integers(0, 2**16), st.integers(0, 255)), max_size=12),
       st.one_of(st.none(), st.integers(0, 2**16)))
def test_flipped_bytes_and_cuts(kind: str, flips: list[tuple[int, int]], cut: int | None) -> None:
    data = bytearray(VALID[kind])
    for position, value in flips:
        data[position % len(data)] = value
    decodes_safely(bytes(data[:cut]))


@SETTINGS
@given(channels=st.integers(0, 70000), rate=st.integers(0, 2**32 - 1), bits=st.sampled_from([0, 1, 7, 8, 16, 24, 32, 64]),
       fmt=st.sampled_from([0, 1, 2, 3, 6, 7, 0x55, 0xFFFE, 0xFFFF]), frames=st.integers(0, 64),
       declared=st.one_of(st.none(), st.integers(0, 2**32 - 1)))
def test_mangled_wav_header(channels: int, rate: int, bits: int, fmt: int, frames: int, declared: int | None) -> None:
    align = (channels % 65536) * bits // 8
    body = bytes(min(align * frames, 1 << 16))
    size = len(body) if declared is None else declared
    header = struct.pack("<HHIIHH", fmt, channels % 65536, rate, (rate * align) % 2**32, align % 65536, bits)
    data = (b"RIFF" + struct.pack("<I", (36 + size) % 2**32) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + header
            + b"data" + struct.pack("<I", size % 2**32) + body)
    decodes_safely(data)
