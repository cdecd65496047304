"""Fast chunk embeddings of many files at once: their trunk tiles share network passes.

``shared_trunk_embeddings`` runs the trunk over one file in ~60 s tiles, several tiles per pass on a GPU.
A 3-minute call has only ~3 tiles, so file by file a GPU sees one to three tiles per pass and sits mostly
idle. Here the tiles of many short files (and of each channel of a split call) are cut exactly as each
file alone would cut them, gathered into waves of at most ``CROSS_FILE_TILES`` tiles, and tiles of equal
sample length go through the trunk together (``shared_trunk.equal_length_batches``: padding a tile to a
longer one would change its own feature normalisation and its last frames). Each file then pools its
chunks from its own tiles, as ``shared_trunk_embeddings`` does, so every file's embeddings equal its
single-file ones up to float rounding. Files of more than ``LONG_FILE_TILES`` tiles go alone through the
single-file path (it streams tiles, bounding memory); so does everything when the tile batch is 1 (CPU).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .embedding import SpeakerEmbedding
from .progress import Hook
from .shared_trunk import (DEFAULT_TILE_SECONDS, TrunkPlan, crop_tile, device_groups, plan_trunk, pool_plan,
                           run_trunk, shared_trunk_embeddings, tile_audio)
from .windows import Windowed

CROSS_FILE_TILES = 64  # tiles held at once across files: ~1 h of audio, ~0.4 GB of CAM++ frame maps
LONG_FILE_TILES = 8  # a file of more tiles (> ~8 min) runs alone, streamed by shared_trunk_embeddings


def waves(tile_counts: Sequence[int], limit: int = CROSS_FILE_TILES, alone: int = LONG_FILE_TILES
          ) -> list[list[int]]:
    """Positions of files (given their tile counts) in consecutive waves of at most ``limit`` tiles; a file
    of more than ``alone`` tiles is a wave of its own. Order is kept."""
    out: list[list[int]] = []
    current: list[int] = []
    held = 0
    for position, count in enumerate(tile_counts):
        if count > alone:
            out += [current, [position]] if current else [[position]]
            current, held = [], 0
            continue
        if current and held + count > limit:
            out.append(current)
            current, held = [], 0
        current.append(position)
        held += count
    return out + [current] if current else out


def wave_tiles(model: SpeakerEmbedding, waveforms: Sequence[torch.Tensor], plans: Sequence[TrunkPlan],
               batch: int) -> list[dict[int, torch.Tensor]]:
    """For each file of a wave, tile index -> (features, frames) of every tile its active chunks need,
    all files' tiles in shared trunk passes of up to ``batch`` equal-length tiles."""
    owners = [(file, index) for file, plan in enumerate(plans) for index in plan.tiles]
    flat = [torch.as_tensor(waveform).reshape(-1) for waveform in waveforms]  # (samples,) each
    maps = run_trunk(model, [tile_audio(flat[file], plans[file].grid, index) for file, index in owners], batch)
    tiles: list[dict[int, torch.Tensor]] = [{} for _ in plans]
    for (file, index), frames in zip(owners, maps):
        tiles[file][index] = crop_tile(plans[file].grid, index, frames)
    return tiles


def shared_trunk_embeddings_many(
    model: SpeakerEmbedding,
    items: Sequence[tuple[torch.Tensor, Windowed]],
    exclude_overlap: bool,
    tile_batch: int | None = None,
    tile_seconds: float = DEFAULT_TILE_SECONDS,
    hook: Hook | None = None,
    centre_weighted: bool = True,
) -> list[np.ndarray]:
    """``shared_trunk_embeddings`` of each (waveform (1, samples), binarized segmentation) item: (C, S, D)
    per item, NaN where a speaker is inactive. Short items' tiles share trunk passes of up to
    ``tile_batch`` tiles (default: the device's, 1 on CPU, where items simply run one by one)."""
    pool_group, device_batch = device_groups(model)
    batch = device_batch if tile_batch is None else tile_batch
    if batch <= 1:
        return [shared_trunk_embeddings(model, waveform, segmentations, exclude_overlap, tile_seconds, hook,
                                        centre_weighted) for waveform, segmentations in items]
    plans = [plan_trunk(model, segmentations, exclude_overlap, tile_seconds, centre_weighted)
             for _, segmentations in items]
    total = sum(plan.grid.num_chunks for plan in plans)
    done = 0
    if hook is not None:
        hook("embeddings", None, total=total, completed=0)
    out: list[np.ndarray | None] = [None] * len(items)
    for wave in waves([len(plan.tiles) for plan in plans]):
        if len(wave) == 1 and len(plans[wave[0]].tiles) > LONG_FILE_TILES:
            waveform, segmentations = items[wave[0]]
            out[wave[0]] = shared_trunk_embeddings(model, waveform, segmentations, exclude_overlap, tile_seconds,
                                                   centre_weighted=centre_weighted)
        else:
            tiles = wave_tiles(model, [items[k][0] for k in wave], [plans[k] for k in wave], batch)
            for k, held in zip(wave, tiles):
                out[k] = pool_plan(model, plans[k], pool_group, lambda missing, held=held: {i: held[i] for i in missing})
        done += sum(plans[k].grid.num_chunks for k in wave)
        if hook is not None:
            hook("embeddings", None, total=total, completed=done)
    return out
