"""The speaker-diarization pipeline: segmentation -> embeddings -> clustering -> reconstruction.

``Pipeline.__call__`` runs one file. The same work is also exposed stage by stage, each stage taking
many files at once, so a batch runner can keep every model busy with work from many files:

    audio = pipeline.load(path)                         # CPU: decode, downmix, resample
    [segs] = pipeline.segment_many([audio])             # segmentation model (GPU/CPU)
    [embs] = pipeline.embed_many([(audio, segs)])       # embedding model (GPU/CPU)
    result = pipeline.finish(audio.uri, audio.duration, segs, embs)   # CPU: clustering, reconstruction
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import __version__
from .audio import Audio, AudioInput, load_audio
from .concurrent import segment_and_embed
from .clustering import Clustering, load_plda, make_clustering
from .embedding import chunk_embeddings, load_embedding_model
from .models.pyannet import load_segmentation_model
from .output import DiarizationResult
from .pretrained import ModelSet, resolve_model_set, sha256_of
from .progress import Hook, no_hook
from .reconstruction import diarize_from_clusters
from .results import build_result, empty_result
from .segmentation import Segmenter, speaker_count
from .shared_trunk import shared_trunk_embeddings, supports_shared_trunk
from .windows import Windowed

# exact: community-1 as published (10 s chunks every 1 s, embedding network run per chunk).
# fast: chunks every 2.5 s and the embedding trunk shared by overlapping chunks, frames pooled with a Hamming
# window over each chunk (diarization.shared_trunk); its dev-set DER is below exact's (benchmarks/der.py).
MODES: dict[str, dict[str, Any]] = {
    "exact": {"step": 1.0, "shared_trunk": False, "share_sinc": False},
    "fast": {"step": 2.5, "shared_trunk": True, "share_sinc": True},
}

# PLDA-free clustering of CAM++ embeddings (our default set): pyannote's agglomerative clustering,
# threshold tuned on the dev set (benchmarks/der.py)
DEFAULT_AGGLOMERATIVE = {"threshold": 0.75, "min_cluster_size": 12, "method": "centroid"}


def clustering_for(models: ModelSet) -> Clustering:
    """VBx with the folder's PLDA (community-1), else agglomerative clustering."""
    if models.plda is not None:
        name = str(models.options.get("clustering", "VBxClustering"))
        return make_clustering(name, models.params.get("clustering"), load_plda(models.plda))
    params = {**DEFAULT_AGGLOMERATIVE, **models.params.get("clustering", {})}
    return make_clustering("AgglomerativeClustering", params)


def on_grid(seconds: float, sample_rate: int, grid_samples: int) -> float:
    """``seconds`` rounded to the nearest positive multiple of ``grid_samples`` samples."""
    return max(1, round(seconds * sample_rate / grid_samples)) * grid_samples / sample_rate


def weights_file(path: Path) -> Path:
    """The checkpoint file of a model given as a file or as a folder holding ``pytorch_model.bin``."""
    return path if path.is_file() else path / "pytorch_model.bin"


