"""A call diarized channel by channel, through the engine's usual stages.

Each channel is segmented on its own; its runs that are mostly tones are silenced (``tones.silence_tones``,
as on a mono telephone call), and its local speakers (or their runs) stay where the channel speaks for
itself (``channels.keep_own_runs``) and all channels' columns sit side by side in one
``ChannelSegmentation``, which knows each column's channel. Embeddings of a column come from its own
channel's waveform, clustering runs within each channel (a supervisor on the agent's line is a third
speaker, a one-talker channel is one speaker), and reconstruction then sees every channel at once, so
the exclusive diarization has one speaker at a time across both channels.

    audio = arrange_channels(decoded, ChannelMode.AUTO, settings)   # (channels, time) when split
    segmentation = channel_columns(audio, per_channel, columns, frames, settings)
    embeddings = embed_channels(audio, segmentation, embed)         # (chunks, columns, dimension)
    parts = channel_parts(audio, segmentation)                      # or each channel's embedding work apart
    hard, centroids, owners = cluster_channels(clustering, embeddings, segmentation)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .audio import Audio
from .channels import ChannelMode, SplitSettings, carries_different_talkers, keep_own_runs, own_speech
from .clustering import Clustering
from .segmentation import speaker_count
from .tones import find_tones, silence_tones
from .windows import SlidingWindow, Windowed


@dataclass
class ChannelSegmentation(Windowed):
    """Binarized segmentation columns of all channels of a split call, (num_chunks, num_frames, columns)."""

    channels: np.ndarray  # (columns,) int: the channel each column was found on


def is_split(audio: Audio) -> bool:
    """Whether ``audio`` is a call to diarize channel by channel."""
    return audio.channel_mode == ChannelMode.SPLIT.value and audio.waveform.shape[0] > 1


def arrange_channels(audio: Audio, mode: ChannelMode, settings: SplitSettings) -> Audio:
    """``audio`` decoded with every channel kept, as the mode wants it: split (one row per channel) or
    mixed (the channels' average, one row). ``auto`` splits when the channels carry different talkers."""
    rows = audio.waveform.shape[0]
    split = rows > 1 and (mode is ChannelMode.SPLIT or (
        mode is ChannelMode.AUTO and carries_different_talkers(audio.waveform.numpy(), audio.sample_rate,
                                                                settings)))
    if split:
        return dataclasses.replace(audio, channel_mode=ChannelMode.SPLIT.value)
    mixed = audio.waveform if rows == 1 else audio.waveform.mean(dim=0, keepdim=True)
    return dataclasses.replace(audio, waveform=mixed, channel_mode=ChannelMode.MIX.value)


def channel_columns(audio: Audio, segmentations: Sequence[Windowed], columns: Callable[[np.ndarray], np.ndarray],
                    frames: SlidingWindow, settings: SplitSettings) -> ChannelSegmentation:
    """One channel's binarized segmentation per row of ``audio`` -> their ``columns`` (local speakers or
    runs) where each channel speaks for itself, side by side."""
    waveform = audio.waveform.cpu().numpy()
    tones = audio.tones  # found at decoding (pipeline.with_tones)
    if tones is None:
        tones = find_tones(waveform, audio.sample_rate, settings.tone_share, settings.tone_seconds)
    own = own_speech(waveform, audio.sample_rate, settings, tones.tonal)  # (channels, levels)
    kept, owners = [], []
    for channel, segmentation in enumerate(segmentations):
        local = silence_tones(segmentation.data, segmentation.window, frames, tones.row(channel))
        data = keep_own_runs(columns(local), segmentation.window, frames, own[channel],
                             settings.min_own_seconds, settings.reach_seconds)
        kept.append(data)
        owners.append(np.full(data.shape[-1], channel, dtype=np.int64))
    return ChannelSegmentation(np.concatenate(kept, axis=-1), segmentations[0].window, np.concatenate(owners))


@dataclass(frozen=True)
class ChannelPart:
    """One talking channel's share of a split call's embeddings: its columns and what embeds them."""

    columns: np.ndarray  # (k,) int: the call's segmentation columns found on this channel
    waveform: torch.Tensor  # (1, num_samples): the channel's row
    segmentation: Windowed  # (num_chunks, num_frames, k): those columns


def channel_parts(audio: Audio, segmentation: ChannelSegmentation) -> list[ChannelPart]:
    """The ``ChannelPart`` of each channel with any active column (a silent channel needs no embeddings)."""
    parts = []
    for channel in np.unique(segmentation.channels):
        mine = np.flatnonzero(segmentation.channels == channel)
        data = segmentation.data[:, :, mine]
        if data.sum() > 0:
            parts.append(ChannelPart(mine, audio.waveform[channel:channel + 1], Windowed(data, segmentation.window)))
    return parts


def gather_channels(segmentation: ChannelSegmentation, parts: Sequence[ChannelPart],
                    embedded: Sequence[np.ndarray], dimension: int) -> np.ndarray:
    """(num_chunks, columns, dimension) embeddings of the call from each part's (num_chunks, k, dimension)
    ones, NaN for columns of silent channels."""
    num_chunks, _, num_columns = segmentation.data.shape
    embeddings = np.full((num_chunks, num_columns, dimension), np.nan, dtype=np.float32)
    for part, values in zip(parts, embedded, strict=True):
        embeddings[:, part.columns] = values
    return embeddings


def embed_channels(audio: Audio, segmentation: ChannelSegmentation,
                   embed: Callable[[torch.Tensor, Windowed], np.ndarray], dimension: int) -> np.ndarray:
    """(num_chunks, columns, dimension) embeddings, each column's from its own channel (NaN: inactive)."""
    parts = channel_parts(audio, segmentation)
    return gather_channels(segmentation, parts, [embed(part.waveform, part.segmentation) for part in parts],
                           dimension)


def channel_count(segmentation: ChannelSegmentation, owners: Sequence[int], frames: SlidingWindow) -> Windowed:
    """(total_frames, 1) speakers at once in a split call: each channel's own count, capped at the speakers
    found on that channel (two runs of one channel in a chunk are often one talker), summed."""
    counts = []
    for channel in np.unique(segmentation.channels):
        mine = Windowed(segmentation.data[:, :, segmentation.channels == channel], segmentation.window)
        count = speaker_count(mine, frames)
        counts.append(np.minimum(count.data, sum(1 for owner in owners if owner == channel)))
    return Windowed(np.sum(counts, axis=0).astype(np.uint8), count.window)


def channel_bounds(num_speakers: int | None, min_speakers: int | None, max_speakers: int | None,
                   channels: int) -> tuple[int | None, int | None, int | None]:
    """Per-channel speaker bounds from the file's: each talking channel has at least one speaker, so a
    file of N speakers on K channels has at most N - K + 1 on any one (one each when N == K)."""
    def share(total: int | None) -> int | None:
        return None if total is None else max(1, total - channels + 1)
    if num_speakers is not None and num_speakers <= channels:
        return 1, None, None
    return None, None if min_speakers is None else 1, share(num_speakers if num_speakers is not None
                                                           else max_speakers)


def talker_seconds(hard: np.ndarray, data: np.ndarray, chunks: SlidingWindow, clusters: int) -> np.ndarray:
    """(clusters,) about how long each cluster speaks: its columns' active frames over all chunks, each
    frame weighted by the share of a chunk it stands for (a second of speech sits in duration/step chunks).
    ``hard``: (num_chunks, columns) cluster per column; ``data``: (num_chunks, num_frames, columns)."""
    frames = data.sum(axis=1)  # (num_chunks, columns) active frames
    weight = chunks.step / data.shape[1]  # seconds per frame, divided by the chunks covering it
    seconds = np.zeros(clusters)
    np.add.at(seconds, hard[hard >= 0], frames[hard >= 0] * weight)
    return seconds


def merge_brief_talkers(hard: np.ndarray, centroids: np.ndarray, seconds: np.ndarray, min_seconds: float
                        ) -> tuple[np.ndarray, np.ndarray]:
    """One channel's clusters with every talker heard for less than ``min_seconds`` merged into the
    closest (cosine) of the others, the briefest first, while more than one is left: (hard, centroids)
    renumbered. A one-talker channel's outliers (a backchannel over the other party, a tone's remnant)
    form such brief clusters; a supervisor joining on the agent's line talks for longer."""
    hard, seconds, alive = hard.copy(), seconds.astype(float), list(range(len(centroids)))
    unit = centroids / np.maximum(np.linalg.norm(centroids, axis=-1, keepdims=True), 1e-12)
    for k in np.argsort(seconds, kind="stable"):
        if len(alive) == 1 or seconds[k] >= min_seconds:
            break
        alive.remove(k)
        target = alive[int(np.argmax(unit[alive] @ unit[k]))]
        hard[hard == k] = target
        seconds[target] += seconds[k]
    renumber = np.full(len(centroids), -1, dtype=np.int64)
    renumber[alive] = np.arange(len(alive))
    return np.where(hard >= 0, renumber[np.maximum(hard, 0)], hard), centroids[alive]


def cluster_channels(clustering: Clustering, embeddings: np.ndarray, segmentation: ChannelSegmentation,
                     num_speakers: int | None = None, min_speakers: int | None = None,
                     max_speakers: int | None = None, min_talker_seconds: float = 0.0
                     ) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Clustering within each channel: (hard (num_chunks, columns), -2 = none; centroids (K, dimension);
    the channel of each of the K clusters), clusters numbered channel after channel. Unless the speaker
    count (or a minimum above one per channel) is given, a channel's talkers heard for less than
    ``min_talker_seconds`` join its closest one."""
    num_chunks, _, num_columns = segmentation.data.shape
    hard = np.full((num_chunks, num_columns), -2, dtype=np.int64)
    talking = [c for c in np.unique(segmentation.channels)
               if segmentation.data[:, :, segmentation.channels == c].sum() > 0]
    num, low, high = channel_bounds(num_speakers, min_speakers, max_speakers, len(talking))
    counted = num_speakers is not None or (min_speakers or 1) > len(talking)  # the user's count holds
    centroids, owners = [], []
    for channel in talking:
        mine = np.flatnonzero(segmentation.channels == channel)
        found, _, middles = clustering.cluster(
            embeddings[:, mine], segmentation.data[:, :, mine], num_clusters=num,
            min_clusters=1 if low is None else low, max_clusters=np.inf if high is None else high)
        clusters = max(len(middles), int(found.max(initial=-1)) + 1)  # a label may have no centroid row
        middles = np.vstack([middles, np.zeros((clusters - len(middles), middles.shape[-1]), middles.dtype)])
        if not counted and clusters > 1:
            seconds = talker_seconds(found, segmentation.data[:, :, mine], segmentation.window, clusters)
            found, middles = merge_brief_talkers(found, middles, seconds, min_talker_seconds)
        hard[:, mine] = np.where(found >= 0, found + len(owners), found)
        centroids.append(middles)
        owners.extend([int(channel)] * len(middles))
    stacked = np.concatenate(centroids) if centroids else np.zeros((0, embeddings.shape[-1]), np.float32)
    return hard, stacked, owners
