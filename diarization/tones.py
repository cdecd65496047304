"""Tones are not speech: DTMF key presses, ring-back, dial tones and synthetic hold music on a phone line.

A tone holds nearly all of its energy in one or two narrow spectral peaks, as speech never does. The
level frames (25 ms every 10 ms) are shared with ``diarization.channels``; tones are found on 50 ms Hann
windows at the same hop. ``silence_tones`` silences the runs of a local speaker that are mostly tone
energy (key presses and the quiet line between them), unless someone talks in them too, so a key press
neither becomes a speaker's turn nor trains the clustering. All of it is arrays in, arrays out; the
pipeline finds a file's tones where it decodes it (``pipeline.with_tones``: CPU work, beside the models).

    tones = find_tones(waveform, sample_rate)                         # Tones: (channels, level frames) each
    binarized = silence_tones(binarized, chunks, frames, tones)       # (num_chunks, num_frames, speakers)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft
from scipy import ndimage

from .windows import SlidingWindow

HOP_SECONDS = 0.010  # level frames: 25 ms windows every 10 ms
WINDOW_SECONDS = 0.025
TONE_SHARE = 0.95  # a frame whose spectrum holds this share of its energy in a few peaks ...
TONE_SECONDS = 0.05  # ... for this long is a tone
TONE_RUN_SHARE = 0.5  # a local speaker's run with this share of its energy in tones is a tone, not speech ...
SPEECH_SECONDS = 0.3  # ... unless this long of it is neither tone nor line noise (talk over a key press)
SPEECH_OVER_FLOOR = 10.0  # speech: this many times the line's noise energy (10 dB)
FLOOR_PERCENTILE = 10.0
EDGE_FRAMES = 5  # level frames whose window straddles a tone's start or end (50 ms windows, 10 ms hop)


def num_level_frames(num_samples: int, sample_rate: int) -> int:
    """How many level frames a signal of ``num_samples`` has (at least one)."""
    hop, width = round(HOP_SECONDS * sample_rate), round(WINDOW_SECONDS * sample_rate)
    return 1 + max(0, (num_samples - width) // hop)


@dataclass(frozen=True)
class Tones:
    """Where a recording's rows hold a tone, and how much energy each level frame carries."""

    tonal: np.ndarray  # (channels, level frames) bool
    energy: np.ndarray  # (channels, level frames) float: the frame's energy (50 ms Hann window)
    speech: np.ndarray  # (channels, level frames) bool: well above the line's noise, away from any tone

    def row(self, index: int) -> Tones:
        """The tones of one row (a split call's channel), as a one-row ``Tones``."""
        return Tones(self.tonal[index:index + 1], self.energy[index:index + 1], self.speech[index:index + 1])


