"""Overlap-add aggregation: the all-at-once path for integer scores equals the chunk-by-chunk float32 loop."""

from __future__ import annotations

import numpy as np
import pytest

from diarization.windows import SlidingWindow, Windowed, aggregate, num_aggregated_frames


def loop_aggregate(scores: Windowed, frames: SlidingWindow, hamming: bool, missing: float,
                   skip_average: bool) -> np.ndarray:
    """The reference's loop (pyannote's Inference.aggregate), written out."""
    data = scores.data
    num_chunks, per_chunk, num_classes = data.shape
    chunks = scores.window
    frames = SlidingWindow(start=chunks.start, duration=frames.duration, step=frames.step)
    weight = np.hamming(per_chunk).reshape(-1, 1) if hamming else np.ones((per_chunk, 1))
    n = num_aggregated_frames(chunks, num_chunks, frames)
    total, count, covered = (np.zeros((n, num_classes), dtype=np.float32) for _ in range(3))
    for c in range(num_chunks):
        mask = 1 - np.isnan(data[c])
        first = frames.closest_frame(chunks.start + c * chunks.step + 0.5 * frames.duration)
        span = slice(first, first + per_chunk)
        total[span] += np.nan_to_num(data[c], nan=0.0) * mask * weight
        count[span] += mask * weight
        covered[span] = np.maximum(covered[span], mask)
    out = total if skip_average else total / np.maximum(count, 1e-12)
    out[covered == 0.0] = missing
    return out


@pytest.mark.parametrize("hamming", [False, True])
@pytest.mark.parametrize("skip_average", [False, True])
@pytest.mark.parametrize("integers", [True, False])
def test_aggregate_equals_the_reference_loop(hamming, skip_average, integers) -> None:
    rng = np.random.default_rng(7)
    data = rng.integers(0, 4, size=(40, 59, 2)).astype(np.float32) if integers else rng.random((40, 59, 2), np.float32)
    data[3, 10:20, 0] = np.nan  # a chunk part no model covered
    data[39, :, 1] = np.nan
    scores = Windowed(data, SlidingWindow(start=0.0, duration=10.0, step=0.9973))  # irregular frame offsets
    frames = SlidingWindow(start=0.0, duration=0.0619, step=0.01697)
    ours = aggregate(scores, frames, hamming=hamming, missing=-1.0, skip_average=skip_average)
    expected = loop_aggregate(scores, frames, hamming, -1.0, skip_average)
    assert ours.data.dtype == np.float32
    np.testing.assert_array_equal(ours.data, expected)


def test_aggregate_of_nothing_but_nan_is_missing() -> None:
    data = np.full((3, 5, 1), np.nan, dtype=np.float32)
    out = aggregate(Windowed(data, SlidingWindow(0.0, 1.0, 0.5)), SlidingWindow(0.0, 0.2, 0.2), missing=0.0)
    assert not out.data.any()
