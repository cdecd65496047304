"""Long local files decoded by several threads at once, each thread reading its own range of frames.

libsndfile releases the GIL while it decodes, so a format that seeks to an exact frame and states its
length (PCM, float, mu-law and A-law samples in WAV and its variants, AIFF, AU, CAF; FLAC) can be cut into
contiguous ranges that threads decode straight into one preallocated array. The array holds the file's
samples at its own rate, channels averaged (or one picked) row by row exactly as the block-by-block
decoder of ``audio.py`` mixes them; resampling, and the choice of which files are worth decoding this
way, are ``audio.py``'s.

Anything out of the ordinary (a frame count the data does not fill, a value the sample check refuses,
a format without exact seeking) returns ``None``: the caller then decodes sequentially, which raises the
canonical typed error or handles the oddity.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import soundfile as sf

from .quiet import decoder_chatter_filtered
from .samples import sample_problem

SEEKABLE_FORMATS = frozenset({"WAV", "WAVEX", "W64", "RF64", "AIFF", "AU", "CAF", "FLAC"})
# sample codecs without state between samples; ADPCM, GSM and the like carry decoder state across blocks,
# so a range that starts mid-file could decode differently from the sequential pass
STATELESS_SUBTYPES = frozenset(
    {"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE", "ULAW", "ALAW"})
MIN_RANGE_SECONDS = 60.0  # shorter files are not worth a thread each (call-center files stay sequential)
RANGE_BLOCK_SAMPLES = 2**20  # samples (frames x channels) read per call inside a range
LOWEST_BYTE_RATE = 4000  # bytes per second of the leanest eligible file (8-bit or mu-law at 4 kHz)

_HEADER_ERRORS = (sf.LibsndfileError, RuntimeError, TypeError, ValueError, EOFError, OSError)


@dataclass(frozen=True)
class RangedFile:
    """A local file whose frames can be decoded in exact ranges, as its header describes it."""

    path: str
    frames: int
    sample_rate: int
    channels: int

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate


class _Refused(Exception):
    """A range could not be decoded as announced; the sequential decoder takes over."""


def plan_ranges(frames: int, rate: int, workers: int,
                min_range_seconds: float = MIN_RANGE_SECONDS) -> list[int]:
    """Range edges (``[0, ..., frames]``) for at most ``workers`` threads, each range at least
    ``min_range_seconds`` long; a single range means: decode sequentially."""
    count = max(1, min(workers, int(frames // max(1, int(min_range_seconds * rate)))))
    return [frames * k // count for k in range(count + 1)]


def ranged_file(path: str, min_range_seconds: float = MIN_RANGE_SECONDS) -> RangedFile | None:
    """``path``'s header when its format seeks to exact frames without decoder state and it may be long
    enough for two ranges; None otherwise (short files, most of an archive, skip the header read)."""
    try:
        if os.path.getsize(path) < 2 * min_range_seconds * LOWEST_BYTE_RATE:
            return None
        with decoder_chatter_filtered(), sf.SoundFile(path) as sound:  # an MP3's open can print notes
            exact = (sound.format in SEEKABLE_FORMATS and sound.subtype in STATELESS_SUBTYPES
                     and sound.seekable())
            header = RangedFile(path, sound.frames, sound.samplerate, sound.channels)
    except _HEADER_ERRORS:
        return None
    if not exact or header.frames <= 0 or header.channels < 1:
        return None
    return header


def _decode_range(path: str, first: int, last: int, out: np.ndarray, channel: int | None) -> None:
    """Decode frames ``[first, last)`` of ``path`` into ``out[first:last]`` (mono float32)."""
    with sf.SoundFile(path) as sound:
        channels = sound.channels
        step = max(1, RANGE_BLOCK_SAMPLES // channels)
        if sound.seek(first) != first:
            raise _Refused
        position = first
        while position < last:
            count = min(step, last - position)
            target = out[position:position + count]
            if channels == 1:
                read = used = sound.read(count, dtype="float32", out=target)
            else:
                read = sound.read(count, dtype="float32", always_2d=True)
                used = read if channel is None else read[:, channel:channel + 1]
            if len(read) != count or sample_problem(used) is not None:
                raise _Refused
            if channels > 1:
                target[:] = read.mean(axis=1, dtype=np.float32) if channel is None else read[:, channel]
            position += count


def decode_ranges(file: RangedFile, channel: int | None, workers: int,
                  min_range_seconds: float = MIN_RANGE_SECONDS) -> np.ndarray | None:
    """(frames,) mono float32 samples of ``file`` at its own rate, decoded by up to ``workers`` threads in
    ranges of at least ``min_range_seconds``; None where the sequential decoder must do it (a single
    range, no such ``channel``, or anything refused)."""
    if channel is not None and not 0 <= channel < file.channels:
        return None
    edges = plan_ranges(file.frames, file.sample_rate, workers, min_range_seconds)
    if len(edges) < 3:
        return None
    samples = np.empty(file.frames, dtype=np.float32)
    try:
        with ThreadPoolExecutor(max_workers=len(edges) - 1) as pool:
            jobs = [pool.submit(_decode_range, file.path, a, b, samples, channel) for a, b in pairwise(edges)]
            for job in jobs:
                job.result()
    except (_Refused, sf.LibsndfileError, RuntimeError, ValueError, EOFError, OSError):
        return None
    return samples
