"""Sliding windows over time and overlap-add aggregation of chunk-level scores.

The arithmetic follows pyannote.core's ``SlidingWindow`` exactly (frame centres, ``closest_frame``
rounding), because frame indices decide which chunk frames line up in the final diarization.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SlidingWindow:
    """Windows of ``duration`` seconds every ``step`` seconds, the first one starting at ``start``."""

    start: float = 0.0
    duration: float = 0.030
    step: float = 0.010

    def __getitem__(self, i: int) -> tuple[float, float]:
        """(start, end) of window ``i``."""
        start = self.start + i * self.step
        return start, start + self.duration

    def closest_frame(self, t: float) -> int:
        """Index of the window whose middle is closest to time ``t``."""
        return int(np.rint((t - self.start - 0.5 * self.duration) / self.step))

    def middles(self, n: int) -> np.ndarray:
        """Middle times of the first ``n`` windows."""
        return self.start + np.arange(n) * self.step + 0.5 * self.duration


@dataclass
class Windowed:
    """An array whose first axis is indexed by the positions of a sliding window."""

    data: np.ndarray
    window: SlidingWindow

    def __len__(self) -> int:
        return len(self.data)


def num_aggregated_frames(chunks: SlidingWindow, num_chunks: int, frames: SlidingWindow) -> int:
    """Number of output frames covering ``num_chunks`` chunks (pyannote's ``Inference.aggregate``)."""
    frames = SlidingWindow(start=chunks.start, duration=frames.duration, step=frames.step)
    end = chunks.start + chunks.duration + (num_chunks - 1) * chunks.step + 0.5 * frames.duration
    return frames.closest_frame(end) + 1


def aggregate(
    scores: Windowed,
    frames: SlidingWindow,
    hamming: bool = False,
    missing: float = np.nan,
    skip_average: bool = False,
    epsilon: float = 1e-12,
) -> Windowed:
    """Overlap-add (num_chunks, num_frames, num_classes) chunk scores into (num_frames_total, num_classes).

    NaN scores do not contribute; frames no chunk covers get ``missing``. With ``skip_average`` the sum
    is returned instead of the mean. Same float32 values as the reference's chunk-by-chunk loop: that loop
    itself, or, for unweighted integer scores (speaker counts), all chunks summed at once, which is exact.
    """
    data = np.asarray(scores.data)
    num_chunks, num_frames_per_chunk, num_classes = data.shape
    chunks = scores.window
    frames = SlidingWindow(start=chunks.start, duration=frames.duration, step=frames.step)
    weight = (
        np.hamming(num_frames_per_chunk).reshape(-1, 1) if hamming else np.ones((num_frames_per_chunk, 1))
    )
    num_frames = num_aggregated_frames(chunks, num_chunks, frames)
    firsts = [
        frames.closest_frame(chunks.start + c * chunks.step + 0.5 * frames.duration) for c in range(num_chunks)
    ]
    if not hamming and _small_integers(data, num_chunks):
        total, count = _integer_overlap_add(data, np.asarray(firsts, dtype=np.int64), num_frames)
        covered = count
    else:
        total = np.zeros((num_frames, num_classes), dtype=np.float32)
        count = np.zeros((num_frames, num_classes), dtype=np.float32)
        covered = np.zeros((num_frames, num_classes), dtype=np.float32)
        for c, first in enumerate(firsts):
            score = data[c]
            mask = 1 - np.isnan(score)
            score = np.nan_to_num(score, nan=0.0)
            span = slice(first, first + num_frames_per_chunk)
            total[span] += score * mask * weight
            count[span] += mask * weight
            covered[span] = np.maximum(covered[span], mask)
    average = total if skip_average else total / np.maximum(count, epsilon)
    average[covered == 0.0] = missing
    return Windowed(average, frames)


def _small_integers(data: np.ndarray, num_chunks: int) -> bool:
    """Whether every finite score is an integer small enough that float32 sums of ``num_chunks`` of them
    are exact (binarized segmentations, speaker counts): then the order of the additions does not matter."""
    scores = data[~np.isnan(data)]
    return scores.size == 0 or bool(
        np.isfinite(scores).all()
        and np.abs(scores).max() * num_chunks < 2**24
        and np.array_equal(scores, np.round(scores))
    )


def _integer_overlap_add(data: np.ndarray, firsts: np.ndarray, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Unweighted overlap-add of integer scores all at once: (sums, counts of non-NaN scores), float32.

    Same values as the chunk-by-chunk float32 loop: every partial sum is an integer float32 holds exactly.
    """
    _, frames_per_chunk, num_classes = data.shape
    index = (firsts[:, None] + np.arange(frames_per_chunk)).ravel()
    total = np.zeros((num_frames, num_classes), dtype=np.float32)
    count = np.zeros((num_frames, num_classes), dtype=np.float32)
    for k in range(num_classes):
        scores = data[:, :, k].ravel()
        valid = ~np.isnan(scores)
        total[:, k] = np.bincount(index, weights=np.where(valid, scores, 0.0), minlength=num_frames)[:num_frames]
        count[:, k] = np.bincount(index, weights=valid, minlength=num_frames)[:num_frames]
    return total, count
