"""community-1's clustering: training selection -> AHC -> PLDA + VBx -> centroids -> assignment."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..windows import Windowed
from .assignment import MAX_TRAIN_EMBEDDINGS, assign, fallback_centroid, select_training, spread_subset
from .kmeans import kmeans
from .plda import PLDAModel
from .vbx import AHC_THRESHOLD, FA, FB, MAX_ITERS, ahc_init, cluster_vbx, vbx_centroids


@dataclass(frozen=True, eq=False)
class VBxFit:
    """What VBx learnt from the training embeddings (kept for inspection and parity tests)."""

    train_embeddings: np.ndarray  # (n, dim)
    chunk_idx: np.ndarray  # (n,)
    speaker_idx: np.ndarray  # (n,)
    ahc_labels: np.ndarray | None = None  # (n,)
    features: np.ndarray | None = None  # (n, lda_dimension) PLDA features
    gamma: np.ndarray | None = None  # (n, S)
    pi: np.ndarray | None = None  # (S,)


@dataclass(frozen=True)
class VBxClustering:
    """VBx clustering of PLDA-transformed embeddings, as community-1 (threshold 0.6, Fa 0.07, Fb 0.8)."""

    plda: PLDAModel
    threshold: float = AHC_THRESHOLD
    Fa: float = FA
    Fb: float = FB
    max_iters: int = MAX_ITERS
    constrained_assignment: bool = True
    max_train_embeddings: int | None = MAX_TRAIN_EMBEDDINGS  # None: exactly community-1 at any length

    def fit(self, embeddings: np.ndarray, segmentations: np.ndarray | Windowed) -> VBxFit:
        """Select the training embeddings and run AHC + VBx on them (no VBx below two embeddings).

        Beyond ``max_train_embeddings`` an evenly spread subset of them trains (bounded memory/time).
        """
        train, chunk_idx, speaker_idx = select_training(embeddings, segmentations)
        keep = spread_subset(len(train), self.max_train_embeddings)
        if keep is not None:
            train, chunk_idx, speaker_idx = train[keep], chunk_idx[keep], speaker_idx[keep]
        if len(train) < 2:
            return VBxFit(train, chunk_idx, speaker_idx)
        ahc_labels = ahc_init(train, self.threshold)
        features = self.plda(train)
        gamma, pi = cluster_vbx(
            ahc_labels, features, self.plda.phi, Fa=self.Fa, Fb=self.Fb, max_iters=self.max_iters
        )
        return VBxFit(train, chunk_idx, speaker_idx, ahc_labels, features, gamma, pi)

    def cluster(
        self,
        embeddings: np.ndarray,
        segmentations: np.ndarray | Windowed,
        num_clusters: int | None = None,
        min_clusters: int = 1,
        max_clusters: float = math.inf,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cluster (num_chunks, num_speakers, dim) embeddings given binarized segmentations.

        Returns hard clusters (num_chunks, num_speakers) int64 (-2: no cluster), soft clusters
        (num_chunks, num_speakers, K) scores and centroids (K, dim). When VBx finds fewer than
        ``min_clusters`` or more than ``max_clusters`` speakers, or not ``num_clusters``, the training
        embeddings are re-clustered by K-means and assigned by argmax (no matching constraint).
        """
        fit = self.fit(embeddings, segmentations)
        num_chunks, num_speakers, _ = embeddings.shape
        if fit.gamma is None:
            hard = np.zeros((num_chunks, num_speakers), dtype=np.int64)
            soft = np.ones((num_chunks, num_speakers, 1))
            return hard, soft, fallback_centroid(embeddings, fit.train_embeddings)

        centroids = vbx_centroids(fit.gamma, fit.pi, fit.train_embeddings)
        constrained = self.constrained_assignment
        found = centroids.shape[0]
        if found < min_clusters:
            num_clusters = min_clusters
        elif found > max_clusters:
            num_clusters = max_clusters
        if num_clusters and num_clusters != found:
            # forcing a count: constrained matching could itself create extra clusters, so argmax
            constrained = False
            k = int(min(num_clusters, len(fit.train_embeddings)))
            train = fit.train_embeddings
            normed = train / np.linalg.norm(train, axis=1, keepdims=True)
            labels = kmeans(normed, k)
            centroids = np.vstack([np.mean(train[labels == j], axis=0) for j in range(k)])

        hard, soft = assign(embeddings, centroids, segmentations, constrained=constrained)
        return hard, soft, centroids
