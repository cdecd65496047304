"""Pairwise distances for hierarchical clustering: scipy's ``pdist``, spread over CPU threads.

The AHC of both clusterings starts from the condensed distance matrix of up to several thousand
embeddings, which scipy computes on one thread. ``condensed_distances`` returns the very same array (the
same scipy kernel computes every pair; ``cdist`` and ``pdist`` share it, which tests/.../test_distances.py
checks bit for bit), filling blocks of rows from a thread pool: scipy releases the GIL in its loops.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy.spatial.distance import cdist, pdist

MIN_PARALLEL = 1024  # below this many observations one thread is quicker than starting several
BLOCKS_PER_WORKER = 4  # more blocks than threads keeps them all busy until the end


def available_workers() -> int:
    """Threads to use: ``OMP_NUM_THREADS`` when set (Ray sets it per task), else the CPUs this process may use."""
    setting = os.environ.get("OMP_NUM_THREADS", "")
    if setting.isdigit() and int(setting) > 0:
        return int(setting)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def row_blocks(n: int, blocks: int) -> list[tuple[int, int]]:
    """Split rows 0..n-1 of a condensed matrix into up to ``blocks`` ranges holding about equal pair counts."""
    pairs_before = np.cumsum(np.arange(n - 1, -1, -1))  # pairs of rows 0..i
    targets = pairs_before[-1] * np.arange(1, blocks) / blocks
    cuts = np.unique(np.concatenate([[0], np.searchsorted(pairs_before, targets) + 1, [n]]))
    return [(int(a), int(b)) for a, b in itertools.pairwise(cuts) if a < b]


def condensed_distances(x: np.ndarray, metric: str = "euclidean", workers: int | None = None) -> np.ndarray:
    """``scipy.spatial.distance.pdist(x, metric)``, bit for bit, computed by ``workers`` threads."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    n = len(x)
    workers = available_workers() if workers is None else workers
    if workers < 2 or n < MIN_PARALLEL:
        return pdist(x, metric)
    out = np.empty(n * (n - 1) // 2, dtype=np.float64)

    def fill(rows: tuple[int, int]) -> None:
        first, last = rows
        block = cdist(x[first:last], x[first + 1 :], metric)  # row i holds pairs (i, k) for k > first
        for i in range(first, last):
            offset = i * n - i * (i + 1) // 2  # where the pairs (i, i+1..n-1) start in condensed order
            out[offset : offset + n - i - 1] = block[i - first, i - first :]

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(fill, row_blocks(n, workers * BLOCKS_PER_WORKER)))
    return out
