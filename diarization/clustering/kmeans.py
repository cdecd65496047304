"""K-means (k-means++ seeding, Lloyd iterations) reproducing the choices of scikit-learn's ``KMeans``
as community-1 calls it (``n_init=3, random_state=42``): same random draws, same seeding rule, same
stopping rules, same handling of empty clusters, same choice among the restarts. Only used when the
caller forces a number of speakers that VBx did not find.
"""

from __future__ import annotations

import numpy as np

MAX_ITER = 300
TOL = 1e-4
N_INIT = 3
SEED = 42


def _sq_distances(points: np.ndarray, data: np.ndarray, data_sq_norms: np.ndarray) -> np.ndarray:
    """(p, n) squared Euclidean distances, clipped at 0."""
    d = -2 * points @ data.T
    d += (points**2).sum(axis=1)[:, None]
    d += data_sq_norms[None, :]
    return np.maximum(d, 0, out=d)


def kmeans_plusplus(
    data: np.ndarray, n_clusters: int, sq_norms: np.ndarray, rng: np.random.RandomState
) -> np.ndarray:
    """Greedy k-means++ seeding (2 + log k candidates per centre): (n_clusters, dim) centres."""
    n = data.shape[0]
    weights = np.ones(n, dtype=data.dtype)
    trials = 2 + int(np.log(n_clusters))
    centers = np.empty((n_clusters, data.shape[1]), dtype=data.dtype)
    first = rng.choice(n, p=weights / weights.sum())
    centers[0] = data[first]
    closest = _sq_distances(centers[0:1], data, sq_norms)[0]
    potential = closest.sum()
    for c in range(1, n_clusters):
        draws = rng.uniform(size=trials) * potential
        candidates = np.searchsorted(np.cumsum(closest), draws)
        np.clip(candidates, None, n - 1, out=candidates)
        dist = np.minimum(closest, _sq_distances(data[candidates], data, sq_norms))
        potentials = dist.sum(axis=1)
        best = int(np.argmin(potentials))
        potential, closest = potentials[best], dist[best]
        centers[c] = data[candidates[best]]
    return centers


def _labels(data: np.ndarray, centers: np.ndarray) -> np.ndarray:
    scores = (centers**2).sum(axis=1)[None, :] - 2 * data @ centers.T
    return np.argmin(scores, axis=1).astype(np.int32)


def _update(data: np.ndarray, centers: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """New centres: means of the assigned points; empty clusters take the farthest points."""
    k, dim = centers.shape
    sums = np.zeros((k, dim))
    np.add.at(sums, labels, data)
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    empty = np.flatnonzero(counts == 0)
    if len(empty):
        far = ((data - centers[labels]) ** 2).sum(axis=1)
        if far.max() > 0:
            order = np.argpartition(far, -len(empty))[: -len(empty) - 1 : -1]
            for new, idx in zip(empty, order):
                sums[labels[idx]] -= data[idx]
                sums[new] = data[idx]
                counts[new] = 1.0
                counts[labels[idx]] -= 1.0
    biggest = int(np.argmax(counts))
    for j in range(k):
        if counts[j] > 0:
            sums[j] *= 1.0 / counts[j]
    for j in range(k):
        if counts[j] <= 0:
            sums[j] = sums[biggest]
    return sums


def lloyd(
    data: np.ndarray, centers: np.ndarray, tol: float, max_iter: int = MAX_ITER
) -> tuple[np.ndarray, float]:
    """Lloyd iterations from ``centers``: (labels, inertia)."""
    labels_old = np.full(len(data), -1, dtype=np.int32)
    strict = False
    for _ in range(max_iter):
        labels = _labels(data, centers)
        new_centers = _update(data, centers, labels)
        shift = ((new_centers - centers) ** 2).sum()
        centers = new_centers
        if np.array_equal(labels, labels_old):
            strict = True
            break
        if shift <= tol:
            break
        labels_old = labels
    if not strict:
        labels = _labels(data, centers)
    inertia = float(((data - centers[labels]) ** 2).sum())
    return labels, inertia


def _same_partition(a: np.ndarray, b: np.ndarray, k: int) -> bool:
    mapping = np.full(k, -1)
    for x, y in zip(a, b):
        if mapping[x] == -1:
            mapping[x] = y
        elif mapping[x] != y:
            return False
    return True


def kmeans(
    data: np.ndarray,
    n_clusters: int,
    n_init: int = N_INIT,
    seed: int = SEED,
    max_iter: int = MAX_ITER,
    tol: float = TOL,
) -> np.ndarray:
    """Cluster (n, dim) points into ``n_clusters`` (<= n): labels (n,) in [0, n_clusters)."""
    x = np.asarray(data, dtype=np.float64)
    if not 1 <= n_clusters <= len(x):
        raise ValueError(f"n_clusters={n_clusters} must be in [1, {len(x)}]")
    tolerance = float(np.mean(np.var(x, axis=0)) * tol) if tol else 0.0
    x = x - x.mean(axis=0)
    sq_norms = (x**2).sum(axis=1)
    rng = np.random.RandomState(seed)
    best_labels, best_inertia = None, None
    for _ in range(n_init):
        centers = kmeans_plusplus(x, n_clusters, sq_norms, rng)
        labels, inertia = lloyd(x, centers, tolerance, max_iter)
        if best_inertia is None or (
            inertia < best_inertia and not _same_partition(labels, best_labels, n_clusters)
        ):
            best_labels, best_inertia = labels, inertia
    return best_labels.astype(np.int64)
