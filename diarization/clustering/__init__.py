"""Clustering of chunk-level speaker embeddings into global speakers.

Two implementations share one contract (:class:`Clustering`): community-1's :class:`VBxClustering`
(needs its PLDA) and the PLDA-free :class:`AgglomerativeClustering`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..windows import Windowed
from .agglomerative import AgglomerativeClustering
from .assignment import resolve_num_clusters, resolve_num_speakers, select_training
from .plda import PLDAModel, load_plda
from .vbx_clustering import VBxClustering

__all__ = [
    "AgglomerativeClustering",
    "Clustering",
    "PLDAModel",
    "VBxClustering",
    "load_plda",
    "make_clustering",
    "resolve_num_clusters",
    "resolve_num_speakers",
    "select_training",
]


@runtime_checkable
class Clustering(Protocol):
    """Maps (num_chunks, num_speakers, dim) embeddings to global clusters."""

    def cluster(
        self,
        embeddings: np.ndarray,
        segmentations: np.ndarray | Windowed,
        num_clusters: int | None = None,
        min_clusters: int = 1,
        max_clusters: float = math.inf,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(hard (C, S) int, -2 = none; soft (C, S, K); centroids (K, dim)) from binarized segmentations."""
        ...


_VBX_PARAMS = {"threshold", "Fa", "Fb", "max_iters", "constrained_assignment", "max_train_embeddings"}
_AHC_PARAMS = {"threshold", "min_cluster_size", "method", "constrained_assignment", "max_train_embeddings",
               "min_active_ratio", "keep_distinct", "min_distinct_size", "centre"}


def make_clustering(
    name: str, params: Mapping[str, Any] | None = None, plda: PLDAModel | None = None
) -> Clustering:
    """Build ``"VBxClustering"`` (needs ``plda``) or ``"AgglomerativeClustering"`` from its parameters."""
    params = dict(params or {})
    if name == "VBxClustering":
        if plda is None:
            raise ValueError("VBxClustering needs a PLDA model")
        unknown = set(params) - _VBX_PARAMS
        if unknown:
            raise ValueError(f"unknown VBxClustering parameter(s): {', '.join(sorted(unknown))}")
        return VBxClustering(plda, **params)
    if name == "AgglomerativeClustering":
        unknown = set(params) - _AHC_PARAMS
        if unknown:
            raise ValueError(f"unknown AgglomerativeClustering parameter(s): {', '.join(sorted(unknown))}")
        return AgglomerativeClustering(**params)
    raise ValueError(f"unknown clustering {name!r} (VBxClustering or AgglomerativeClustering)")
