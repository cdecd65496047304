"""Powerset <-> multi-label conversion for powerset segmentation models.

Powerset class ``p`` is a set of at most ``max_set_size`` speakers out of ``num_classes``; classes are
ordered by set size, then lexicographically: with 3 speakers and 2 per frame,
{}, {0}, {1}, {2}, {0,1}, {0,2}, {1,2}. ``mapping[p, s] == 1`` when speaker ``s`` belongs to set ``p``.
All functions work on torch tensors (any device) and, where noted, on NumPy arrays.
"""

from __future__ import annotations

from functools import cache
from itertools import combinations

import numpy as np
import torch


@cache
def powerset_classes(num_classes: int, max_set_size: int) -> tuple[tuple[int, ...], ...]:
    """The speaker sets, in powerset class order."""
    return tuple(s for k in range(max_set_size + 1) for s in combinations(range(num_classes), k))


def num_powerset_classes(num_classes: int, max_set_size: int) -> int:
    """Number of powerset classes, e.g. 7 for (3, 2)."""
    return len(powerset_classes(num_classes, max_set_size))


def powerset_mapping(num_classes: int, max_set_size: int) -> np.ndarray:
    """(num_powerset_classes, num_classes) float32 0/1 membership matrix."""
    sets = powerset_classes(num_classes, max_set_size)
    mapping = np.zeros((len(sets), num_classes), dtype=np.float32)
    for p, members in enumerate(sets):
        mapping[p, list(members)] = 1.0
    return mapping


def _mapping_like(reference: torch.Tensor, num_classes: int, max_set_size: int) -> torch.Tensor:
    return torch.from_numpy(powerset_mapping(num_classes, max_set_size)).to(reference.device)


def to_multilabel(
    powerset: torch.Tensor | np.ndarray, num_classes: int, max_set_size: int, soft: bool = False
) -> torch.Tensor | np.ndarray:
    """(..., num_powerset_classes) scores -> (..., num_classes) float32 multi-label scores.

    Hard (default): the arg-max powerset class (first one on ties) as 0/1 speaker activities, as the
    reference inference does (one-hot of the arg-max times the mapping). Soft: ``exp`` of the
    log-probabilities times the mapping, i.e. each speaker's marginal probability.
    NumPy in, NumPy out; tensors stay on their device.
    """
    if isinstance(powerset, np.ndarray):
        return to_multilabel(torch.from_numpy(powerset), num_classes, max_set_size, soft).numpy()
    mapping = _mapping_like(powerset, num_classes, max_set_size)
    if soft:
        return torch.matmul(torch.exp(powerset.float()), mapping)
    return mapping[torch.argmax(powerset, dim=-1)]


def to_powerset(multilabel: torch.Tensor | np.ndarray, max_set_size: int) -> torch.Tensor | np.ndarray:
    """(..., num_classes) hard multi-label activities -> (..., num_powerset_classes) one-hot int64.

    Each frame goes to the powerset class whose mapping row best matches it (its dot product is
    largest); an active set larger than ``max_set_size`` falls on the first best-matching set.
    """
    if isinstance(multilabel, np.ndarray):
        return to_powerset(torch.from_numpy(multilabel), max_set_size).numpy()
    num_classes = multilabel.shape[-1]
    mapping = _mapping_like(multilabel, num_classes, max_set_size)
    best = torch.argmax(torch.matmul(multilabel.float(), mapping.T), dim=-1)
    return torch.nn.functional.one_hot(best, num_classes=mapping.shape[0])