def default_device() -> torch.device:
    """CUDA when available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class Pipeline:
    """community-1 speaker diarization on our own models code."""

    def __init__(self, models: ModelSet, device: str | torch.device | None = None,
                 segmentation_batch_size: int | None = None, embedding_batch_size: int | None = None,
                 mode: str | None = None, step: float | None = None) -> None:
        """``mode``: "exact" (community-1's algorithm, step by step) or "fast" (see ``MODES``); the
        default is the model set's: exact for a community-1 folder, fast for our default set.
        ``step`` (seconds between segmentation chunks) overrides the mode's."""
        self.models = models
        options = models.options
        self.mode = mode or str(options.get("mode", "exact"))
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        settings = MODES[self.mode]
        self.exclude_overlap = bool(options.get("embedding_exclude_overlap", True))
        self.min_duration_off = float(models.params.get("segmentation", {}).get("min_duration_off", 0.0))
        self.embedder = load_embedding_model(models.embedding)
        segmentation = load_segmentation_model(models.segmentation)
        if step is None and settings["shared_trunk"]:  # chunk starts on the embedding trunk's frame grid
            step = on_grid(settings["step"], segmentation.sample_rate,
                           math.lcm(getattr(self.embedder.network, "trunk_hop", 1), segmentation.sincnet.stride))
        self.segmenter = Segmenter(segmentation, step=step or settings["step"], share_sinc=settings["share_sinc"],
                                   batch_size=int(segmentation_batch_size or options.get("segmentation_batch_size", 32)))
        if hasattr(self.embedder.network, "fuse_batchnorm"):  # same embeddings to ~1e-6, one pass less per layer
            self.embedder.network.fuse_batchnorm()
        self.embedding_batch_size = int(embedding_batch_size or options.get("embedding_batch_size", 32))
        self.clustering = clustering_for(models)
        self.device = torch.device("cpu")
        self.to(device if device is not None else default_device())

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike | None = None, device: str | torch.device | None = None,
                        **kwargs: Any) -> "Pipeline":
        """Load a community-1 folder or our default model set (see ``diarization.pretrained``)."""
        return cls(resolve_model_set(path), device=device, **kwargs)

    def to(self, device: str | torch.device) -> "Pipeline":
        """Move the models to ``device``."""
        self.device = torch.device(device)
        self.segmenter.to(self.device)
        self.embedder.to(self.device)
        return self

    @property
    def sample_rate(self) -> int:
        return self.segmenter.sample_rate

    @property
    def fingerprint(self) -> str:
        """Stable id of the models and parameters: equal fingerprints give equal outputs."""
        if not hasattr(self, "_fingerprint"):
            parts = {
                "segmentation": sha256_of(weights_file(self.models.segmentation)),
                "embedding": sha256_of(weights_file(self.models.embedding)),
                "plda": [sha256_of(p) for p in sorted(self.models.plda.glob("*.npz"))] if self.models.plda else None,
                "params": self.models.params, "options": self.models.options, "mode": self.mode,
                "step": self.segmenter.step,
                "clustering": repr(self.clustering), "engine": __version__,
            }
            blob = json.dumps(parts, sort_keys=True, default=str).encode()
            self._fingerprint = hashlib.sha256(blob).hexdigest()[:16]
        return self._fingerprint

    @property
    def versions(self) -> dict[str, str]:
        """Human-readable model names, for status tables."""
        return {"models": self.models.name, "segmentation": self.models.segmentation.parent.name,
                "embedding": self.models.embedding.parent.name if self.models.embedding.is_file()
                else self.models.embedding.name, "clustering": type(self.clustering).__name__,
                "mode": self.mode}

    # -- stages -----------------------------------------------------------------------------------------

    def load(self, source: AudioInput, channel: int | None = None, max_duration: float | None = None,
             storage_options: dict | None = None) -> Audio:
        """Decode ``source`` to mono 16 kHz (CPU)."""
        return load_audio(source, self.sample_rate, max_duration=max_duration, channel=channel,
                          storage_options=storage_options)

    def on_device(self, audio: Audio) -> Audio:
        """``audio`` with its waveform on the models' GPU (one copy for both models), as is on CPU."""
        if self.device.type == "cpu" or audio.waveform.device == self.device:
            return audio
        waveform = audio.waveform.pin_memory() if audio.waveform.device.type == "cpu" else audio.waveform
        return dataclasses.replace(audio, waveform=waveform.to(self.device, non_blocking=True))

    def segment_many(self, audios: Sequence[Audio], hook: Hook = no_hook) -> list[Windowed]:
        """Binarized local segmentation (num_chunks, num_frames, 3) of each file, chunks batched across files."""
        return self.segmenter.segment_many([audio.waveform for audio in audios], hook=hook)

    def embed_many(self, items: Sequence[tuple[Audio, Windowed]], hook: Hook = no_hook) -> list[np.ndarray]:
        """(num_chunks, 3, dimension) embeddings of each file's local speakers (NaN where inactive)."""
        shared = MODES[self.mode]["shared_trunk"]
        results = []
        for audio, segmentations in items:
            if shared and supports_shared_trunk(self.embedder, segmentations.window):
                results.append(shared_trunk_embeddings(self.embedder, audio.waveform, segmentations,
                                                       exclude_overlap=self.exclude_overlap, hook=hook))
            else:
                results.append(chunk_embeddings(self.embedder, audio.waveform, segmentations,
                                                exclude_overlap=self.exclude_overlap,
                                                batch_size=self.embedding_batch_size, hook=hook))
        return results

    def finish(self, uri: str, duration: float, segmentations: Windowed, embeddings: np.ndarray | None,
               num_speakers: int | None = None, min_speakers: int | None = None,
               max_speakers: int | None = None) -> DiarizationResult:
        """Clustering and reconstruction (CPU): the final result of one file."""
        num_speakers, min_speakers, max_speakers = check_speaker_bounds(num_speakers, min_speakers, max_speakers)
        count = speaker_count(segmentations, self.segmenter.frames)
        if embeddings is None or np.nanmax(count.data, initial=0) == 0:
            return empty_result(uri, duration, self.embedder.dimension)
        hard_clusters, _, centroids = self.clustering.cluster(
            embeddings, segmentations.data, num_clusters=num_speakers, min_clusters=min_speakers,
            max_clusters=max_speakers)
        turns, exclusive = diarize_from_clusters(segmentations, hard_clusters, count, max_speakers,
                                                 min_duration_off=self.min_duration_off)
        return build_result(uri, duration, turns, exclusive, centroids)

    def _concurrent_workers(self) -> int:
        """CPU threads for running both models side by side on one file (fast mode on CPU), else 1."""
        if self.device.type != "cpu" or not MODES[self.mode]["shared_trunk"]:
            return 1
        window = self.segmenter.chunks_window
        return torch.get_num_threads() if supports_shared_trunk(self.embedder, window) else 1

    def needs_embeddings(self, segmentations: Windowed) -> bool:
        """False when nobody speaks: the embedding stage can be skipped."""
        return bool(np.nansum(segmentations.data) > 0)

    def __call__(self, audio: AudioInput, num_speakers: int | None = None, min_speakers: int | None = None,
                 max_speakers: int | None = None, hook: Hook | None = None, channel: int | None = None,
                 ) -> DiarizationResult:
        """Diarize one file: a path, URL, bytes or ``{"waveform": (channel, time), "sample_rate": int}``."""
        hook = hook or no_hook
        check_speaker_bounds(num_speakers, min_speakers, max_speakers)
        audio = self.load(audio, channel=channel)
        if self._concurrent_workers() > 1:
            segmentations, embeddings = segment_and_embed(
                self.segmenter, self.embedder, audio.waveform, self.exclude_overlap,
                workers=self._concurrent_workers(), hook=hook)
            hook("segmentation", segmentations)
        else:
            audio = self.on_device(audio)
            [segmentations] = self.segment_many([audio], hook=hook)
            hook("segmentation", segmentations)
            embeddings = None
            if self.needs_embeddings(segmentations):
                [embeddings] = self.embed_many([(audio, segmentations)], hook=hook)
        hook("embeddings", embeddings)
        result = self.finish(audio.uri, audio.duration, segmentations, embeddings,
                             num_speakers=num_speakers, min_speakers=min_speakers, max_speakers=max_speakers)
        hook("clustering", result)
        return result


def check_speaker_bounds(num_speakers: int | None, min_speakers: int | None,
                         max_speakers: int | None) -> tuple[int | None, int, float]:
    """Validate and normalise speaker-count constraints as pyannote's ``set_num_speakers``."""
    for name, value in (("num_speakers", num_speakers), ("min_speakers", min_speakers),
                        ("max_speakers", max_speakers)):
        if value is not None and (not isinstance(value, (int, np.integer)) or value < 1):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if num_speakers is not None:
        return int(num_speakers), int(num_speakers), int(num_speakers)
    low = int(min_speakers or 1)
    high: float = int(max_speakers) if max_speakers is not None else np.inf
    if low > high:
        raise ValueError(f"min_speakers ({low}) is larger than max_speakers ({max_speakers})")
    if low == high:
        return low, low, high
    return None, low, high
