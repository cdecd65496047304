"""From clustered chunk segmentations to speaker turns (community-1's post-processing).

1. ``clustered_activations``: in every chunk, each cluster's activity is the max over the local
   speakers assigned to it; these are summed over overlapping chunks (overlap-add, no averaging);
   ``to_diarization``: in every frame the ``count[t]`` clusters with the highest sums are marked active.
2. ``to_turns``: per cluster, frames -> time regions at frame middles (hysteresis at 0.5), optional
   filling of short gaps (``min_duration_off``) and removal of short turns (``min_duration_on``).

``diarize_from_clusters`` runs both, for the regular and the exclusive diarization.

The frame and time arithmetic follows pyannote.core so that turn boundaries match to the bit.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .windows import SlidingWindow, Windowed, num_aggregated_frames


class ClusterTurn(NamedTuple):
    """A turn of one cluster (a global speaker before it is named), in seconds."""

    start: float
    end: float
    cluster: int


SEGMENT_PRECISION = 1e-6  # a region not longer than this is empty (pyannote.core)
ONSET = OFFSET = 0.5


def _merged_speakers(data: np.ndarray, hard_clusters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(C, F, S) float64 activities and (C, S) clusters where local speakers of one chunk sharing a cluster
    are merged into the first (their max; the others get cluster -1), NaN -> 0 after the max."""
    merged = np.array(data, dtype=np.float64)
    clusters = np.array(hard_clusters, dtype=np.int64)
    for later in range(clusters.shape[1]):
        for earlier in range(later):
            same = (clusters[:, earlier] == clusters[:, later]) & (clusters[:, earlier] >= 0)
            if same.any():
                merged[same, :, earlier] = np.maximum(merged[same, :, earlier], merged[same, :, later])
                clusters[same, later] = -1
    return np.nan_to_num(merged, nan=0.0), clusters


def clustered_activations(
    segmentations: Windowed, hard_clusters: np.ndarray, frames: SlidingWindow
) -> Windowed:
    """Overlap-add of the clustered segmentations (sum, frames no chunk covers = 0).

    Equal to ``aggregate`` (``missing=0, skip_average=True``) of the per-chunk, per-cluster max over local
    speakers (same float32 accumulation, chunk by chunk) without holding that (chunks, frames, K) array:
    each chunk adds only the columns of its own clusters (the others would add zeros).
    """
    data = np.asarray(segmentations.data)
    num_chunks, num_frames, _ = data.shape
    chunks = segmentations.window
    frames = SlidingWindow(start=chunks.start, duration=frames.duration, step=frames.step)
    num_clusters = max(int(np.max(hard_clusters, initial=-1)) + 1, 0)
    total = np.zeros((num_aggregated_frames(chunks, num_chunks, frames), num_clusters), dtype=np.float32)
    merged, clusters = _merged_speakers(data, hard_clusters)
    for c in range(num_chunks):
        first = frames.closest_frame(chunks.start + c * chunks.step + 0.5 * frames.duration)
        for s in np.flatnonzero(clusters[c] >= 0):
            column = total[first:first + num_frames, clusters[c, s]]
            column += merged[c, :, s]  # float32 += float64, as the reference's block sum
    return Windowed(total, frames)


def _extent(window: SlidingWindow, n: int) -> tuple[float, float]:
    """pyannote.core's SlidingWindowFeature.extent: (start, end) covered by ``n`` frames.

    Frame i covers [middle_i - step/2, middle_i + step/2], except that the first frame starts at the
    window start.
    """
    first_start = window.start + (0 - 0.5) * window.step + 0.5 * window.duration
    return window.start, first_start + n * window.step


def _crop_loose(window: SlidingWindow, n: int, start: float, end: float) -> tuple[int, int]:
    """Frame range [i, j) of the ``n`` frames intersecting [start, end] (pyannote.core loose crop)."""
    i = int(np.ceil((start - window.duration - window.start) / window.step))
    j = int(np.floor((end - window.start) / window.step)) + 1
    if j < 0 or i >= n:
        return 0, 0
    return max(i, 0), min(j, n)


def _with_columns(act: np.ndarray, width: int) -> np.ndarray:
    """(frames, K) activations with zero columns added up to ``width`` (a count above the clusters found)."""
    return act if act.shape[1] >= width else np.pad(act, ((0, 0), (0, width - act.shape[1])))


