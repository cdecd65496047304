"""VBx: agglomerative initialisation + variational Bayes clustering of PLDA features.

The model (Landini et al., "Bayesian HMM clustering of x-vector sequences (VBx)", 2022) in the
GMM flavour community-1 uses (no HMM transitions): each of S speakers has a latent mean ``y_s`` with
prior N(0, diag(phi)); features of speaker s are N(y_s, I). ``Fa`` scales the data statistics and
``Fb`` the prior; speaker weights ``pi`` are re-estimated so that redundant speakers fade to ~0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.special import logsumexp, softmax

from .distances import condensed_distances

# community-1 settings
AHC_THRESHOLD = 0.6
FA = 0.07
FB = 0.8
MAX_ITERS = 20
EPSILON = 1e-4
INIT_SMOOTHING = 7.0
PI_FLOOR = 1e-8  # added to pi before its log
MIN_SPEAKER_PI = 1e-7  # speakers whose final weight is not above this are dropped


def ahc_init(embeddings: np.ndarray, threshold: float = AHC_THRESHOLD) -> np.ndarray:
    """Centroid-linkage AHC of length-normalised embeddings, cut at ``threshold``: labels 0..K-1.

    Needs at least two embeddings (scipy's linkage does).
    """
    normed = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    dendrogram = linkage(condensed_distances(normed), method="centroid")
    labels = fcluster(dendrogram, threshold, criterion="distance") - 1
    return np.unique(labels, return_inverse=True)[1]


@dataclass(frozen=True, eq=False)
class VBxResult:
    gamma: np.ndarray  # (n, S) responsibilities
    pi: np.ndarray  # (S,) speaker weights
    elbo: list[float]  # objective after each iteration


def vbx(
    features: np.ndarray,
    phi: np.ndarray,
    gamma: np.ndarray,
    pi: np.ndarray | None = None,
    Fa: float = FA,
    Fb: float = FB,
    max_iters: int = MAX_ITERS,
    epsilon: float = EPSILON,
) -> VBxResult:
    """Run VB iterations from responsibilities ``gamma`` (n, S); ``pi`` defaults to uniform.

    Stops after ``max_iters`` or once the ELBO improves by less than ``epsilon``.
    """
    dim = features.shape[1]
    num_speakers = gamma.shape[1]
    pi = np.full(num_speakers, 1.0 / num_speakers) if pi is None else np.asarray(pi, dtype=np.float64)
    # per-feature constant of the log-likelihood, and features scaled to unit prior variance
    const = -0.5 * (np.sum(features**2, axis=1, keepdims=True) + dim * np.log(2 * np.pi))
    rho = features * np.sqrt(phi)
    ratio = Fa / Fb
    elbo: list[float] = []
    for it in range(max_iters):
        # M-step: posterior of each speaker mean (precision 1 + ratio * N_s * phi)
        inv_l = 1.0 / (1 + ratio * gamma.sum(axis=0, keepdims=True).T * phi)  # (S, dim)
        alpha = ratio * inv_l * gamma.T.dot(rho)  # (S, dim)
        # E-step: expected log-likelihood of each feature under each speaker
        log_p = Fa * (rho.dot(alpha.T) - 0.5 * (inv_l + alpha**2).dot(phi) + const)  # (n, S)
        log_pi = np.log(pi + PI_FLOOR)
        log_px = logsumexp(log_p + log_pi, axis=-1)
        gamma = np.exp(log_p + log_pi - log_px[:, None])
        pi = gamma.sum(axis=0)
        pi = pi / pi.sum()
        value = np.sum(log_px, axis=0) + Fb * 0.5 * np.sum(np.log(inv_l) - inv_l - alpha**2 + 1)
        elbo.append(float(value))
        if it > 0 and value - elbo[-2] < epsilon:
            break
    return VBxResult(gamma=gamma, pi=pi, elbo=elbo)


def initial_responsibilities(labels: np.ndarray, smoothing: float = INIT_SMOOTHING) -> np.ndarray:
    """One-hot AHC labels softened by a softmax of temperature 1/smoothing (hard when < 0)."""
    labels = np.asarray(labels).astype(int)
    one_hot = np.zeros((len(labels), labels.max() + 1))
    one_hot[np.arange(len(labels)), labels] = 1.0
    return one_hot if smoothing < 0 else softmax(one_hot * smoothing, axis=1)


def cluster_vbx(
    ahc_labels: np.ndarray,
    features: np.ndarray,
    phi: np.ndarray,
    Fa: float = FA,
    Fb: float = FB,
    max_iters: int = MAX_ITERS,
    init_smoothing: float = INIT_SMOOTHING,
) -> tuple[np.ndarray, np.ndarray]:
    """VBx initialised from AHC labels: (gamma (n, S), pi (S,)), S = number of AHC clusters."""
    gamma = initial_responsibilities(ahc_labels, init_smoothing)
    result = vbx(features, phi, gamma, Fa=Fa, Fb=Fb, max_iters=max_iters)
    return result.gamma, result.pi


def vbx_centroids(gamma: np.ndarray, pi: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
    """Responsibility-weighted means of the raw embeddings for the speakers VBx kept (pi > 1e-7)."""
    weights = gamma[:, pi > MIN_SPEAKER_PI]
    return weights.T @ embeddings / weights.sum(0, keepdims=True).T
