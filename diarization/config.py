"""One engine configuration: every setting of a diarization run, resolved once from a model folder.

    config = engine_config("path/to/models", mode="fast")       # engine_config() finds our default set
    config = dataclasses.replace(config, segmentation_batch_size=128, device="cuda")
    pipeline = Pipeline(config)

``engine_config`` reads the folder's declarations (community-1's ``config.yaml``, or our default set's,
``diarization.pretrained``) and the two checkpoints' metadata (``ModelFacts``: no network is built), then
fills in the modes and our defaults. ``mode`` and ``step`` are resolved there (the fast mode puts its
step on the embedding trunk's frame grid), so pass them to ``engine_config``; batch sizes, the device and
the other plain fields are overridden with ``dataclasses.replace``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .channels import ChannelMode, SplitSettings
from .embedding import embedding_facts
from .models.pyannet import segmentation_settings
from .pretrained import ModelSet, resolve_model_set
from .windows import SlidingWindow

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Mode:
    """What a mode decides."""

    step: float  # seconds between chunk starts (fast: rounded onto the embedding trunk's frame grid)
    shared_trunk: bool  # the embedding trunk runs once over the audio, not once per chunk
    share_sinc: bool  # the segmentation's sinc convolution runs once per stretch of audio, not per chunk
    cluster_runs: bool  # each run of a local speaker is embedded and clustered on its own (diarization.runs)


# exact: community-1 as published (10 s chunks every 1 s, embedding network run per chunk).
# fast: chunks every 2.5 s and the embedding trunk shared by overlapping chunks, frames pooled with a Hamming
# window over each chunk (diarization.shared_trunk), runs of local speakers clustered one by one
# (diarization.runs); its dev-set DER is below exact's (benchmarks/der.py).
MODES: dict[str, Mode] = {
    "exact": Mode(step=1.0, shared_trunk=False, share_sinc=False, cluster_runs=False),
    "fast": Mode(step=2.5, shared_trunk=True, share_sinc=True, cluster_runs=True),
}

DEFAULT_BATCH_SIZE = 32  # chunks per forward pass, as community-1's config.yaml

# PLDA-free clustering of CAM++ embeddings (our default set): pyannote's agglomerative clustering,
# threshold tuned on the dev set (benchmarks/der.py)
DEFAULT_AGGLOMERATIVE = {"threshold": 0.75, "min_cluster_size": 12, "method": "centroid"}
# the fast mode's (runs of local speakers) changes to it: average linkage of cosine distances, and a small
# cluster far from every large one stays a speaker (someone heard in one or two runs). Dev set 12.58% ->
# 12.03%, count errors 10.8 -> 9.2 of 33, calls mono 12.29% -> 12.19%, mp3 15.26% -> 14.88%, no subset
# worse at any of four chunk alignments (benchmarks/der.py --calls --offsets 0,0.7,1.3,1.9; 0.5.0's values,
# threshold 0.37 and keep_distinct 0.72, were flat for thresholds 0.36-0.39 and keep_distinct 0.70-0.72)
# telephone recordings (8 kHz or less, or nothing above the telephone band: diarization.band) in fast
# mode: a talker's pauses shorter than this are bridged, as a call's turns are read (dev calls mono
# 12.19% -> 11.71%, benchmarks/README.md)
# and tones (DTMF, ring-back, hold chords) are not speech (diarization.tones; calls mono and MP3: a key press
# is no longer a turn of the speaker who talks next, nor a third "speaker")
TELEPHONE_MIN_DURATION_OFF = 0.3
# 0.8.0: a quarter of the file's mean embedding is taken from each before clustering (what one recording's
# voices share no longer makes them alike), the cut raised to match, and small clusters kept from 0.6 away:
# dev 12.03% -> 11.72%, count errors 9.2 -> 8.5 of 33 (LibriSpeech 6.70 -> 6.32%, AMI 28.95 -> 28.71%), calls
# MP3 13.96 -> 13.62%, many-speaker clips built from the dev voices 8.0 -> 5.3% (count errors 5.5 -> 2.5 of
# 16), the 13-minute joined LibriSpeech file (60 speakers) 49.6% -> 11.3% (benchmarks/README.md). On
# telephone audio a small cluster needs two training embeddings to be kept: a voice is heard by the
# overlapping chunks of its turn, and one far embedding in a short call is a cough or a codec burst
FAST_AGGLOMERATIVE = {"method": "average", "threshold": 0.55, "keep_distinct": 0.6, "centre": 0.25}
TELEPHONE_AGGLOMERATIVE = {"min_distinct_size": 2}
# 0.9.0: a one-row telephone recording is cut at 0.45, and an embedding of it trains from 1.5 s of lone
# speech in its 10 s chunk (not 2 s): in the telephone band different voices sit closer, and a lower cut
# needs each voice sampled more densely. On the 20 dev conversations on a phone line (benchmarks.built_sets
# telephone/, mu-law and MP3, four alignments): 18.26%, 16.2 of 40 files with too few speakers -> 11.16%,
# 6.5 (the cut alone: 11.73%, 8.0); the same speech in wideband: 6.32%. Dev calls: MP3 13.62 -> 11.47%,
# mono 11.33 -> 11.71%. A cut of 0.44 splits MP3 calls, 1.0-1.2 s of lone speech mono ones. Small clusters
# are kept from 0.5 away, 0.05 over the cut as in wideband: the 16 many-speaker clips on a phone line
# 32.32% -> 15.14% (cut and runs) -> 13.03%, the phone-line conversations 11.16 -> 10.87%, calls unchanged.
# A split call's channel keeps the wideband values: it carries one party, which a lower cut can only split
TELEPHONE_MIX_AGGLOMERATIVE = {"threshold": 0.45, "min_active_ratio": 0.15, "keep_distinct": 0.5}


@dataclass(frozen=True)
class ModelFacts:
    """What the engine must know of its two networks, read from their checkpoints without building them."""

    sample_rate: int  # the segmentation model's input rate: audio is decoded to it
    frames: SlidingWindow  # the segmentation's output frames inside a chunk
    sinc_stride: int  # samples between the segmentation's sinc convolution frames
    trunk_hop: int  # samples between the embedding trunk's frames
    embedding_dimension: int


@dataclass(frozen=True)
class ClusteringConfig:
    """Which clustering, with which hyper-parameters (and PLDA folder, for VBx)."""

    method: str  # "VBxClustering" or "AgglomerativeClustering"
    params: Mapping[str, Any] = field(default_factory=dict, hash=False)
    plda: Path | None = None
    telephone: Mapping[str, Any] = field(default_factory=dict, hash=False)  # params changed for telephone audio
    telephone_mix: Mapping[str, Any] = field(default_factory=dict, hash=False)  # ... and for a one-row recording


@dataclass(frozen=True)
class EngineConfig:
    """Every setting of the engine, and the facts of its models. Build it with ``engine_config``."""

    models: ModelSet
    facts: ModelFacts
    mode: str  # "exact" or "fast" (see MODES)
    step: float  # seconds between segmentation chunks
    clustering: ClusteringConfig
    exclude_overlap: bool = True  # embeddings pool only the frames where their speaker speaks alone
    min_duration_off: float = 0.0  # same-speaker gaps shorter than this (s) are filled
    telephone_min_duration_off: float | None = None  # the same for telephone audio; None: min_duration_off
    silence_telephone_tones: bool = False  # telephone audio: runs that are tones silenced before embedding
    segmentation_batch_size: int = DEFAULT_BATCH_SIZE
    embedding_batch_size: int = DEFAULT_BATCH_SIZE
    device: str | None = None  # a torch device; None: CUDA when available, else CPU
    channel_mode: str = ChannelMode.AUTO.value  # how a file's channels are used (diarization.channels)
    split: SplitSettings = SplitSettings()  # how a call is diarized channel by channel

    def __post_init__(self) -> None:
        mode_named(self.mode)
        ChannelMode.named(self.channel_mode)
        if not self.step > 0:
            raise ValueError(f"step must be a positive number of seconds, got {self.step!r}")
        for name in ("segmentation_batch_size", "embedding_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    @property
    def shared_trunk(self) -> bool:
        return mode_named(self.mode).shared_trunk

    @property
    def share_sinc(self) -> bool:
        return mode_named(self.mode).share_sinc

    @property
    def cluster_runs(self) -> bool:
        return mode_named(self.mode).cluster_runs

    @property
    def sample_rate(self) -> int:
        return self.facts.sample_rate


def engine_config(models: str | os.PathLike | ModelSet | None = None, *, mode: str | None = None,
                  step: float | None = None, segmentation_batch_size: int | None = None,
                  embedding_batch_size: int | None = None, device: str | torch.device | None = None
                  ) -> EngineConfig:
    """The configuration of ``models`` (a folder, a resolved ``ModelSet``, or None: our default set found
    as ``resolve_model_set`` finds it). ``mode`` defaults to the folder's (exact for community-1, fast for
    our set), ``step`` to the mode's; the other arguments override the folder's values when given."""
    models = models if isinstance(models, ModelSet) else resolve_model_set(models)
    options = models.options
    mode = mode or str(options.get("mode", "exact"))
    facts = read_model_facts(models)
    return EngineConfig(
        models=models,
        facts=facts,
        mode=mode,
        step=float(step) if step is not None else mode_step(mode_named(mode), facts),
        clustering=clustering_config(models, mode_named(mode).cluster_runs),
        exclude_overlap=bool(options.get("embedding_exclude_overlap", True)),
        min_duration_off=float((models.params.get("segmentation") or {}).get("min_duration_off", 0.0)),
        telephone_min_duration_off=None if mode == "exact" else TELEPHONE_MIN_DURATION_OFF,
        silence_telephone_tones=mode != "exact",
        segmentation_batch_size=int(_given(segmentation_batch_size, options.get("segmentation_batch_size"))),
        embedding_batch_size=int(_given(embedding_batch_size, options.get("embedding_batch_size"))),
        device=None if device is None else str(device),
        # exact mode is the reference algorithm, which averages the channels; fast splits calls by channel
        channel_mode=(ChannelMode.MIX if mode == "exact" else ChannelMode.AUTO).value,
    )


def mode_named(name: str) -> Mode:
    """The mode called ``name``; ValueError for an unknown one."""
    if name not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {name!r}")
    return MODES[name]


def _given(override: int | None, declared: Any) -> Any:
    """An override, else what the folder declares, else ``DEFAULT_BATCH_SIZE``."""
    if override is not None:
        return override
    return DEFAULT_BATCH_SIZE if declared is None else declared


def read_model_facts(models: ModelSet) -> ModelFacts:
    """The facts of ``models``' two checkpoints (their metadata is read; no network is built)."""
    segmentation = segmentation_settings(models.segmentation)
    embedding = embedding_facts(models.embedding)
    return ModelFacts(sample_rate=segmentation.sample_rate, frames=segmentation.frames,
                      sinc_stride=segmentation.sinc_stride, trunk_hop=embedding.trunk_hop,
                      embedding_dimension=embedding.dimension)


