"""Speaker runs: each stretch of uninterrupted activity of a local speaker inside a chunk, on its own.

The segmentation model tracks up to three local speakers per 10 s chunk, but when turns alternate quickly
(calls, telephone speech, similar voices) one local speaker's track often holds two people: a turn of
one, a pause, a turn of the other. Clustering whole tracks then gives each mixed track one label. Cut at
its pauses, every run of a track is (nearly always) one person, so the fast mode embeds and clusters runs
instead of tracks: on the dev calls this takes the confusion of mono telephone calls from 13.4% to about
1% of the speech (``benchmarks/der.py``).
"""

from __future__ import annotations

import numpy as np


def split_runs(binarized: np.ndarray) -> np.ndarray:
    """(C, F, S) 0/1 local activities -> (C, F, R) 0/1: one column per run of a local speaker.

    Columns are ordered by local speaker, then by time; R is the largest number of runs in a chunk, and
    chunks with fewer runs have all-zero columns after theirs. The sum over columns (the number of active
    speakers of each frame) is unchanged. Each chunk's columns depend on that chunk alone, so splitting
    chunks in groups gives the same columns as splitting them all at once.
    """
    data = np.asarray(binarized)
    num_chunks, num_frames, _ = data.shape
    active = np.nan_to_num(data) > 0
    starts = active & ~np.pad(active, ((0, 0), (1, 0), (0, 0)))[:, :-1]  # (C, F, S): a run begins here
    runs_of_speaker = starts.sum(axis=1)  # (C, S)
    first_column = np.cumsum(runs_of_speaker, axis=1) - runs_of_speaker  # (C, S): columns before speaker s
    width = max(1, int(runs_of_speaker.sum(axis=1).max(initial=0)))
    run_index = np.cumsum(starts, axis=1) - 1  # (C, F, S): which run of its speaker a frame belongs to
    chunk, frame, speaker = np.nonzero(active)
    column = first_column[chunk, speaker] + run_index[chunk, frame, speaker]
    out = np.zeros((num_chunks, num_frames, width), dtype=data.dtype)
    out[chunk, frame, column] = data[chunk, frame, speaker]
    return out


def pad_columns(arrays: list[np.ndarray], axis: int, fill: float) -> list[np.ndarray]:
    """The arrays widened along ``axis`` to the widest of them, new entries ``fill``."""
    width = max(a.shape[axis] for a in arrays)
    padded = []
    for a in arrays:
        pad = [(0, 0)] * a.ndim
        pad[axis] = (0, width - a.shape[axis])
        padded.append(np.pad(a, pad, constant_values=fill))
    return padded