def _aligned(activations: Windowed, count: Windowed) -> tuple[np.ndarray, np.ndarray, SlidingWindow]:
    """Activations (with zero columns up to the highest count) and int64 counts over the frames both
    cover (pyannote.core's loose crop of each to their common extent), and the window of those frames."""
    max_count = int(np.max(count.data, initial=0))
    act = _with_columns(np.asarray(activations.data), max_count)
    a_start, a_end = _extent(activations.window, len(act))
    c_start, c_end = _extent(count.window, len(count.data))
    start, end = max(a_start, c_start), min(a_end, c_end)
    ai, aj = _crop_loose(activations.window, len(act), start, end)
    ci, cj = _crop_loose(count.window, len(count.data), start, end)
    counts = np.asarray(count.data)[ci:cj].reshape(cj - ci, -1)[:, 0].astype(np.int64)
    window = activations.window
    window = SlidingWindow(start=window.start + ai * window.step, duration=window.duration, step=window.step)
    return act[ai:aj], counts, window


def leading_clusters(act: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(frames, max count) int64: in row t, the first ``counts[t]`` entries of ``np.argsort(-act[t])``,
    i.e. the reference's ranking of the clusters, ties broken as it breaks them. Later entries are
    unspecified, and -1 past the number of clusters.

    ``np.argsort`` sorts each row on its own, so only the rows that need it are sorted: a frame whose
    count is 1 and whose highest activation is unique takes its ``argmax`` (any sort puts it first).
    """
    num_frames = min(len(act), len(counts))
    act, counts = act[:num_frames], counts[:num_frames]
    width = int(np.max(counts, initial=0))
    order = np.full((num_frames, width), -1, dtype=np.int64)
    if width == 0 or act.shape[1] == 0:
        return order
    best = np.argmax(act, axis=1)
    top = np.take_along_axis(act, best[:, None], axis=1)
    simple = (counts == 1) & (np.count_nonzero(act == top, axis=1) == 1)
    order[simple, 0] = best[simple]
    rest = np.flatnonzero((counts > 0) & ~simple)
    if rest.size:
        ranked = np.argsort(-act[rest], axis=-1)[:, :width]
        order[rest, : ranked.shape[1]] = ranked
    return order


def to_diarization(activations: Windowed, count: Windowed, ranking: np.ndarray | None = None) -> Windowed:
    """Per frame, mark active the ``count[t]`` clusters with the highest activation (0/1 float32).

    Ties are broken as ``np.argsort`` of the negated activations breaks them, as the reference.
    ``ranking``: ``leading_clusters`` of the aligned activations for a count at least this one on every
    frame, when already computed (the exclusive diarization reuses the regular one's).
    """
    act, counts, window = _aligned(activations, count)
    binary = np.zeros_like(act)
    n = min(len(act), len(counts))
    if n and act.shape[1]:
        order = leading_clusters(act, counts) if ranking is None else ranking
        for rank in range(min(int(np.max(counts[:n], initial=0)), act.shape[1])):  # ranks 0 .. count[t] - 1
            frames = np.flatnonzero(counts[:n] > rank)
            binary[frames, order[frames, rank]] = 1
    return Windowed(binary, window)


def frame_middles(window: SlidingWindow, n: int) -> np.ndarray:
    """Middle times of the first ``n`` frames, computed as pyannote.core (0.5 * (start + end))."""
    starts = window.start + np.arange(n) * window.step
    return 0.5 * (starts + (starts + window.duration))


def _active_states(scores: np.ndarray) -> np.ndarray:
    """Hysteresis (onset/offset 0.5) state of every frame; undecided frames keep the previous state."""
    value = scores > ONSET
    decided = value | (scores < OFFSET)
    if decided.all():  # 0/1 input: nothing to carry over
        return value
    decided[0] = True
    last = np.maximum.accumulate(np.where(decided, np.arange(len(scores)), 0))
    return value[last]


def _regions(state: np.ndarray, middles: np.ndarray) -> list[tuple[float, float]]:
    prev = np.concatenate([[False], state[:-1]])
    return _spans(np.flatnonzero(state & ~prev), np.flatnonzero(~state & prev), bool(state[-1]), middles)


def _spans(starts: np.ndarray, stops: np.ndarray, active_at_end: bool, middles: np.ndarray) -> list[tuple[float, float]]:
    """Regions from the frames where activity starts and the first inactive frames after it: from the
    middle of the one to the middle of the other (of the last frame when still active at the end)."""
    if active_at_end:
        stops = np.append(stops, len(middles) - 1)
    out = []
    for i, j in zip(starts.tolist(), stops.tolist()):
        a, b = float(middles[i]), float(middles[j])
        if b - a > SEGMENT_PRECISION:
            out.append((a, b))
    return out


def _binary_regions(active: np.ndarray, middles: np.ndarray) -> list[list[tuple[float, float]]]:
    """Regions of every column of a (frames, K) boolean array, without transposing it: the frames where
    a column changes, found in one pass, alternate start, stop, start... within each column."""
    change = np.empty_like(active)
    change[0] = active[0]
    np.not_equal(active[1:], active[:-1], out=change[1:])
    frames, columns = np.nonzero(change)
    order = np.argsort(columns, kind="stable")  # by column, frames still in order
    frames, columns = frames[order], columns[order]
    bounds = np.searchsorted(columns, np.arange(active.shape[1] + 1))
    regions = []
    for k in range(active.shape[1]):
        edges = frames[bounds[k]:bounds[k + 1]]
        regions.append(_spans(edges[0::2], edges[1::2], len(edges) % 2 == 1, middles))
    return regions


def _support(regions: list[tuple[float, float]], collar: float) -> list[tuple[float, float]]:
    """pyannote.core Timeline.support: merge sorted regions whose gap is empty or shorter than collar."""
    if not regions:
        return []
    merged = []
    cur_start, cur_end = regions[0]
    for start, end in regions:
        gap = max(start, cur_start) - min(end, cur_end)
        gap = gap if gap > SEGMENT_PRECISION else 0.0
        if gap == 0.0 or gap < collar:
            cur_start, cur_end = min(cur_start, start), max(cur_end, end)
        else:
            merged.append((cur_start, cur_end))
            cur_start, cur_end = start, end
    merged.append((cur_start, cur_end))
    return merged


def to_turns(discrete: Windowed, min_duration_on: float = 0.0, min_duration_off: float = 0.0
             ) -> list[ClusterTurn]:
    """(start, end, cluster) turns of a (num_frames, K) 0/1 diarization, sorted by (start, end, cluster).

    Turns start and end at frame middles; same-cluster gaps shorter than ``min_duration_off`` are
    filled, then turns shorter than ``min_duration_on`` are dropped.
    """
    data = np.asarray(discrete.data)
    num_frames = data.shape[0]
    if num_frames < 2:
        return []
    middles = frame_middles(discrete.window, num_frames)
    if np.all((data == 0) | (data == 1)):  # 0/1 (a discrete diarization): no hysteresis needed
        per_cluster = _binary_regions(data > ONSET, middles)
    else:
        per_cluster = [_regions(_active_states(row), middles) for row in np.ascontiguousarray(data.T)]
    turns: list[ClusterTurn] = []
    for k, regions in enumerate(per_cluster):
        if min_duration_off > 0.0:
            regions = _support(_support(sorted(regions), min_duration_off), 0.0)
        if min_duration_on > 0.0:
            regions = [
                (a, b) for a, b in regions if (b - a if b - a > SEGMENT_PRECISION else 0.0) >= min_duration_on
            ]
        turns.extend(ClusterTurn(a, b, k) for a, b in regions)
    return sorted(turns)


def diarize_from_clusters(
    segmentations: Windowed,
    hard_clusters: np.ndarray,
    count: Windowed,
    max_speakers: float = math.inf,
    min_duration_off: float = 0.0,
    exclusive_min_duration_off: float | None = None,
) -> tuple[list[ClusterTurn], list[ClusterTurn]]:
    """community-1's last steps: (turns, exclusive turns) from binarized segmentations and clusters.

    Local speakers silent in their chunk are ignored (-2), the count is capped at ``max_speakers``
    (and at 1 for the exclusive diarization, where at most one speaker is active per frame).
    """
    counts = np.asarray(count.data)
    if counts.size == 0 or np.nanmax(counts) == 0:
        return [], []
    seg = np.asarray(segmentations.data)
    hard = np.array(hard_clusters, dtype=np.int64, copy=True)
    hard[np.sum(seg, axis=1) == 0] = -2
    capped = np.minimum(counts, max_speakers).astype(np.int8)
    activations = clustered_activations(segmentations, hard, count.window)
    ranking = leading_clusters(*_aligned(activations, Windowed(capped, count.window))[:2])
    regular = to_diarization(activations, Windowed(capped, count.window), ranking)
    # the exclusive count (at most 1) is never above the regular one: the same ranking serves
    exclusive = to_diarization(activations, Windowed(np.minimum(capped, 1).astype(np.int8), count.window), ranking)
    return (
        to_turns(regular, min_duration_off=min_duration_off),
        to_turns(exclusive, min_duration_off=min_duration_off if exclusive_min_duration_off is None
                 else exclusive_min_duration_off),
    )