def mode_step(mode: Mode, facts: ModelFacts) -> float:
    """The mode's step; with a shared trunk, on the grid of both the trunk's and the sinc's frames, so that
    every chunk starts on a trunk frame."""
    if not mode.shared_trunk:
        return mode.step
    return on_grid(mode.step, facts.sample_rate, math.lcm(facts.trunk_hop, facts.sinc_stride))


def on_grid(seconds: float, sample_rate: int, grid_samples: int) -> float:
    """``seconds`` rounded to the nearest positive multiple of ``grid_samples`` samples."""
    return max(1, round(seconds * sample_rate / grid_samples)) * grid_samples / sample_rate


def clustering_config(models: ModelSet, cluster_runs: bool = False) -> ClusteringConfig:
    """VBx with the folder's PLDA (community-1, or the clustering its config names), else our
    agglomerative clustering (the folder's hyper-parameters over ``DEFAULT_AGGLOMERATIVE``). Clustering
    runs, each goes to its closest centroid: the one-to-one matching per chunk is for local speakers (two
    runs of one chunk are often the same person); the agglomerative clustering of runs also keeps distinct
    small clusters (``FAST_AGGLOMERATIVE``; on telephone audio also ``TELEPHONE_AGGLOMERATIVE``, and on a
    one-row telephone recording ``TELEPHONE_MIX_AGGLOMERATIVE``)."""
    declared = dict(models.params.get("clustering") or {})
    if cluster_runs:
        declared = {**declared, "constrained_assignment": False}
    if models.plda is not None:
        return ClusteringConfig(str(models.options.get("clustering", "VBxClustering")), declared, models.plda)
    fast = FAST_AGGLOMERATIVE if cluster_runs else {}
    return ClusteringConfig("AgglomerativeClustering", {**DEFAULT_AGGLOMERATIVE, **fast, **declared},
                            telephone=TELEPHONE_AGGLOMERATIVE if cluster_runs else {},
                            telephone_mix=TELEPHONE_MIX_AGGLOMERATIVE if cluster_runs else {})
