"""Telephone audio, told by its band: a phone line carries 300-3400 Hz, whatever rate the file that holds
the call is written at. Archives keep calls as 8 kHz files, but also as 16 kHz WAV or 44.1 kHz MP3 after a
recorder or a conversion resampled them; those are the same telephone speech and get the same settings.

A file is telephone audio when it was recorded at 8 kHz or less, or when the power of its decoded
waveform above the telephone band (4.3-7.5 kHz) is ``MAX_LEVEL_ABOVE_BAND`` dB or more below that within
it (300-3400 Hz). Measured at 16 kHz: the wideband dev files (LibriSpeech, AMI far-field, espeak, a
stereo read-speech pair) lie at -7 to -26 dB, the dev calls resampled to 16 kHz at -76 to -84 dB, and the
pyannote sample, a real phone conversation in a 16 kHz file, at -66 dB. The power spectrum is averaged over
at most ``EXCERPTS`` evenly spread excerpts of ``EXCERPT_SECONDS``, so a long file costs no more than a
minute of audio.
"""

from __future__ import annotations

import numpy as np

TELEPHONE_RATE = 8000  # a file recorded at this rate or less cannot hold more than the telephone band
SPEECH_BAND = (300.0, 3400.0)
ABOVE_BAND = (4300.0, 7500.0)
MAX_LEVEL_ABOVE_BAND = -50.0  # dB: at or below this, nothing but the telephone band is there
EXCERPTS = 32
EXCERPT_SECONDS = 2.0
SEGMENT = 512  # samples per FFT of the power spectrum (32 ms at 16 kHz)


def excerpts(rows: np.ndarray, sample_rate: int) -> np.ndarray:
    """(rows, samples) -> (rows, at most EXCERPTS x EXCERPT_SECONDS of samples): evenly spread excerpts."""
    size = int(EXCERPT_SECONDS * sample_rate)
    total = rows.shape[-1]
    if total <= EXCERPTS * size:
        return rows
    starts = np.linspace(0, total - size, EXCERPTS).astype(np.int64)
    return np.concatenate([rows[..., s:s + size] for s in starts], axis=-1)


def level_above_band(rows: np.ndarray, sample_rate: int) -> float | None:
    """Power above the telephone band against the power within it, in dB, of (rows, samples) audio at
    ``sample_rate`` (above 8 kHz); None when there is nothing to measure (silence, too short)."""
    audio = excerpts(np.atleast_2d(rows), sample_rate)
    usable = audio.shape[-1] // SEGMENT * SEGMENT
    if usable == 0:
        return None
    frames = audio[..., :usable].reshape(-1, SEGMENT)  # every row's frames together
    power = np.mean(np.abs(np.fft.rfft(frames * np.hanning(SEGMENT).astype(frames.dtype))) ** 2, axis=0)
    freqs = np.fft.rfftfreq(SEGMENT, 1 / sample_rate)
    within = power[(freqs >= SPEECH_BAND[0]) & (freqs <= SPEECH_BAND[1])].sum()
    above = power[(freqs >= ABOVE_BAND[0]) & (freqs <= ABOVE_BAND[1])].sum()
    if not within > 0:
        return None
    return float(10 * np.log10(max(above, 1e-30) / within))


def is_telephone(source_sample_rate: int | None, rows: np.ndarray | None = None,
                 sample_rate: int | None = None) -> bool:
    """Whether a file recorded at ``source_sample_rate``, decoded to (rows, samples) at ``sample_rate``,
    is telephone audio: recorded at 8 kHz or less, or carrying nothing above the telephone band."""
    if source_sample_rate is not None and source_sample_rate <= TELEPHONE_RATE:
        return True
    if rows is None or sample_rate is None or sample_rate <= TELEPHONE_RATE:
        return False
    level = level_above_band(rows, sample_rate)
    return level is not None and level <= MAX_LEVEL_ABOVE_BAND
