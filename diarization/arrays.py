"""In-memory waveforms (``{"waveform": x, "sample_rate": sr}``): which axis is time, and samples as float.

The documented layout is (channel, time). Arrays as ``soundfile.read`` returns them, (time, channel), are
recognised when that reading is the only sensible one (more rows than columns and at most
``MAX_GUESSED_CHANNELS`` columns) and transposed; an array with more rows than columns and more columns than
that could be either, and is refused with a message that says how to pass it.
"""

from __future__ import annotations

import numpy as np

from .errors import InvalidAudioError

MAX_GUESSED_CHANNELS = 8  # a (time, channel) array is recognised up to this many channels


def channels_first(data: np.ndarray, name: str) -> np.ndarray:
    """``data`` (1-D, (channel, time) or (time, channel)) as (channel, time)."""
    if data.ndim == 1:
        return data[None]
    if data.ndim != 2:
        raise InvalidAudioError(name, f"waveform must be (channel, time), got shape {tuple(data.shape)}")
    rows, columns = data.shape
    if rows <= columns or columns == 0:
        return data
    if columns <= MAX_GUESSED_CHANNELS:
        return data.T  # (time, channel), as soundfile.read returns it
    raise InvalidAudioError(
        name, f"waveform of shape {tuple(data.shape)} is ambiguous: pass it as (channel, time) "
              f"(or (time, channel) with at most {MAX_GUESSED_CHANNELS} channels)")


def as_float(data: np.ndarray, name: str) -> np.ndarray:
    """Samples as floats: integer PCM scaled to [-1, 1) (unsigned: silence is the mid value)."""
    if np.issubdtype(data.dtype, np.floating):
        return data
    if np.issubdtype(data.dtype, np.signedinteger):
        return data.astype(np.float32) / float(np.iinfo(data.dtype).max + 1)
    if np.issubdtype(data.dtype, np.unsignedinteger):  # e.g. 8-bit PCM
        half = float(np.iinfo(data.dtype).max // 2 + 1)
        return (data.astype(np.float64) - half).astype(np.float32) / half
    raise InvalidAudioError(name, f"unsupported sample type {data.dtype}")
