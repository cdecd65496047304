"""WAV files whose data ends before their header says: found from the RIFF header, refused as truncated."""

from __future__ import annotations

import io
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from diarization.audio import load_audio
from diarization.errors import AudioDecodeError
from diarization.riff import DataChunk, read_data_chunk, stream_truncation, truncation

RATE = 16000
DATA_AT = 104  # sample.wav: RIFF header, fmt and LIST chunks, then the data chunk's samples


@pytest.fixture(scope="module")
def full_wav(tmp_path_factory: pytest.TempPathFactory, dev_dir: Path) -> Path:
    """A real 30 s 16 kHz mono PCM16 recording (the dev set's sample.wav; its samples start at byte 104)."""
    source = dev_dir / "pyannote_sample" / "sample.wav"
    assert sf.info(source).frames == 30 * RATE
    assert source.stat().st_size == DATA_AT + 30 * RATE * 2
    return source


def head_c(source: Path, size: int, target: Path) -> Path:
    """``head -c SIZE SOURCE > TARGET``: a download or copy cut short, as a user makes one."""
    with open(target, "wb") as out:
        subprocess.run(["head", "-c", str(size), str(source)], stdout=out, check=True)
    return target


@pytest.mark.parametrize("size,present", [(500_000, (500_000 - DATA_AT) // 2), (1000, (1000 - DATA_AT) // 2),
                                          (DATA_AT, 0), (DATA_AT + 60 * RATE - 1, 30 * RATE - 1)])
def test_a_wav_cut_with_head_is_a_decode_error_naming_it(full_wav: Path, tmp_path: Path, size: int,
                                                         present: int) -> None:
    cut = head_c(full_wav, size, tmp_path / f"cut{size}.wav")
    if present:  # what libsndfile alone reports: a shorter, valid-looking file
        assert sf.info(cut).frames == present
    with pytest.raises(AudioDecodeError, match=f"^{cut}: truncated: header says {30 * RATE} samples, "
                                               f"file has {present}$") as caught:
        load_audio(cut)
    assert caught.value.code == "decode_error" and caught.value.source == str(cut)


def test_the_whole_file_and_a_longer_one_decode(full_wav: Path, tmp_path: Path) -> None:
    assert load_audio(full_wav).num_samples == 30 * RATE
    padded = tmp_path / "padded.wav"  # bytes after the data chunk (a trailing chunk, padding): not truncated
    padded.write_bytes(full_wav.read_bytes() + b"LIST\x04\x00\x00\x00INFO")
    assert load_audio(padded).num_samples == 30 * RATE


def _wav(data: np.ndarray, subtype: str, fmt: str = "WAV") -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, data, RATE, format=fmt, subtype=subtype)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt,subtype,channels,frame_bytes", [
    ("WAV", "PCM_24", 2, 6), ("WAV", "FLOAT", 1, 4), ("WAV", "ULAW", 1, 1), ("WAVEX", "PCM_16", 3, 6),
    ("RF64", "PCM_16", 1, 2)])
def test_formats_with_a_riff_header(fmt: str, subtype: str, channels: int, frame_bytes: int) -> None:
    data = np.zeros((RATE, channels), np.float32)
    whole = _wav(data, subtype, fmt)
    chunk = read_data_chunk(io.BytesIO(whole))
    assert chunk is not None and chunk.declared == RATE * frame_bytes and chunk.block_align == frame_bytes
    assert chunk.offset + chunk.declared <= len(whole)
    assert stream_truncation(io.BytesIO(whole)) is None
    cut = whole[:chunk.offset + 1000 * frame_bytes + frame_bytes - 1]  # and part of a frame
    assert stream_truncation(io.BytesIO(cut)) == f"truncated: header says {RATE} samples, file has 1000"
    with pytest.raises(AudioDecodeError, match="^<bytes>: truncated: header says 16000 samples, file has 1000$"):
        load_audio(cut)


def test_a_stream_is_checked_from_where_it_stands_and_left_there() -> None:
    whole = _wav(np.zeros(RATE, np.float32), "PCM_16")
    stream = io.BytesIO(b"prefix" + whole[:-200])
    stream.seek(6)
    assert stream_truncation(stream) == f"truncated: header says {RATE} samples, file has {RATE - 100}"
    assert stream.tell() == 6


def test_unknown_sizes_and_other_formats_are_left_to_libsndfile() -> None:
    whole = bytearray(_wav(np.zeros(RATE, np.float32), "PCM_16"))
    streamed = whole[:44 + 2000]
    streamed[40:44] = struct.pack("<I", 0xFFFFFFFF)  # a live stream's placeholder size
    assert stream_truncation(io.BytesIO(bytes(streamed))) is None
    flac = _wav(np.zeros(RATE, np.float32), "PCM_16", "FLAC")
    assert stream_truncation(io.BytesIO(flac[:100])) is None
    assert stream_truncation(io.BytesIO(b"RIFF")) is None  # too short to tell: libsndfile says why


def test_truncation_in_bytes_when_frames_are_not_fixed_size() -> None:
    chunk = DataChunk(offset=60, declared=4096, block_align=0)  # e.g. IMA ADPCM
    assert truncation(chunk, 60 + 4096) is None
    assert truncation(chunk, 60 + 1000) == "truncated: header says 4096 bytes of audio data, file has 1000"
    assert truncation(DataChunk(44, 32000, 2), 44 + 31999) == "truncated: header says 16000 samples, file has 15999"


class OneWay:
    """A stream that reads forwards only (an HTTP stream, a pipe): tell works, seeking does not."""

    def __init__(self, data: bytes) -> None:
        self.data, self.position = data, 0

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = 0) -> int:
        raise OSError("cannot seek")

    def read(self, size: int = -1) -> bytes:
        chunk = self.data[self.position:] if size < 0 else self.data[self.position:self.position + size]
        self.position += len(chunk)
        return chunk


def test_a_stream_that_cannot_seek_is_not_read() -> None:
    stream = OneWay(_wav(np.zeros(RATE, np.float32), "PCM_16")[:-200])
    assert stream_truncation(stream) is None and stream.position == 0  # left whole for the decoder
