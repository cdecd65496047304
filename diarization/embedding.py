"""One interface over the speaker-embedding networks (WeSpeaker ResNet34, CAM++), and the chunk loop.

Each network is a mask-independent trunk (waveform -> frame maps) followed by a masked statistics
pooling head. All local speakers of a segmentation chunk share the same audio, hence the same trunk
output: ``embed_chunks`` runs the trunk once per chunk and pools once per active speaker, which gives
the same embeddings as pyannote's one-forward-per-(chunk, speaker) loop at a fraction of the cost.
``chunk_embeddings`` reproduces pyannote's ``SpeakerDiarization.get_embeddings`` (chunk cropping with
zero padding, overlap exclusion with its minimum-length fallback) on top of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from .checkpoint import load_checkpoint
from .errors import ModelLoadError
from .features import CAMPPLUS_FBANK
from .models.campplus import CAMPPlus, campplus_dimension, is_campplus_state_dict, load_campplus
from .models.resnet import (
    WeSpeakerResNet34,
    is_wespeaker_state_dict,
    load_wespeaker_resnet34,
    wespeaker_fbank,
)
from .progress import Hook
from .windows import Windowed


@runtime_checkable
class EmbeddingModel(Protocol):
    """What the diarization pipeline needs of a speaker-embedding model."""

    sample_rate: int
    dimension: int

    @property
    def min_num_samples(self) -> int: ...

    def to(self, device: torch.device | str) -> EmbeddingModel: ...

    def __call__(self, waveforms: torch.Tensor, masks: torch.Tensor | None = None) -> np.ndarray: ...

    def embed_chunks(
        self, chunks: torch.Tensor, masks: torch.Tensor, batch_size: int = 32, hook: Hook | None = None
    ) -> np.ndarray: ...


class SpeakerEmbedding:
    """``EmbeddingModel`` over a network with ``trunk(waveforms)`` and ``pool(frames, weights)``
    (``WeSpeakerResNet34`` or ``CAMPPlus``)."""

    def __init__(self, network: torch.nn.Module, name: str = "") -> None:
        self.network = network.eval()
        self.name = name or type(network).__name__
        self.sample_rate: int = int(network.sample_rate)
        self.dimension: int = int(network.dimension)
        self.device = torch.device("cpu")

    @property
    def min_num_samples(self) -> int:
        """Fewest samples a waveform needs to be embedded."""
        return int(self.network.min_num_samples)

    def to(self, device: torch.device | str) -> SpeakerEmbedding:
        """Move the network to ``device``; returns self."""
        self.device = torch.device(device)
        self.network.to(self.device)
        return self

    def __call__(self, waveforms: torch.Tensor, masks: torch.Tensor | None = None) -> np.ndarray:
        """(B, 1, T) waveforms, optional (B, F) frame weights -> (B, D) float32 embeddings.

        Same as pyannote's ``PretrainedSpeakerEmbedding``: no mask pools all frames; a mask weights
        the frames (resampled to the trunk's frame rate by nearest neighbour).
        """
        with torch.inference_mode():
            frames = self.network.trunk(waveforms.to(self.device, torch.float32))
            if masks is None:
                embeddings = self.network.pool(frames)
            else:
                weights = masks.to(self.device, torch.float32).unsqueeze(1)
                embeddings = self.network.pool(frames, weights)[:, 0]
        return embeddings.float().cpu().numpy()

    def embed_chunks(
        self, chunks: torch.Tensor, masks: torch.Tensor, batch_size: int = 32, hook: Hook | None = None
    ) -> np.ndarray:
        """(C, 1, T) chunks and (C, S, F) per-speaker frame masks -> (C, S, D) float32 embeddings.

        The trunk runs once per chunk, ``batch_size`` chunks per forward pass; every speaker whose mask
        is not all zero is pooled from it. All-zero masks give NaN rows, and chunks whose masks are all
        zero are not run at all. ``hook("embeddings", batch, total=, completed=)`` follows each pass.
        """
        if chunks.dim() != 3 or masks.dim() != 3 or len(chunks) != len(masks):
            raise ValueError(
                f"expected (C, 1, T) chunks and (C, S, F) masks, got {chunks.shape}, {masks.shape}"
            )
        num_chunks, num_speakers, _ = masks.shape
        output = np.full((num_chunks, num_speakers, self.dimension), np.nan, dtype=np.float32)
        active = (masks != 0).any(dim=2).cpu()  # (C, S)
        todo = torch.nonzero(active.any(dim=1)).flatten().tolist()
        step = max(1, int(batch_size))
        total = math.ceil(len(todo) / step)
        with torch.inference_mode():
            for completed, start in enumerate(range(0, len(todo), step), start=1):
                index = todo[start : start + step]
                frames = self.network.trunk(chunks[index].to(self.device, torch.float32))
                weights = masks[index].to(self.device, torch.float32)
                pooled = self.network.pool(frames, weights).float().cpu().numpy()  # (b, S, D)
                output[index] = np.where(active[index].numpy()[:, :, None], pooled, np.nan)
                if hook is not None:
                    hook("embeddings", output[index], total=total, completed=completed)
        return output


def speaker_masks(binarized: np.ndarray, exclude_overlap: bool, min_num_frames: int) -> np.ndarray:
    """(C, F, S) binarized segmentation (may hold NaN) -> (C, S, F) float32 pooling masks.

    With ``exclude_overlap`` frames where two or more speakers are active (or any score is NaN) are
    zeroed, unless that leaves a speaker ``min_num_frames`` frames or fewer: then its full mask is kept.
    """
    data = np.asarray(binarized, dtype=np.float32)
    masks = np.nan_to_num(data, nan=0.0)
    if exclude_overlap:
        with np.errstate(invalid="ignore"):
            single = (np.sum(data, axis=2, keepdims=True) < 2).astype(np.float32)
        clean = np.nan_to_num(data * single, nan=0.0)
        use_clean = np.sum(clean, axis=1, keepdims=True) > min_num_frames  # (C, 1, S)
        masks = np.where(use_clean, clean, masks)
    return np.ascontiguousarray(masks.transpose(0, 2, 1))


def crop_chunks(
    waveform: torch.Tensor, windows: Windowed, sample_rate: int, index: list[int] | None = None
) -> torch.Tensor:
    """(1, T) waveform -> (C, 1, samples) chunks at the window positions, zero-padded past either end.

    Sample indices are ``round(time * sample_rate)`` of each window's start and end, as pyannote's
    ``Audio.crop(mode="pad")``. ``index`` selects some chunks (default: all of them).
    """
    waveform = torch.as_tensor(waveform)
    if waveform.dim() != 2 or waveform.shape[0] != 1:
        raise ValueError(f"expected a (1, samples) mono waveform, got shape {tuple(waveform.shape)}")
    num_samples = waveform.shape[1]
    chunks = []
    for c in range(len(windows)) if index is None else index:
        start, end = windows.window[c]
        first, last = round(start * sample_rate), round(end * sample_rate)
        piece = waveform[:, min(max(first, 0), num_samples) : min(last, num_samples)]
        pad_start = max(0, -first)
        chunks.append(torch.nn.functional.pad(piece, (pad_start, last - first - pad_start - piece.shape[1])))
    return torch.stack(chunks)


def chunk_embeddings(
    model: EmbeddingModel,
    waveform: torch.Tensor,
    binarized_segmentations: Windowed,
    exclude_overlap: bool,
    batch_size: int = 32,
    hook: Hook | None = None,
) -> np.ndarray:
    """(C, S, D) embedding of each local speaker of each chunk, as pyannote's ``get_embeddings``.

    waveform: (1, T) at ``model.sample_rate``; binarized_segmentations: (C, F, S) 0/1 (NaN allowed) on the
    chunk sliding window. Speakers with an all-zero mask get NaN rows (pyannote computes a meaningless
    embedding there, which its clustering ignores). ``batch_size`` chunks go through the trunk at once
    and only those are cropped at a time. ``hook`` gets pyannote-style progress calls.
    """
    data = np.asarray(binarized_segmentations.data)
    num_chunks, num_frames, num_speakers = data.shape
    output = np.full((num_chunks, num_speakers, model.dimension), np.nan, dtype=np.float32)
    min_num_frames = -1
    if exclude_overlap:
        chunk_samples = binarized_segmentations.window.duration * model.sample_rate
        min_num_frames = math.ceil(num_frames * model.min_num_samples / chunk_samples)
    masks = torch.from_numpy(speaker_masks(data, exclude_overlap, min_num_frames))
    active = np.flatnonzero((masks != 0).any(dim=2).any(dim=1).numpy())
    step = max(1, int(batch_size))
    total = math.ceil(len(active) / step)
    if hook is not None:
        hook("embeddings", None, total=total, completed=0)
    for completed, start in enumerate(range(0, len(active), step), start=1):
        index = active[start : start + step].tolist()
        chunks = crop_chunks(waveform, binarized_segmentations, model.sample_rate, index)
        output[index] = model.embed_chunks(chunks, masks[index], batch_size=step)
        if hook is not None:
            hook("embeddings", output[index], total=total, completed=completed)
    return output


def _checkpoint_file(path: Path) -> Path:
    if path.is_file():
        return path
    if not path.is_dir():
        raise ModelLoadError(f"{path}: embedding model not found")
    for candidate in (path / "pytorch_model.bin", path / "embedding" / "pytorch_model.bin"):
        if candidate.is_file():
            return candidate
    weights = sorted(
        p for p in path.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".ckpt") and p.is_file()
    )
    if len(weights) == 1:
        return weights[0]
    raise ModelLoadError(f"{path}: no embedding checkpoint (pytorch_model.bin or a single .pt/.bin file)")


@dataclass(frozen=True)
class EmbeddingFacts:
    """What an embedding checkpoint declares, read without building its network."""

    name: str  # "WeSpeakerResNet34" or "CAMPPlus"
    sample_rate: int
    dimension: int
    trunk_hop: int  # samples between consecutive trunk frames


def _read_checkpoint(path_or_dir: str | Path) -> tuple[Path, dict, type[torch.nn.Module]]:
    """(checkpoint file, checkpoint, network class) of an embedding model file or folder."""
    path = _checkpoint_file(Path(path_or_dir))
    checkpoint = load_checkpoint(path)
    state_dict = checkpoint["state_dict"]
    if is_wespeaker_state_dict(state_dict):
        return path, checkpoint, WeSpeakerResNet34
    if is_campplus_state_dict(state_dict):
        return path, checkpoint, CAMPPlus
    raise ModelLoadError(f"{path}: unknown embedding model (neither WeSpeaker ResNet34 nor CAM++ weights)")


def embedding_facts(path_or_dir: str | Path) -> EmbeddingFacts:
    """The rate, size and trunk frame hop of the embedding model ``load_embedding_model`` would load."""
    path, checkpoint, network = _read_checkpoint(path_or_dir)
    if network is WeSpeakerResNet34:
        fbank, dimension = wespeaker_fbank(checkpoint, path), WeSpeakerResNet34.dimension
    else:
        fbank, dimension = CAMPPLUS_FBANK, campplus_dimension(checkpoint["state_dict"])
    hop = fbank.window_shift * network.TIME_STRIDE
    return EmbeddingFacts(network.__name__, fbank.sample_rate, dimension, hop)


def load_embedding_model(path_or_dir: str | Path) -> SpeakerEmbedding:
    """Load a speaker-embedding model (on CPU) from a checkpoint file or folder.

    Recognises pyannote's WeSpeaker ResNet34 checkpoint (a file, a model folder with
    ``pytorch_model.bin``, or a community-1 folder with ``embedding/pytorch_model.bin``) and a 3D-Speaker
    CAM++ state dict (a file, or a folder holding exactly one weights file). Raises ``ModelLoadError``.
    """
    path, checkpoint, network = _read_checkpoint(path_or_dir)
    if network is WeSpeakerResNet34:
        return SpeakerEmbedding(load_wespeaker_resnet34(path, checkpoint), network.__name__)
    return SpeakerEmbedding(load_campplus(path, checkpoint), network.__name__)
