"""Segmentation and embeddings of one scored file, computed once and kept on disk.

Clustering and reconstruction are cheap; segmentation and embeddings are not. ``features`` returns what the
pipeline's first stages give for a file (optionally delayed by ``offset`` seconds of silence, see
``benchmarks/der.py --offsets``), read from ``cache_dir`` when an earlier run stored them under the same key:
the file (path, size, modification time), the offset, the engine version and everything of the configuration
that decides those stages (models, mode, step, overlap exclusion). The clustering settings are not part of
the key, so a clustering sweep reuses one pass of the networks.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diarization import __version__
from diarization.config import EngineConfig
from diarization.pipeline import Pipeline, with_tones
from diarization.progress import no_hook
from diarization.split_calls import ChannelSegmentation
from diarization.windows import SlidingWindow, Windowed


@dataclass(frozen=True)
class Features:
    """What clustering needs of one file: its columns' segmentations and embeddings (None: nobody speaks)."""

    uri: str
    duration: float  # seconds, the offset's silence included
    segmentations: Windowed
    embeddings: np.ndarray | None
    telephone: bool  # telephone audio (``Audio.telephone``) is finished apart


def cache_key(config: EngineConfig, path: Path, offset: float) -> str:
    """A stable name for the features of ``path`` delayed by ``offset`` under ``config``'s first stages."""
    stat = path.stat()
    described = {
        "file": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
        "offset": offset, "version": __version__, "models": str(config.models.root), "mode": config.mode,
        "step": config.step, "exclude_overlap": config.exclude_overlap, "cluster_runs": config.cluster_runs,
        "channels": config.channel_mode, "split": repr(config.split),
        "telephone_tones": config.silence_telephone_tones, "keeps": "telephone",
        "delayed": "at the source rate",
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:20]


def delayed(pipeline: Pipeline, path: Path, seconds: float) -> dict:
    """The file's audio with ``seconds`` of silence before it, as an in-memory input."""
    import torch

    audio = pipeline.load(path)
    silence = torch.zeros((audio.waveform.shape[0], round(seconds * audio.sample_rate)), dtype=audio.waveform.dtype)
    return {"waveform": torch.cat([silence, audio.waveform], dim=1), "sample_rate": audio.sample_rate}


def compute(pipeline: Pipeline, path: Path, offset: float = 0.0) -> Features:
    """Segmentation and embeddings of ``path`` (delayed by ``offset`` s), by the pipeline's own stages."""
    audio = pipeline.load(path)
    rate = audio.source_sample_rate
    if offset:  # still the file's recording: telephone audio stays telephone audio
        audio = with_tones(dataclasses.replace(pipeline.load(delayed(pipeline, path, offset)),
                                               source_sample_rate=rate), pipeline.config)
    segmentations, embeddings = pipeline._segment_and_embed(audio, no_hook)
    return Features(path.stem, audio.duration, segmentations, embeddings, audio.telephone)


def save(features: Features, target: Path) -> None:
    window = features.segmentations.window
    arrays = {"segmentations": np.asarray(features.segmentations.data),
              "window": np.array([window.start, window.duration, window.step]),
              "duration": np.array(features.duration), "uri": np.array(features.uri),
              "telephone": np.array(features.telephone)}
    if features.embeddings is not None:
        arrays["embeddings"] = features.embeddings
    if isinstance(features.segmentations, ChannelSegmentation):  # a split call: each column's channel
        arrays["channels"] = features.segmentations.channels
    partial = target.with_suffix(".partial.npz")
    np.savez(partial, **arrays)
    partial.replace(target)


def load(source: Path) -> Features:
    with np.load(source) as stored:
        start, duration, step = (float(v) for v in stored["window"])
        embeddings = stored["embeddings"] if "embeddings" in stored else None
        window = SlidingWindow(start, duration, step)
        segmentations = (ChannelSegmentation(stored["segmentations"], window, stored["channels"])
                         if "channels" in stored else Windowed(stored["segmentations"], window))
        return Features(str(stored["uri"]), float(stored["duration"]), segmentations, embeddings,
                        bool(stored["telephone"]))


def features(pipeline: Pipeline, path: Path, offset: float = 0.0, cache_dir: Path | None = None
             ) -> tuple[Features, bool]:
    """(features of ``path`` delayed by ``offset``, whether they were computed now rather than read)."""
    if cache_dir is None:
        return compute(pipeline, path, offset), True
    target = cache_dir / f"{path.stem}-{cache_key(pipeline.config, path, offset)}.npz"
    if target.exists():
        return load(target), False
    cache_dir.mkdir(parents=True, exist_ok=True)
    computed = compute(pipeline, path, offset)
    save(computed, target)
    return computed, True
