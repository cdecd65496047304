"""condensed_distances: scipy's pdist, bit for bit, from several threads."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from diarization.clustering.distances import MIN_PARALLEL, available_workers, condensed_distances, row_blocks


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("n", [1, 2, 7, MIN_PARALLEL + 333])
@pytest.mark.parametrize("workers", [1, 2, 3])
def test_equals_pdist_bit_for_bit(metric, n, workers) -> None:
    x = np.random.default_rng(n).standard_normal((n, 24)).astype(np.float32)
    np.testing.assert_array_equal(condensed_distances(x, metric, workers=workers), pdist(x.astype(np.float64), metric))


def test_row_blocks_cover_every_row_once_with_balanced_pairs() -> None:
    n = 5000
    blocks = row_blocks(n, 8)
    assert blocks[0][0] == 0 and blocks[-1][1] == n
    assert all(a[1] == b[0] for a, b in itertools.pairwise(blocks))
    pairs = [sum(n - 1 - i for i in range(a, b)) for a, b in blocks]
    assert sum(pairs) == n * (n - 1) // 2
    assert max(pairs) < 1.2 * n * (n - 1) / 2 / len(blocks)
    assert sum(b - a for a, b in row_blocks(3, 8)) == 3  # more blocks asked than rows


def test_workers_follow_omp_num_threads(monkeypatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert available_workers() == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "")
    assert available_workers() >= 1
