"""PLDA front end of VBx: x-vector transform (centering, LDA, length norms) and PLDA projection.

community-1 ships two files in its ``plda/`` folder:

* ``xvec_transform.npz``: ``mean1`` (D,), ``mean2`` (d,), ``lda`` (D, d) with D = 256 (embedding size)
  and d = 128 (LDA size);
* ``plda.npz``: ``mu`` (d,), ``tr`` (d, d), ``psi`` (d,): a PLDA model whose within-class covariance is
  ``inv(tr.T tr)`` and across-class covariance is ``inv((tr.T / psi) tr)``.

The PLDA space is obtained, as in BUT's VBx recipe, by jointly diagonalising those two covariances
(generalised symmetric eigenproblem, eigenvalues in decreasing order): there the within-class
covariance is the identity and the across-class covariance is ``diag(phi)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.linalg import eigh

from ..errors import ModelLoadError

TRANSFORM_FILE = "xvec_transform.npz"
PLDA_FILE = "plda.npz"


@dataclass(frozen=True, eq=False)
class PLDAModel:
    """x-vector transform + PLDA projection, as arrays. Build it with :func:`load_plda`."""

    mean1: np.ndarray  # (D,) centering of raw embeddings
    mean2: np.ndarray  # (d,) centering after LDA
    lda: np.ndarray  # (D, d)
    mu: np.ndarray  # (d,) PLDA mean
    transform: np.ndarray  # (d, d) rows = PLDA-space axes, by decreasing across-class variance
    phi: np.ndarray  # (d,) across-class variances in the PLDA space (decreasing)
    lda_dimension: int = 128

    @property
    def dimension(self) -> int:
        """Size of the raw embeddings this PLDA expects."""
        return int(self.lda.shape[0])

    def __call__(self, embeddings: np.ndarray) -> np.ndarray:
        """(n, D) raw embeddings -> (n, lda_dimension) PLDA features."""
        return plda_features(self, embeddings)


def _l2_rows(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def diagonalize(tr: np.ndarray, psi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Joint diagonalisation of the PLDA covariances: (transform (d, d), phi (d,)), phi decreasing."""
    within = np.linalg.inv(tr.T.dot(tr))
    across = np.linalg.inv((tr.T / psi).dot(tr))
    eigenvalues, eigenvectors = eigh(across, within)  # ascending
    return eigenvectors.T[::-1], eigenvalues[::-1]


def xvec_transform(model: PLDAModel, embeddings: np.ndarray) -> np.ndarray:
    """Center, length-normalise (to sqrt(D)), LDA, center, length-normalise (to sqrt(d))."""
    dim_in, dim_out = model.lda.shape
    x = np.sqrt(dim_in) * _l2_rows(np.asarray(embeddings) - model.mean1)
    y = model.lda.T.dot(x.T).T - model.mean2
    return np.sqrt(dim_out) * _l2_rows(y)


def plda_project(model: PLDAModel, xvectors: np.ndarray) -> np.ndarray:
    """Transformed x-vectors -> PLDA space, truncated to ``model.lda_dimension`` axes."""
    return (xvectors - model.mu).dot(model.transform.T)[:, : model.lda_dimension]


def plda_features(model: PLDAModel, embeddings: np.ndarray) -> np.ndarray:
    """(n, D) raw embeddings -> (n, lda_dimension) features VBx clusters."""
    return plda_project(model, xvec_transform(model, embeddings))


def _read_npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise ModelLoadError(f"{path}: PLDA file not found")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in keys if k not in npz.files]
            if missing:
                raise ModelLoadError(f"{path}: missing array(s) {', '.join(missing)}")
            arrays = {k: np.asarray(npz[k]) for k in keys}
    except ModelLoadError:
        raise
    except Exception as exc:  # zip/pickle/format errors all mean "not a usable npz"
        raise ModelLoadError(f"{path}: not a readable .npz file ({exc})") from exc
    for key, value in arrays.items():
        if value.dtype.kind not in "fiu" or not np.all(np.isfinite(value)):
            raise ModelLoadError(f"{path}: array {key!r} is not finite numeric data")
    return arrays


def load_plda_files(transform_npz: str | Path, plda_npz: str | Path, lda_dimension: int = 128) -> PLDAModel:
    """Load the two community-1 PLDA files; ModelLoadError (naming the file) when missing or bad."""
    transform_npz, plda_npz = Path(transform_npz), Path(plda_npz)
    xf = _read_npz(transform_npz, ("mean1", "mean2", "lda"))
    pl = _read_npz(plda_npz, ("mu", "tr", "psi"))
    mean1, mean2, lda = xf["mean1"], xf["mean2"], xf["lda"]
    if lda.ndim != 2 or mean1.shape != (lda.shape[0],) or mean2.shape != (lda.shape[1],):
        raise ModelLoadError(
            f"{transform_npz}: inconsistent shapes mean1 {mean1.shape}, mean2 {mean2.shape}, lda {lda.shape}"
        )
    d = lda.shape[1]
    mu, tr, psi = pl["mu"], pl["tr"], pl["psi"]
    if mu.shape != (d,) or tr.shape != (d, d) or psi.shape != (d,):
        raise ModelLoadError(
            f"{plda_npz}: shapes mu {mu.shape}, tr {tr.shape}, psi {psi.shape} do not match LDA size {d}"
        )
    if not 1 <= lda_dimension <= d:
        raise ModelLoadError(f"{plda_npz}: lda_dimension {lda_dimension} outside [1, {d}]")
    try:
        transform, phi = diagonalize(tr.astype(np.float64), psi.astype(np.float64))
    except (np.linalg.LinAlgError, ValueError) as exc:
        raise ModelLoadError(f"{plda_npz}: PLDA covariances cannot be diagonalised ({exc})") from exc
    return PLDAModel(
        mean1=mean1,
        mean2=mean2,
        lda=lda,
        mu=mu,
        transform=transform,
        phi=phi[:lda_dimension].copy(),
        lda_dimension=lda_dimension,
    )


def load_plda(folder: str | Path, lda_dimension: int = 128) -> PLDAModel:
    """Load ``folder/xvec_transform.npz`` and ``folder/plda.npz`` (community-1's ``plda/`` folder)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelLoadError(f"{folder}: PLDA folder not found")
    return load_plda_files(folder / TRANSFORM_FILE, folder / PLDA_FILE, lda_dimension=lda_dimension)
