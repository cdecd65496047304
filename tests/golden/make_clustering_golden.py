"""Regenerate tests/golden/clustering_reference.npz with the *reference* pyannote.audio 4.0.7.

Run from the repository root with the side venv (never a project dependency):

    /tmp/pyannote-ref/bin/python tests/golden/make_clustering_golden.py ../shared tests/golden/clustering_reference.npz

Recorded cases use community-1's recorded WeSpeaker embeddings/segmentations (read from ``shared``);
synthetic cases are generated here from a fixed seed and stored with their inputs.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")

from pyannote.audio.core.plda import PLDA
from pyannote.audio.pipelines.clustering import AgglomerativeClustering, VBxClustering
from pyannote.core import SlidingWindow, SlidingWindowFeature
from sklearn.cluster import KMeans

PREFIXES = ("pipeline", "3speakers", "single_speaker", "short")
# (name, method, threshold, min_cluster_size, num_clusters, min_clusters, max_clusters)
AHC_SETTINGS = (
    ("default", "centroid", 0.7045654963945799, 12, None, None, None),
    ("mcs1", "centroid", 0.7045654963945799, 1, None, None, None),
    ("num2", "centroid", 0.7045654963945799, 12, 2, None, None),
    ("num3", "centroid", 0.7045654963945799, 12, 3, None, None),
    ("min4", "centroid", 0.5, 3, None, 4, None),
    ("max2", "centroid", 0.3, 2, None, None, 2),
    ("average", "average", 0.6, 5, None, None, None),
)


def synthetic(seed: int = 0, num_chunks: int = 80, num_frames: int = 50, dim: int = 24):
    """Chunks of 3 local speakers drawn from 5 voices (one rare), random activity, a few NaNs."""
    rng = np.random.default_rng(seed)
    voices = rng.normal(size=(5, dim))
    prior = np.array([0.3, 0.3, 0.2, 0.17, 0.03])
    emb = np.empty((num_chunks, 3, dim), dtype=np.float32)
    seg = np.zeros((num_chunks, num_frames, 3), dtype=np.float32)
    for c in range(num_chunks):
        who = rng.choice(5, size=3, replace=False, p=prior)
        emb[c] = voices[who] + 0.6 * rng.normal(size=(3, dim))
        for s in range(3):
            a = rng.integers(0, num_frames)
            b = rng.integers(a, num_frames + 1)
            if rng.random() < 0.8:
                seg[c, a:b, s] = 1.0
    emb[rng.random((num_chunks, 3)) < 0.05] = np.nan
    return emb, seg


def agglomerative(emb, seg, method, threshold, mcs, num, low, high):
    clustering = AgglomerativeClustering(metric="cosine", constrained_assignment=False)
    clustering.instantiate({"method": method, "threshold": threshold, "min_cluster_size": mcs})
    window = SlidingWindow(start=0.0, duration=10.0, step=1.0)
    return clustering(
        embeddings=emb.copy(),
        segmentations=SlidingWindowFeature(seg, window),
        num_clusters=num,
        min_clusters=low,
        max_clusters=high,
    )


def vbx(plda, emb, seg, num, low, high):
    clustering = VBxClustering(plda, metric="cosine")
    clustering.instantiate({"threshold": 0.6, "Fa": 0.07, "Fb": 0.8})
    window = SlidingWindow(start=0.0, duration=10.0, step=1.0)
    return clustering(
        embeddings=emb.copy(),
        segmentations=SlidingWindowFeature(seg, window),
        num_clusters=num,
        min_clusters=low,
        max_clusters=high,
    )


def main(shared: Path, out: Path) -> None:
    artifacts = shared / "reference" / "community-1-artifacts"
    data: dict[str, np.ndarray] = {}
    cases = {
        p: (
            np.load(artifacts / f"{p}_embeddings_data.npy"),
            np.load(artifacts / f"{p}_segmentation_data.npy"),
        )
        for p in PREFIXES
    }
    for seed in (0, 1):
        emb, seg = synthetic(seed)
        data[f"synthetic{seed}/embeddings"], data[f"synthetic{seed}/segmentations"] = (
            emb,
            seg.astype(np.uint8),
        )
        cases[f"synthetic{seed}"] = (emb, seg)

    for case, (emb, seg) in cases.items():
        for name, method, threshold, mcs, num, low, high in AHC_SETTINGS:
            hard, soft, centroids = agglomerative(emb, seg, method, threshold, mcs, num, low, high)
            key = f"ahc/{case}/{name}"
            data[f"{key}/argmax"] = np.asarray(hard, dtype=np.int64)
            data[f"{key}/soft"] = soft.astype(np.float32)
            data[f"{key}/centroids"] = centroids.astype(np.float32)
            # community-1's constrained assignment (VBxClustering.__call__): silent local speakers get
            # a score below all others, then BaseClustering.constrained_argmax (Hungarian per chunk)
            # (not when too few embeddings train: then everything is cluster 0 and no assignment runs)
            reference = AgglomerativeClustering()
            window = SlidingWindowFeature(seg, SlidingWindow())
            train, _, _ = reference.filter_embeddings(emb, window)
            _, _, max_clusters = reference.set_num_clusters(len(train), num, low, high)
            masked = np.copy(soft)
            masked[seg.sum(1) == 0] = masked.min() - 1.0
            constrained = hard if max_clusters < 2 else reference.constrained_argmax(masked)
            data[f"{key}/constrained"] = np.asarray(constrained, dtype=np.int64)

    # K-means as VBxClustering calls it (on length-normalised training embeddings)
    for case, (emb, seg) in cases.items():
        train, _, _ = AgglomerativeClustering().filter_embeddings(
            emb, SlidingWindowFeature(seg, SlidingWindow())
        )
        normed = train / np.linalg.norm(train, axis=1, keepdims=True)
        for k in (2, 3, 5):
            if k <= len(normed):
                labels = KMeans(n_clusters=k, n_init=3, random_state=42, copy_x=False).fit_predict(
                    normed.copy()
                )
                data[f"kmeans/{case}/{k}"] = labels.astype(np.int64)

    # VBxClustering with a forced number of speakers (K-means fallback) and with bounds
    models = shared / "models" / "community-1" / "plda"
    plda = PLDA(models / "xvec_transform.npz", models / "plda.npz")
    for case in ("pipeline", "3speakers"):
        emb, seg = cases[case]
        for name, num, low, high in (
            ("num3", 3, 3, 3),
            ("min4", None, 4, np.inf),
            ("max1", None, 1, 1),
            ("free", None, 1, np.inf),
        ):
            hard, soft, centroids = vbx(plda, emb, seg, num, low, high)
            data[f"vbx/{case}/{name}/hard"] = np.asarray(hard, dtype=np.int64)
            data[f"vbx/{case}/{name}/centroids"] = centroids.astype(np.float32)

    np.savez_compressed(out, **data)
    print(f"wrote {out} ({out.stat().st_size} bytes, {len(data)} arrays)")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
