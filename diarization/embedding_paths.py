"""How the chunk embeddings of a file are computed: one decision, taken here.

* ``PER_CHUNK``: the whole embedding network on every chunk (exact mode: community-1's computation);
* ``SHARED_TRUNK``: the trunk once over the audio in tiles, every chunk pooled from its slice of the frame
  maps (fast mode, ``diarization.shared_trunk``);
* ``SIDE_BY_SIDE_CPU``: the shared trunk and the segmentation of one file at once on CPU threads (fast mode
  on a multi-core CPU, ``diarization.side_by_side``). Embeddings asked for after the segmentation (a batch
  runner's separate stages) take the shared trunk alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

import numpy as np
import torch

from .embedding import SpeakerEmbedding, chunk_embeddings
from .progress import Hook
from .shared_trunk import shared_trunk_embeddings
from .shared_trunk_many import shared_trunk_embeddings_many
from .windows import Windowed


class EmbeddingPath(Enum):
    PER_CHUNK = "per_chunk"
    SHARED_TRUNK = "shared_trunk"
    SIDE_BY_SIDE_CPU = "side_by_side_cpu"


def choose_embedding_path(shared_trunk: bool, trunk_fits: bool, device: torch.device, threads: int
                          ) -> EmbeddingPath:
    """The path for a mode that does (or does not) share the trunk, a model whose trunk frames do (or do
    not) fit the chunk grid, the models' ``device`` and the CPU threads torch may use."""
    if not (shared_trunk and trunk_fits):
        return EmbeddingPath.PER_CHUNK
    if device.type == "cpu" and threads > 1:
        return EmbeddingPath.SIDE_BY_SIDE_CPU
    return EmbeddingPath.SHARED_TRUNK


def embed_segmented(path: EmbeddingPath, embedder: SpeakerEmbedding, waveform: torch.Tensor,
                    segmentations: Windowed, exclude_overlap: bool, batch_size: int,
                    hook: Hook | None = None) -> np.ndarray:
    """(num_chunks, num_speakers, dimension) embeddings of one segmented (1, num_samples) file, NaN where
    a local speaker is inactive; ``batch_size`` chunks per network pass on the per-chunk path."""
    if path is EmbeddingPath.PER_CHUNK:
        return chunk_embeddings(embedder, waveform, segmentations, exclude_overlap=exclude_overlap,
                                batch_size=batch_size, hook=hook)
    return shared_trunk_embeddings(embedder, waveform, segmentations, exclude_overlap=exclude_overlap,
                                   hook=hook)


def embed_segmented_many(path: EmbeddingPath, embedder: SpeakerEmbedding,
                         items: Sequence[tuple[torch.Tensor, Windowed]], exclude_overlap: bool, batch_size: int,
                         hook: Hook | None = None, tile_batch: int | None = None) -> list[np.ndarray]:
    """``embed_segmented`` of each (waveform, segmentation) item. On the shared-trunk path the trunk tiles of
    all items share network passes (``shared_trunk_many``; ``tile_batch`` tiles per pass, default the
    device's); the other paths embed item by item."""
    if path is EmbeddingPath.SHARED_TRUNK and len(items) > 1:
        return shared_trunk_embeddings_many(embedder, items, exclude_overlap, tile_batch=tile_batch, hook=hook)
    return [embed_segmented(path, embedder, waveform, segmentations, exclude_overlap, batch_size, hook=hook)
            for waveform, segmentations in items]
