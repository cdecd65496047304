"""Calls recorded one party per channel: which channels to diarize, and each channel's own speech.

A contact-center recorder writes the agent on one channel and the customer on the other, each channel
also carrying a quieter, slightly late copy of the other party (line echo, crosstalk). ``ChannelMode``
says how a file's channels are used: ``mix`` averages them (a meeting recorded in stereo), ``split``
diarizes each channel on its own (its speakers labelled with the channel) and ``auto`` splits a file when
its channels carry different talkers: in most speech frames one channel is far louder than the other.

Within a split call, a stretch of a channel counts as that channel's own speech when it stands above the
channel's noise floor and is not a much quieter copy of the other channel (``own_speech``); a run of a
local speaker found by the segmentation model with too little own speech under it is crosstalk, line
noise or a tone, and is dropped before it is embedded (``keep_own_runs``). Steady tones (DTMF key
presses, ring-back, synthetic hold music) are never own speech (``diarization.tones``). All of it is arrays
in, arrays out.

    levels = frame_levels(waveform)          # (channels, frames) dB every 10 ms
    own = own_speech(waveform, settings)     # (channels, frames) bool
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .tones import (HOP_SECONDS, TONE_SECONDS, TONE_SHARE, WINDOW_SECONDS, level_index, num_level_frames,
                    tonal_frames)
from .windows import SlidingWindow


class ChannelMode(str, enum.Enum):
    """How the channels of a file are diarized."""

    MIX = "mix"  # channels averaged, diarized as one signal
    SPLIT = "split"  # each channel diarized on its own; speakers labelled with their channel
    AUTO = "auto"  # split when the channels carry different talkers, else mix

    @classmethod
    def named(cls, value: str | ChannelMode) -> ChannelMode:
        """The mode called ``value``; ValueError naming the choices for anything else."""
        try:
            return cls(value)
        except ValueError:
            choices = ", ".join(mode.value for mode in cls)
            raise ValueError(f"channel mode must be one of {choices}, got {value!r}") from None


@dataclass(frozen=True)
class SplitSettings:
    """When ``auto`` splits a file, what counts as a channel's own speech, and how its turns are closed."""

    floor_percentile: float = 10.0  # a channel's noise floor: this percentile of its frame levels (dB)
    above_floor_db: float = 10.0  # own speech stands this far above the channel's floor
    leak_margin_db: float = 15.0  # ... and is no more than this much below the loudest other channel
    min_own_seconds: float = 0.1  # a local speaker's run with less own speech under it is dropped (a 0.3 s backchannel has ~0.1 s)
    reach_seconds: float | None = 0.3  # frames farther than this from own speech are dropped too
    min_duration_off: float = 0.3  # a channel's talker pausing less than this goes on talking (gaps filled)
    min_talker_seconds: float = 2.0  # a channel's extra talker heard for less than this joins its closest one
    tone_share: float = TONE_SHARE  # a frame with this share of its energy in a few spectral peaks ...
    tone_seconds: float = TONE_SECONDS  # ... for this long is a tone (diarization.tones)
    split_lead_db: float = 10.0  # auto: split when one channel is this much louder than the others ...
    split_share: float = 0.6  # ... in this share of the frames where any channel speaks
    min_lead_share: float = 0.05  # ... and every channel leads in at least this share of them (two talkers)


def frame_levels(waveform: np.ndarray, sample_rate: int) -> np.ndarray:
    """(channels, num_samples) -> (channels, frames) mean power in dB of 25 ms windows every 10 ms."""
    hop, width = round(HOP_SECONDS * sample_rate), round(WINDOW_SECONDS * sample_rate)
    x = np.asarray(waveform, dtype=np.float64)
    num_frames = num_level_frames(x.shape[-1], sample_rate)
    cumulative = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x * x, axis=-1)], axis=-1)
    starts = hop * np.arange(num_frames)
    ends = np.minimum(starts + width, x.shape[-1])
    power = (cumulative[:, ends] - cumulative[:, starts]) / np.maximum(ends - starts, 1)
    return 10.0 * np.log10(power + 1e-12)


def noise_floors(levels: np.ndarray, settings: SplitSettings) -> np.ndarray:
    """(channels,) the noise floor of each channel, in dB."""
    return np.percentile(levels, settings.floor_percentile, axis=-1)


def own_speech(waveform: np.ndarray, sample_rate: int, settings: SplitSettings,
               tonal: np.ndarray | None = None) -> np.ndarray:
    """(channels, num_samples) -> (channels, frames) True where a channel carries speech of its own: above
    its noise floor, not a much quieter copy of another channel, not a tone (``tonal``: (channels, frames),
    found here when not given)."""
    levels = frame_levels(waveform, sample_rate)
    floors = noise_floors(levels, settings)
    loud = levels > floors[:, None] + settings.above_floor_db
    others = np.stack([np.max(np.delete(levels, c, axis=0), axis=0, initial=-np.inf)
                       for c in range(levels.shape[0])])
    not_leak = levels > others - settings.leak_margin_db
    if tonal is None:
        tonal = tonal_frames(waveform, sample_rate, settings.tone_share, settings.tone_seconds)
    return loud & not_leak & ~tonal


def carries_different_talkers(waveform: np.ndarray, sample_rate: int, settings: SplitSettings) -> bool:
    """Whether a (2+, num_samples) recording has one party per channel: in most frames where any channel
    speaks, one channel is ``split_lead_db`` louder than all the others, and each channel leads at times."""
    if waveform.shape[0] < 2:
        return False
    levels = frame_levels(waveform, sample_rate)
    floors = noise_floors(levels, settings)
    active = np.any(levels > floors[:, None] + settings.above_floor_db, axis=0)
    if active.sum() * HOP_SECONDS < 1.0:  # under a second of speech: nothing to tell the channels apart
        return False
    ranked = np.sort(levels[:, active], axis=0)
    leads = ranked[-1] - ranked[-2] > settings.split_lead_db
    if leads.mean() < settings.split_share:
        return False
    leader = np.argmax(levels[:, active], axis=0)[leads]
    shares = np.bincount(leader, minlength=levels.shape[0]) / max(1, leads.sum())
    return bool(np.all(shares >= settings.min_lead_share))


def keep_own_runs(binarized: np.ndarray, chunks: SlidingWindow, frames: SlidingWindow, own: np.ndarray,
                  min_own_seconds: float, reach_seconds: float | None = None) -> np.ndarray:
    """(num_chunks, num_frames, columns) binarized activity of one channel with the columns that have less
    than ``min_own_seconds`` of own speech (``own``: (level frames,) bool) under them set silent, and,
    with ``reach_seconds``, every frame farther than that from own speech too."""
    num_chunks, num_frames, _ = binarized.shape
    index = level_index(chunks, frames, num_chunks, num_frames, len(own))
    under = own[index][:, :, None] & (binarized > 0)  # (num_chunks, num_frames, columns)
    keep = under.sum(axis=1) * frames.step >= min_own_seconds  # (num_chunks, columns)
    kept = np.where(keep[:, None, :], binarized, 0).astype(binarized.dtype)
    if reach_seconds is None:
        return kept
    reach = round(reach_seconds / HOP_SECONDS)
    near = ndimage.binary_dilation(own, structure=np.ones(2 * reach + 1, bool)) if reach > 0 else own
    return (kept * near[index][:, :, None]).astype(binarized.dtype)
