"""The speaker-diarization pipeline: segmentation -> embeddings -> clustering -> reconstruction.

``Pipeline(config)`` builds the two networks of an ``EngineConfig`` (``diarization.config``);
``Pipeline.from_pretrained(path, mode=..., ...)`` builds the config too. ``Pipeline.__call__`` runs one
file. The same work is also exposed stage by stage, each stage taking many files at once, so a batch
runner can keep every model busy with work from many files:

    audio = pipeline.load(path)                         # CPU: decode, downmix, resample
    [segs] = pipeline.segment_many([audio])             # segmentation model (GPU/CPU)
    [embs] = pipeline.embed_many([(audio, segs)])       # embedding model (GPU/CPU)
    result = pipeline.finish(audio.uri, audio.duration, segs, embs)   # CPU: clustering, reconstruction

The first and last stages need no network: ``load_audio(source, config.sample_rate)`` and
``Finisher.from_config(config)`` (``diarization.finish``) run them from the config alone.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from functools import cached_property

import numpy as np
import torch

from .audio import Audio, AudioInput, load_audio
from .channels import ChannelMode
from .clustering import Clustering, resolve_num_speakers
from .config import EngineConfig, engine_config
from .embedding import load_embedding_model
from .embedding_paths import EmbeddingPath, choose_embedding_path, embed_segmented_many
from .fingerprint import fingerprint, model_versions
from .finish import Finisher
from .models.pyannet import load_segmentation_model
from .pretrained import ModelSet
from .progress import Hook, no_hook
from .result import Diarization, DiarizationResult
from .runs import split_runs
from .segmentation import Segmenter
from .shared_trunk import supports_shared_trunk
from .side_by_side import segment_and_embed
from .split_calls import arrange_channels, channel_columns, channel_parts, gather_channels, is_split
from .tones import find_tones, silence_tones
from .windows import Windowed


def load_call(source: AudioInput, config: EngineConfig, channel: int | None = None,
              max_duration: float | None = None, storage_options: dict | None = None,
              channels: str | None = None) -> Audio:
    """``source`` decoded for the models of ``config`` (no network needed): its channels averaged, the one
    picked by ``channel``, or, as ``channels`` (default ``config.channel_mode``) says, one row per channel."""
    mode = ChannelMode.named(channels or config.channel_mode)
    keep = channel is None and mode is not ChannelMode.MIX
    audio = load_audio(source, config.sample_rate, max_duration=max_duration, channel=channel,
                       storage_options=storage_options, keep_channels=keep)
    return with_tones(arrange_channels(audio, mode, config.split) if keep else audio, config)


def with_tones(audio: Audio, config: EngineConfig) -> Audio:
    """``audio`` with the tones of its rows found (CPU work, done where the file is decoded) when they are
    silenced: in every split call, and in one-row telephone audio when ``config`` says so."""
    split = is_split(audio)
    if not split and not (config.silence_telephone_tones and audio.telephone):
        return dataclasses.replace(audio, tones=None)
    waveform, settings = audio.waveform.cpu().numpy(), config.split
    tones = find_tones(waveform, audio.sample_rate, settings.tone_share, settings.tone_seconds)
    return dataclasses.replace(audio, tones=tones)


def default_device() -> torch.device:
    """CUDA when available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class Pipeline:
    """community-1 speaker diarization on our own models code."""

    def __init__(self, config: EngineConfig) -> None:
        models = config.models
        self.embedder = load_embedding_model(models.embedding)
        if hasattr(self.embedder.network, "fuse_batchnorm"):  # same embeddings to ~1e-6, one pass less per layer
            self.embedder.network.fuse_batchnorm()
        self.segmenter = Segmenter(load_segmentation_model(models.segmentation), step=config.step,
                                   share_sinc=config.share_sinc, batch_size=config.segmentation_batch_size)
        self.finisher = Finisher.from_config(config)
        self.config = config
        self.to(config.device if config.device is not None else default_device())

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike | ModelSet | None = None,
                        device: str | torch.device | None = None, mode: str | None = None,
                        step: float | None = None, segmentation_batch_size: int | None = None,
                        embedding_batch_size: int | None = None) -> Pipeline:
        """Load a community-1 folder or our default model set (see ``diarization.config.engine_config``)."""
        return cls(engine_config(path, mode=mode, step=step, segmentation_batch_size=segmentation_batch_size,
                                 embedding_batch_size=embedding_batch_size, device=device))

    def to(self, device: str | torch.device) -> Pipeline:
        """Move the models to ``device``."""
        device = torch.device(device)
        self.segmenter.to(device)
        self.embedder.to(device)
        self.config = dataclasses.replace(self.config, device=str(device))
        return self

    # -- read-only views of the configuration ------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return torch.device(self.config.device)

    @property
    def models(self) -> ModelSet:
        return self.config.models

    @property
    def mode(self) -> str:
        return self.config.mode

    @property
    def exclude_overlap(self) -> bool:
        return self.config.exclude_overlap

    @property
    def min_duration_off(self) -> float:
        return self.config.min_duration_off

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def clustering(self) -> Clustering:
        """The clustering of wideband recordings (a telephone one's: ``finisher.clustering_for(rate)``)."""
        return self.finisher.clustering

    @property
    def embedding_batch_size(self) -> int:
        return self.config.embedding_batch_size

    @cached_property
    def fingerprint(self) -> str:
        """Stable id of the models and parameters: equal fingerprints give equal outputs."""
        return fingerprint(self.config)

    @property
    def versions(self) -> dict[str, str]:
        """Human-readable model names, for status tables."""
        return model_versions(self.config)

    @property
    def embedding_path(self) -> EmbeddingPath:
        """How embeddings are computed now (mode, device, the trunk's frame grid, torch's CPU threads)."""
        fits = supports_shared_trunk(self.embedder, self.segmenter.chunks_window)
        return choose_embedding_path(self.config.shared_trunk, fits, self.device, torch.get_num_threads())

    # -- stages -----------------------------------------------------------------------------------------

    def load(self, source: AudioInput, channel: int | None = None, max_duration: float | None = None,
             storage_options: dict | None = None, channels: str | None = None) -> Audio:
        """Decode ``source`` at the models' rate (CPU): mono, or one row per channel when its channels are
        diarized apart (``channels``: mix, split or auto; default the config's; ``channel`` picks one)."""
        return load_call(source, self.config, channel=channel, max_duration=max_duration,
                         storage_options=storage_options, channels=channels)

    def on_device(self, audio: Audio) -> Audio:
        """``audio`` with its waveform on the models' GPU (one copy for both models), as is on CPU."""
        if self.device.type == "cpu" or audio.waveform.device == self.device:
            return audio
        waveform = audio.waveform.pin_memory() if audio.waveform.device.type == "cpu" else audio.waveform
        return dataclasses.replace(audio, waveform=waveform.to(self.device, non_blocking=True))

    def segment_many(self, audios: Sequence[Audio], hook: Hook = no_hook) -> list[Windowed]:
        """Binarized local segmentation (num_chunks, num_frames, 3) of each file, chunks batched across files;
        with ``cluster_runs``, one column per run of a local speaker (num_chunks, num_frames, runs)."""
        rows = [row[None] for audio in audios for row in audio.waveform]  # a split call: one per channel
        segmentations = iter(self.segmenter.segment_many(rows, hook=hook))
        out = []
        for audio in audios:
            mine = [next(segmentations) for _ in range(audio.waveform.shape[0])]
            if is_split(audio):  # tones are no channel's own speech
                out.append(channel_columns(audio, mine, self._columns, self.config.facts.frames,
                                           self.config.split))
                continue
            [segmentation] = mine
            data = segmentation.data if audio.tones is None else silence_tones(
                segmentation.data, segmentation.window, self.config.facts.frames, audio.tones)
            out.append(Windowed(self._columns(data), segmentation.window))
        return out

    def _columns(self, binarized: np.ndarray) -> np.ndarray:
        """What clustering sees of a segmentation: its local speakers, or their runs."""
        return split_runs(binarized) if self.config.cluster_runs else binarized

    def embed_many(self, items: Sequence[tuple[Audio, Windowed]], hook: Hook = no_hook) -> list[np.ndarray]:
        """(num_chunks, columns, dimension) embeddings of each file's segmentation columns (local speakers or
        their runs; NaN where inactive). A split call's channels are embedded apart, each from its own row;
        on the shared-trunk path the trunk tiles of all files and channels share network passes."""
        parts = [channel_parts(audio, segmentations) if is_split(audio) else None for audio, segmentations in items]
        work = []  # (waveform (1, samples), segmentation) of every file, or of every talking channel of a call
        for (audio, segmentations), mine in zip(items, parts):
            work += [(audio.waveform, segmentations)] if mine is None else \
                [(part.waveform, part.segmentation) for part in mine]
        embedded = iter(embed_segmented_many(self.embedding_path, self.embedder, work, self.exclude_overlap,
                                             self.config.embedding_batch_size, hook=hook))
        dimension = self.config.facts.embedding_dimension
        return [next(embedded) if mine is None else
                gather_channels(segmentations, mine, [next(embedded) for _ in mine], dimension)
                for (_, segmentations), mine in zip(items, parts)]

    def needs_embeddings(self, segmentations: Windowed) -> bool:
        """False when nobody speaks: the embedding stage can be skipped."""
        return bool(np.nansum(segmentations.data) > 0)

    def finish(self, uri: str, duration: float, segmentations: Windowed, embeddings: np.ndarray | None,
               num_speakers: int | None = None, min_speakers: int | None = None,
               max_speakers: int | None = None, telephone: bool = False) -> DiarizationResult:
        """Clustering and reconstruction (CPU): the final result of one file (``telephone``: it is telephone
        audio, ``Audio.telephone``, and gets the telephone settings)."""
        return self.finisher(uri, duration, segmentations, embeddings, num_speakers=num_speakers,
                             min_speakers=min_speakers, max_speakers=max_speakers, telephone=telephone)

    def __call__(self, audio: AudioInput, num_speakers: int | None = None, min_speakers: int | None = None,
                 max_speakers: int | None = None, hook: Hook | None = None, channel: int | None = None,
                 channels: str | None = None, return_embeddings: bool = False
                 ) -> DiarizationResult | tuple[Diarization, np.ndarray]:
        """Diarize one file: a path, URL, bytes, ``{"waveform": (channel, time), "sample_rate": int}`` or
        pyannote's ``{"audio": path}``. ``return_embeddings=True`` returns pyannote 3.1's pair instead:
        ``(speaker_diarization, speaker_embeddings)``, one embedding row per label in ``labels()`` order."""
        hook = hook or no_hook
        resolve_num_speakers(num_speakers, min_speakers, max_speakers)  # bad bounds fail before decoding
        audio = self.load(audio, channel=channel, channels=channels)
        segmentations, embeddings = self._segment_and_embed(audio, hook)
        hook("embeddings", embeddings)
        result = self.finish(audio.uri, audio.duration, segmentations, embeddings,
                             num_speakers=num_speakers, min_speakers=min_speakers, max_speakers=max_speakers,
                             telephone=audio.telephone)
        hook("clustering", result)
        return (result.speaker_diarization, result.speaker_embeddings) if return_embeddings else result

    def _segment_and_embed(self, audio: Audio, hook: Hook) -> tuple[Windowed, np.ndarray | None]:
        """Segmentation and embeddings of one file, on the current embedding path (None: nobody speaks)."""
        if self.embedding_path is EmbeddingPath.SIDE_BY_SIDE_CPU and not is_split(audio):
            segmentations, embeddings = segment_and_embed(
                self.segmenter, self.embedder, audio.waveform, self.exclude_overlap,
                workers=torch.get_num_threads(), hook=hook,
                columns=split_runs if self.config.cluster_runs else None, tones=audio.tones)
            hook("segmentation", segmentations)
            return segmentations, embeddings
        audio = self.on_device(audio)
        [segmentations] = self.segment_many([audio], hook=hook)
        hook("segmentation", segmentations)
        if not self.needs_embeddings(segmentations):
            return segmentations, None
        [embeddings] = self.embed_many([(audio, segmentations)], hook=hook)
        return segmentations, embeddings
