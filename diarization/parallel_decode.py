"""Long local files decoded by several threads at once, each thread reading its own range of frames.

libsndfile releases the GIL while it decodes, so a format that seeks to an exact frame and states its
length (PCM, float, mu-law and A-law samples in WAV and its variants, AIFF, AU, CAF; FLAC) can be cut into
contiguous ranges that threads decode straight into one preallocated array. The array equals the one
the block-by-block decoder of ``audio.py`` builds: channels are averaged (or one is picked) row by row,
and a multi-channel file below the models' rate is decoded and mixed at its own rate, then resampled
by the caller's ``resample`` (``audio.py``: the same streaming resampler, fed the same blocks). A mono
file below the models' rate spends its time in that resampler, which cannot be split exactly, and a file
above it would need a buffer larger than the output: both stay with the block decoder.

Anything out of the ordinary (a frame count the data does not fill, a value the checks refuse, a format
without exact seeking) returns ``None``: the caller then decodes sequentially, which raises the
canonical typed error or handles the oddity.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise

import numpy as np
import soundfile as sf

SEEKABLE_FORMATS = frozenset({"WAV", "WAVEX", "W64", "RF64", "AIFF", "AU", "CAF", "FLAC"})
# sample codecs without state between samples; ADPCM, GSM and the like carry decoder state across blocks,
# so a range that starts mid-file could decode differently from the sequential pass
STATELESS_SUBTYPES = frozenset(
    {"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE", "ULAW", "ALAW"})
MIN_RANGE_SECONDS = 60.0  # shorter files are not worth a thread each (call-center files stay sequential)
RANGE_BLOCK_SAMPLES = 2**20  # samples (frames x channels) read per call inside a range
LOWEST_BYTE_RATE = 4000  # bytes per second of the leanest eligible file (8-bit or mu-law at 4 kHz)


class _Refused(Exception):
    """A range could not be decoded as announced; the sequential decoder takes over."""


def plan_ranges(frames: int, rate: int, workers: int,
                min_range_seconds: float = MIN_RANGE_SECONDS) -> list[int]:
    """Range edges (``[0, ..., frames]``) for at most ``workers`` threads, each range at least
    ``min_range_seconds`` long; a single range means: decode sequentially."""
    count = max(1, min(workers, int(frames // max(1, int(min_range_seconds * rate)))))
    return [frames * k // count for k in range(count + 1)]


def _peak_ok(block: np.ndarray, limit: float) -> bool:
    """Whether every value is finite and within ``limit`` in magnitude (NaN fails)."""
    if not block.size:
        return True
    peak = np.maximum(block.max(), -block.min())
    return bool(np.isfinite(peak) and peak <= limit)


def _decode_range(path: str, first: int, last: int, out: np.ndarray, channel: int | None,
                  limit: float) -> None:
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
                read = sound.read(count, dtype="float32", out=target)
                block = target
            else:
                read = block = sound.read(count, dtype="float32", always_2d=True)
            if len(read) != count or not _peak_ok(block, limit):
                raise _Refused
            if channels > 1:
                if channel is None:
                    target[:] = block.mean(axis=1, dtype=np.float32)
                else:
                    target[:] = block[:, channel]
            position += count


def decode_ranges(path: str, rate: int, channel: int | None, workers: int, limit: float,
                  resample: Callable[[np.ndarray, int, int], np.ndarray],
                  max_seconds: float | None = None, min_range_seconds: float = MIN_RANGE_SECONDS,
                  ) -> tuple[np.ndarray, int, int] | None:
    """(mono float32 waveform at ``rate``, source rate, source channels) of the local file ``path``,
    decoded by up to ``workers`` threads; ``None`` where the sequential decoder must do it (too short,
    not exactly seekable, above ``rate``, longer than ``max_seconds``, or anything refused).

    ``resample(mono, source_rate, channels)`` brings a multi-channel file below ``rate`` to ``rate`` as
    the sequential decoder would; ``limit`` is the largest sample magnitude accepted.
    """
    try:
        if workers < 2 or os.path.getsize(path) < 2 * min_range_seconds * LOWEST_BYTE_RATE:
            return None  # short files (most of an archive) skip the extra header read
        with sf.SoundFile(path) as sound:
            frames, source_rate, channels = sound.frames, sound.samplerate, sound.channels
            exact = (sound.format in SEEKABLE_FORMATS and sound.subtype in STATELESS_SUBTYPES
                     and sound.seekable())
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, EOFError, OSError):
        return None
    if not exact or frames <= 0 or source_rate > rate or channels < 1:
        return None
    if source_rate < rate and channels == 1:
        return None  # its time goes to the (sequential) resampler: ranges would only add a buffer
    if channel is not None and not 0 <= channel < channels:
        return None
    if max_seconds is not None and frames / source_rate > max_seconds:
        return None
    edges = plan_ranges(frames, source_rate, workers, min_range_seconds)
    if len(edges) < 3:
        return None
    native = np.empty(frames, dtype=np.float32)
    try:
        with ThreadPoolExecutor(max_workers=len(edges) - 1) as pool:
            jobs = [pool.submit(_decode_range, path, a, b, native, channel, limit)
                    for a, b in pairwise(edges)]
            for job in jobs:
                job.result()
    except (_Refused, sf.LibsndfileError, RuntimeError, ValueError, EOFError, OSError):
        return None
    waveform = native if source_rate == rate else resample(native, source_rate, channels)
    return waveform, source_rate, channels
