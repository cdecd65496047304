"""What a WAV header promises, read without libsndfile: the data chunk's announced size.

libsndfile quietly counts the frames that are actually in a WAV whose data ends before its header says
(a download cut short, ``head -c``), so a half file would decode as a shorter, valid one. This module walks
the RIFF chunks (little-endian RIFF WAVE, and RF64/BW64 with their ``ds64`` sizes) up to the
``data`` chunk and compares the announced size with the bytes the file holds. Pure functions on bytes,
plus one reader over a seekable stream; anything it does not understand is left to libsndfile.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import IO

RIFF_MAGICS = (b"RIFF", b"RF64", b"BW64")
UNKNOWN_SIZES = (0, 0xFFFFFFFF)  # what streaming writers put before the length is known (plain RIFF)
MAX_CHUNKS = 256  # a header with more chunks before the data is not worth walking
# format tags whose frames are fixed-size blocks: PCM, IEEE float, A-law, mu-law, extensible
FIXED_FRAME_TAGS = frozenset({1, 3, 6, 7, 0xFFFE})


@dataclass(frozen=True)
class DataChunk:
    """Where a WAV's samples start and how many bytes its header announces."""

    offset: int  # of the first sample byte, from the start of the file
    declared: int  # bytes of sample data the header announces
    block_align: int  # bytes per frame (all channels); 0 when unknown or not fixed-size

    def frames(self, size: int) -> int:
        """Whole frames in ``size`` bytes of sample data (needs ``block_align``)."""
        return size // self.block_align


def _fixed_block_align(fmt: bytes) -> int:
    """The fmt chunk's block size when every frame has that size (PCM-like formats), else 0."""
    if len(fmt) < 16:
        return 0
    tag, _channels, _rate, _byte_rate, align = struct.unpack_from("<HHIIH", fmt)
    return align if tag in FIXED_FRAME_TAGS and align > 0 else 0


def read_data_chunk(stream: IO[bytes]) -> DataChunk | None:
    """The data chunk of the WAV that starts at ``stream``'s current position (offsets relative to it);
    None when the stream is not a RIFF WAVE or its chunks cannot be walked to the data."""
    start = stream.tell()
    head = stream.read(12)
    if len(head) < 12 or head[:4] not in RIFF_MAGICS or head[8:12] != b"WAVE":
        return None
    rf64 = head[:4] != b"RIFF"
    wide_data_size: int | None = None
    block_align = 0
    position = 12
    for _ in range(MAX_CHUNKS):
        header = stream.read(8)
        if len(header) < 8:
            return None
        kind, size = header[:4], struct.unpack("<I", header[4:])[0]
        body_at = position + 8
        if kind == b"data":
            if rf64 and size == 0xFFFFFFFF and wide_data_size is not None:
                size = wide_data_size
            elif size in UNKNOWN_SIZES:
                return None
            return DataChunk(body_at, size, block_align)
        if kind in (b"fmt ", b"ds64"):
            body = stream.read(min(size, 64))
            if kind == b"fmt ":
                block_align = _fixed_block_align(body)
            elif len(body) >= 16:
                wide_data_size = struct.unpack_from("<Q", body, 8)[0]
        position = body_at + size + (size & 1)  # chunks are padded to an even size
        stream.seek(start + position)
    return None


def truncation(chunk: DataChunk, size: int) -> str | None:
    """Why a WAV of ``size`` bytes (from its first header byte) is truncated, or None when its data
    holds every frame the header announces."""
    held = max(0, size - chunk.offset)
    if held >= chunk.declared:
        return None
    if chunk.block_align:
        announced, present = chunk.frames(chunk.declared), chunk.frames(held)
        if present >= announced:
            return None
        return f"truncated: header says {announced} samples, file has {present}"
    return f"truncated: header says {chunk.declared} bytes of audio data, file has {held}"


def stream_truncation(stream: IO[bytes]) -> str | None:
    """``truncation`` of the WAV in a seekable ``stream`` (from its current position, which is restored);
    None for anything else, and when the stream cannot tell its size or fails to read (the decoder then
    reports that failure)."""
    try:  # the size first: a stream that cannot seek (a pipe, an HTTP stream) is left untouched
        start = stream.tell()
        end = stream.seek(0, 2)
        stream.seek(start)
    except Exception:  # noqa: BLE001 - not seekable: nothing to compare with
        return None
    try:
        chunk = read_data_chunk(stream)
        return None if chunk is None else truncation(chunk, end - start)
    except Exception:  # noqa: BLE001 - a failing stream is the decoder's to report, typed
        return None
    finally:
        try:
            stream.seek(start)
        except Exception:  # noqa: BLE001
            pass