def find_tones(waveform: np.ndarray, sample_rate: int, share: float = TONE_SHARE,
               seconds: float = TONE_SECONDS, peaks: int = 2, block_frames: int = 4096) -> Tones:
    """(channels, num_samples) -> ``Tones``: a frame is tonal where its energy sits in at most ``peaks``
    narrow spectral peaks (a DTMF pair, a ring-back tone, a chord of sines) for ``seconds`` or more.
    50 ms Hann windows every 10 ms, ``block_frames`` at a time (bounded memory on long files)."""
    hop, width = round(HOP_SECONDS * sample_rate), 2 * round(WINDOW_SECONDS * sample_rate)
    x = np.asarray(waveform, dtype=np.float32)
    num_frames = num_level_frames(x.shape[-1], sample_rate)
    padded = np.pad(x, ((0, 0), (0, width)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, width, axis=-1)[:, ::hop][:, :num_frames]
    taper = np.hanning(width).astype(np.float32)
    peaky = np.zeros((x.shape[0], num_frames), dtype=bool)
    energy = np.zeros((x.shape[0], num_frames))
    for first in range(0, num_frames, block_frames):
        spectrum = np.abs(scipy.fft.rfft(windows[:, first:first + block_frames] * taper, axis=-1)) ** 2
        # the energy around each bin: a peak with its two neighbours (a Hann window's main lobe)
        around = spectrum + np.roll(spectrum, 1, axis=-1) + np.roll(spectrum, -1, axis=-1)
        total = spectrum.sum(axis=-1) + 1e-20
        peaky[:, first:first + block_frames] = _peak_energy(around, peaks) / total >= share
        energy[:, first:first + block_frames] = total
    tonal = np.stack([_long_runs(row, round(seconds / HOP_SECONDS)) for row in peaky])
    floor = np.percentile(energy, FLOOR_PERCENTILE, axis=-1, keepdims=True)  # the line's noise
    edges = ndimage.binary_dilation(tonal, structure=np.ones((1, 2 * EDGE_FRAMES + 1), bool))  # tones' edges
    return Tones(tonal, energy, (energy > SPEECH_OVER_FLOOR * floor) & ~edges)


def tonal_frames(waveform: np.ndarray, sample_rate: int, share: float = TONE_SHARE,
                 seconds: float = TONE_SECONDS) -> np.ndarray:
    """(channels, num_samples) -> (channels, level frames) True where a tone sounds (``find_tones``)."""
    return find_tones(waveform, sample_rate, share, seconds).tonal


def _long_runs(mask: np.ndarray, min_length: int) -> np.ndarray:
    """``mask`` with its runs of True shorter than ``min_length`` frames cleared."""
    runs, count = ndimage.label(mask)
    if count == 0:
        return mask
    lengths = np.bincount(runs)
    lengths[0] = 0
    return lengths[runs] >= min_length


def _peak_energy(around: np.ndarray, peaks: int) -> np.ndarray:
    """Energy in the ``peaks`` strongest non-adjacent main lobes of each frame's spectrum."""
    work = around.copy()
    energy = np.zeros(work.shape[:-1])
    rows = np.indices(work.shape[:-1])
    for _ in range(peaks):
        best = np.argmax(work, axis=-1)
        energy += np.take_along_axis(work, best[..., None], axis=-1)[..., 0]
        for offset in (-2, -1, 0, 1, 2):  # a lobe spans the peak bin and its neighbours
            index = np.clip(best + offset, 0, work.shape[-1] - 1)
            work[(*rows, index)] = 0.0
    return energy


def level_index(chunks: SlidingWindow, frames: SlidingWindow, num_chunks: int, num_frames: int,
                num_levels: int, first_chunk: int = 0) -> np.ndarray:
    """(num_chunks, num_frames) the level frame under the middle of each segmentation frame of chunks
    ``first_chunk`` .. ``first_chunk + num_chunks - 1``."""
    times = (chunks.start + chunks.step * (first_chunk + np.arange(num_chunks))[:, None]
             + frames.start + frames.step * np.arange(num_frames)[None, :] + 0.5 * frames.duration)
    return np.clip(np.floor(times / HOP_SECONDS).astype(np.int64), 0, num_levels - 1)


def silence_tones(binarized: np.ndarray, chunks: SlidingWindow, frames: SlidingWindow, tones: Tones,
                  first_chunk: int = 0, share: float = TONE_RUN_SHARE) -> np.ndarray:
    """(num_chunks, num_frames, speakers) activity of chunks ``first_chunk`` onwards, of a one-row
    recording with ``tones``, with every run of a local speaker (its active frames in a row, in one chunk)
    that has ``share`` or more of its energy in tones silent, unless ``SPEECH_SECONDS`` of it are speech
    (``Tones.speech``: someone talks over a key press). A run of key presses is tones and the line's noise
    between them; a run of speech keeps its few tone-like frames (a steady vowel): clearing those would cut
    a turn into pieces."""
    num_chunks, num_frames, speakers = binarized.shape
    tonal, energy = tones.tonal[0], tones.energy[0]
    index = level_index(chunks, frames, num_chunks, num_frames, len(tonal), first_chunk)
    active = np.moveaxis(binarized > 0, -1, 1)  # (num_chunks, speakers, num_frames)
    along_frames = np.zeros((3, 3, 3), bool)
    along_frames[1, 1, :] = True
    runs, count = ndimage.label(active, structure=along_frames)
    if count == 0:
        return binarized

    def per_run(values: np.ndarray) -> np.ndarray:
        """(num_chunks, num_frames) -> (count + 1,) their sum over each run (every speaker's frames)."""
        weights = np.broadcast_to(values[:, None, :], active.shape).ravel()
        return np.bincount(runs.ravel(), weights=weights, minlength=count + 1)

    tone_share = per_run((energy * tonal)[index]) / np.maximum(per_run(energy[index]), 1e-20)
    speech_seconds = frames.step * per_run(tones.speech[0][index].astype(np.float64))
    drop = (tone_share >= share) & (speech_seconds < SPEECH_SECONDS)
    drop[0] = False
    return np.where(np.moveaxis(drop[runs], 1, -1), 0, binarized).astype(binarized.dtype)
