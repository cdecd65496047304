"""Compact sets of file ids for multi-million-row jobs: 64-bit hashes kept in sorted NumPy runs.

A Python ``set`` of ten million id strings costs gigabytes; the same ids as sorted ``uint64`` hashes
cost 80 MB. Membership is a binary search per run. Two distinct ids share a 64-bit hash with a
probability of about n^2 / 2^65 (3e-6 for ten million ids), which we accept: such an id would be
treated as already seen.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numpy as np


def id_hash(file_id: str) -> int:
    """A stable 64-bit hash of a file id (the same on every machine and Python run)."""
    return int.from_bytes(hashlib.blake2b(file_id.encode("utf-8"), digest_size=8).digest(), "little")


def id_hashes(file_ids: Iterable[str]) -> np.ndarray:
    """``id_hash`` of each id, as a uint64 array."""
    return np.fromiter((id_hash(i) for i in file_ids), dtype=np.uint64)


class HashSet64:
    """A growable set of uint64 hashes stored as a few sorted arrays (a log-structured merge).

    Adding is amortised O(log n) per item; memory is 8 bytes per item plus the current small run.
    """

    def __init__(self, hashes: Iterable[int] | np.ndarray = ()) -> None:
        self._runs: list[np.ndarray] = []
        initial = np.unique(np.asarray(list(hashes) if not isinstance(hashes, np.ndarray) else hashes,
                                       dtype=np.uint64))
        if len(initial):
            self._runs.append(initial)

    def __len__(self) -> int:
        return int(sum(len(run) for run in self._runs))

    @property
    def nbytes(self) -> int:
        return int(sum(run.nbytes for run in self._runs))

    def contains(self, hashes: Sequence[int] | np.ndarray) -> np.ndarray:
        """Boolean mask: which of ``hashes`` are in the set."""
        query = np.asarray(hashes, dtype=np.uint64)
        found = np.zeros(len(query), dtype=bool)
        for run in self._runs:
            position = np.searchsorted(run, query)
            inside = position < len(run)
            found[inside] |= run[position[inside]] == query[inside]
        return found

    def __contains__(self, value: int) -> bool:
        return bool(self.contains([value])[0])

    def add_new(self, hashes: Sequence[int] | np.ndarray) -> np.ndarray:
        """Add ``hashes``; return a mask of those that were new (the first of equal ones in the batch)."""
        query = np.asarray(hashes, dtype=np.uint64)
        if len(query) == 0:
            return np.zeros(0, dtype=bool)
        first = np.zeros(len(query), dtype=bool)
        _, index = np.unique(query, return_index=True)
        first[index] = True
        new = first & ~self.contains(query)
        if new.any():
            self._push(np.sort(query[new]))
        return new

    def add(self, hashes: Sequence[int] | np.ndarray) -> None:
        """Add ``hashes`` (duplicates are ignored)."""
        self.add_new(hashes)

    def _push(self, run: np.ndarray) -> None:
        self._runs.append(run)
        # keep run sizes decreasing geometrically: O(log n) runs, each item merged O(log n) times
        while len(self._runs) > 1 and len(self._runs[-1]) * 2 >= len(self._runs[-2]):
            last = self._runs.pop()
            self._runs[-1] = np.union1d(self._runs[-1], last)
