"""Fast chunk embeddings: the embedding trunk runs once over the audio, not once per chunk.

Segmentation chunks overlap (10 s windows every ``step`` seconds), so the exact loop pushes every second
of audio through the embedding network ``10 / step`` times. Here consecutive chunks are grouped into
blocks; the trunk runs once per block and each chunk pools its speakers from its slice of the block's
frame maps. A chunk's slice is exactly the frames the trunk would give the chunk alone, except for
what the network sees beyond the chunk (context from neighbouring audio and per-input feature
normalisation), so embeddings differ slightly from the exact mode; the dev-set DER of both is in
``benchmarks/der.py``'s output. Requires chunk starts to fall on the trunk's frame grid.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .embedding import Hook, SpeakerEmbedding, crop_chunks, speaker_masks
from .windows import SlidingWindow, Windowed

DEFAULT_BLOCK_SECONDS = 60.0


def supports_shared_trunk(model: SpeakerEmbedding, chunks: SlidingWindow) -> bool:
    """True when every chunk start and the chunk length fall on the trunk's frame grid."""
    hop = getattr(model.network, "trunk_hop", None)
    if not hop:
        return False
    rate = model.sample_rate
    return all(abs(value * rate / hop - round(value * rate / hop)) < 1e-6
               for value in (chunks.start, chunks.step, chunks.duration))


def chunks_per_block(chunks: SlidingWindow, block_seconds: float = DEFAULT_BLOCK_SECONDS) -> int:
    """How many consecutive chunks one trunk block of about ``block_seconds`` covers."""
    return max(1, int((block_seconds - chunks.duration) / chunks.step) + 1)


def trunk_masks(model: SpeakerEmbedding, segmentations: Windowed, exclude_overlap: bool) -> torch.Tensor:
    """(C, S, F) pooling masks, with pyannote's overlap exclusion and its minimum-length fallback."""
    data = np.asarray(segmentations.data)
    min_num_frames = -1
    if exclude_overlap:
        chunk_samples = segmentations.window.duration * model.sample_rate
        min_num_frames = math.ceil(data.shape[1] * model.min_num_samples / chunk_samples)
    return torch.from_numpy(speaker_masks(data, exclude_overlap, min_num_frames))


def block_frames(model: SpeakerEmbedding, waveform: torch.Tensor, chunks: SlidingWindow, first: int,
                 last: int) -> torch.Tensor:
    """Trunk frame maps (features, time) of the audio under chunks ``first`` .. ``last - 1``."""
    block = SlidingWindow(start=chunks.start + first * chunks.step,
                          duration=chunks.duration + (last - 1 - first) * chunks.step, step=chunks.step)
    audio = crop_chunks(waveform, Windowed(np.zeros(1), block), model.sample_rate)  # (1, 1, samples)
    with torch.inference_mode():
        return model.network.trunk(audio.to(model.device, torch.float32))[0]


def pool_block(model: SpeakerEmbedding, frames: torch.Tensor, masks: torch.Tensor,
               chunks: SlidingWindow) -> np.ndarray:
    """(n, S, D) embeddings of the n chunks of a block from its frame maps and their (n, S, F) masks."""
    step_frames = round(chunks.step * model.sample_rate / model.network.trunk_hop)
    width = _num_trunk_frames(model, round(chunks.duration * model.sample_rate))
    with torch.inference_mode():
        pieces = torch.stack([frames[:, i * step_frames:i * step_frames + width] for i in range(len(masks))])
        pooled = model.network.pool(pieces, masks.to(model.device, torch.float32)).float().cpu().numpy()
    active = (masks != 0).any(dim=2).numpy()
    return np.where(active[:, :, None], pooled, np.nan).astype(np.float32)


def shared_trunk_embeddings(
    model: SpeakerEmbedding,
    waveform: torch.Tensor,
    binarized_segmentations: Windowed,
    exclude_overlap: bool,
    block_seconds: float = DEFAULT_BLOCK_SECONDS,
    hook: Hook | None = None,
) -> np.ndarray:
    """(C, S, D) embeddings of every (chunk, local speaker), like ``chunk_embeddings`` but one trunk pass
    per block of about ``block_seconds`` of consecutive chunks. NaN rows for inactive speakers."""
    chunks = binarized_segmentations.window
    if not supports_shared_trunk(model, chunks):
        raise ValueError("chunk positions are not on the embedding trunk's frame grid")
    num_chunks, _, num_speakers = np.asarray(binarized_segmentations.data).shape
    output = np.full((num_chunks, num_speakers, model.dimension), np.nan, dtype=np.float32)
    masks = trunk_masks(model, binarized_segmentations, exclude_overlap)
    active_chunks = (masks != 0).any(dim=2).any(dim=1).numpy()
    groups = _active_groups(active_chunks, chunks_per_block(chunks, block_seconds))
    if hook is not None:
        hook("embeddings", None, total=len(groups), completed=0)
    for completed, (first, last) in enumerate(groups, start=1):
        frames = block_frames(model, waveform, chunks, first, last)
        output[first:last] = pool_block(model, frames, masks[first:last], chunks)
        if hook is not None:
            hook("embeddings", output[first:last], total=len(groups), completed=completed)
    return output


def _num_trunk_frames(model: SpeakerEmbedding, num_samples: int) -> int:
    cache = model.__dict__.setdefault("_trunk_frames", {})
    if num_samples not in cache:
        with torch.inference_mode():
            probe = torch.zeros(1, 1, num_samples, device=model.device)
            cache[num_samples] = int(model.network.trunk(probe).shape[-1])
    return cache[num_samples]


def _active_groups(active: np.ndarray, per_block: int) -> list[tuple[int, int]]:
    """[first, last) ranges of at most ``per_block`` consecutive chunks covering every active chunk."""
    groups = []
    c = 0
    n = len(active)
    while c < n:
        if not active[c]:
            c += 1
            continue
        last = min(n, c + per_block)
        while last > c and not active[last - 1]:
            last -= 1
        groups.append((c, last))
        c = last
    return groups
