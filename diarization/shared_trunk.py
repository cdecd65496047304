"""Fast chunk embeddings: the embedding trunk runs once over the audio, not once per chunk.

Segmentation chunks overlap (10 s windows every ``step`` seconds), so the exact loop pushes every second
of audio through the embedding network ``10 / step`` times. Here the trunk (everything before the
statistics pooling) runs once over the file, in tiles of about a minute with a few seconds of context on
each side, and each chunk pools its speakers from its slice of the file's frame maps. A chunk's slice
equals what the trunk gives the chunk alone except for what the network sees beyond the chunk (context
from neighbouring audio, per-input feature normalisation and CAM++'s global context), so embeddings
differ slightly from the exact mode. Because of that context, each chunk pools its frames with a Hamming
window over the chunk (``trunk_masks``); the dev-set DER of both modes is in ``benchmarks/der.py``'s output.
Requires chunk starts and the tile layout to fall on the trunk's frame grid.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .embedding import SpeakerEmbedding, speaker_masks
from .progress import Hook
from .windows import SlidingWindow, Windowed

DEFAULT_TILE_SECONDS = 60.0
MARGIN_SECONDS = 2.0  # context on each side of a tile (CAM++'s convolutions see about +-2 s)
POOL_GROUP = 32  # chunks pooled per call: bounds the copied frame slices
GPU_POOL_GROUP = 384  # on a GPU: ~16 min of chunks per pooling call (~0.4 GB of copied frame slices)
GPU_TILE_BATCH = 8  # on a GPU: tiles per trunk pass


@dataclass(frozen=True)
class TrunkGrid:
    """The file's trunk frames, cut into tiles, and where each chunk's frames lie (all in trunk frames)."""

    hop: int  # samples per trunk frame
    tile: int  # frames per tile
    margin: int  # context frames on each side of a tile
    chunk_step: int  # frames between consecutive chunk starts
    chunk_width: int  # frames of one chunk
    num_chunks: int

    def chunk_frames(self, first: int, last: int) -> tuple[int, int]:
        """[start, end) frames covered by chunks ``first`` .. ``last - 1``."""
        return first * self.chunk_step, (last - 1) * self.chunk_step + self.chunk_width

    @property
    def num_frames(self) -> int:
        return self.chunk_frames(0, self.num_chunks)[1]

    @property
    def num_tiles(self) -> int:
        return math.ceil(self.num_frames / self.tile)

    def tile_bounds(self, index: int) -> tuple[int, int]:
        """[first, last) frames of tile ``index`` (the last tile stops at the last chunk's end)."""
        return index * self.tile, min((index + 1) * self.tile, self.num_frames)

    def tiles_of(self, start: int, end: int) -> range:
        """Tiles holding frames ``start`` .. ``end - 1``."""
        return range(start // self.tile, math.ceil(end / self.tile))

    def tile_of_chunk(self, chunk: int) -> int:
        """The tile holding chunk ``chunk``'s first frame."""
        return self.chunk_frames(chunk, chunk + 1)[0] // self.tile

    def chunks_starting_in(self, tiles: range) -> range:
        """The chunks whose first frame lies in ``tiles`` (consecutive tiles; the last one takes the rest)."""
        first = -(-tiles[0] * self.tile // self.chunk_step)  # ceiling division, in integers
        if tiles[-1] == self.num_tiles - 1:
            return range(first, self.num_chunks)
        return range(first, min(-(-(tiles[-1] + 1) * self.tile // self.chunk_step), self.num_chunks))

    def chunks_ending_by(self, frame: int) -> int:
        """How many leading chunks end at or before ``frame``."""
        if frame < self.chunk_width:
            return 0
        return min(self.num_chunks, (frame - self.chunk_width) // self.chunk_step + 1)


def supports_shared_trunk(model: SpeakerEmbedding, chunks: SlidingWindow) -> bool:
    """True when every chunk start and the chunk length fall on the trunk's frame grid."""
    hop = getattr(model.network, "trunk_hop", None)
    if not hop:
        return False
    rate = model.sample_rate
    return all(abs(value * rate / hop - round(value * rate / hop)) < 1e-6
               for value in (chunks.start, chunks.step, chunks.duration))


def trunk_grid(model: SpeakerEmbedding, chunks: SlidingWindow, num_chunks: int,
               tile_seconds: float = DEFAULT_TILE_SECONDS) -> TrunkGrid:
    """The frame layout of a file of ``num_chunks`` chunks (chunk positions must be on the frame grid)."""
    if not supports_shared_trunk(model, chunks) or chunks.start != 0:
        raise ValueError("chunk positions are not on the embedding trunk's frame grid")
    hop = int(model.network.trunk_hop)
    frames = lambda seconds: max(1, round(seconds * model.sample_rate / hop))
    return TrunkGrid(hop=hop, tile=frames(tile_seconds), margin=frames(MARGIN_SECONDS),
                     chunk_step=frames(chunks.step), chunk_width=_num_trunk_frames(model, frames(chunks.duration) * hop),
                     num_chunks=num_chunks)


def trunk_masks(model: SpeakerEmbedding, segmentations: Windowed, exclude_overlap: bool,
                centre_weighted: bool = True) -> torch.Tensor:
    """(C, S, F) pooling masks, with pyannote's overlap exclusion and its minimum-length fallback.

    ``centre_weighted``: the masks are multiplied by a Hamming window over the chunk (0.08 at its edges,
    1 in its middle). Frames near a chunk's edges reach, through the trunk's ~2 s receptive field, into
    audio beyond the chunk (often another speaker), which the exact per-chunk computation never sees;
    weighting them down recovers and exceeds the exact mode's dev-set DER (``benchmarks/der.py``)."""
    data = np.asarray(segmentations.data)
    min_num_frames = -1
    if exclude_overlap:
        chunk_samples = segmentations.window.duration * model.sample_rate
        min_num_frames = math.ceil(data.shape[1] * model.min_num_samples / chunk_samples)
    masks = speaker_masks(data, exclude_overlap, min_num_frames)
    if centre_weighted:
        masks = masks * np.hamming(masks.shape[-1]).astype(np.float32)
    return torch.from_numpy(masks)


def _tile_span(grid: TrunkGrid, index: int) -> tuple[int, int, int, int]:
    """(first, last) frames of tile ``index`` and the [start, stop) samples its trunk pass reads: ``grid.margin``
    frames of context on each side inside the chunks' span (none past the last chunk: zeros there would
    shift the per-input feature normalisation)."""
    first, last = grid.tile_bounds(index)
    start = max(0, first - grid.margin) * grid.hop
    stop = (last + (grid.margin if last < grid.num_frames else 1)) * grid.hop
    return first, last, start, stop


def _padded(waveform: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """Samples [start, stop) of a 1-D waveform, zeros past its end."""
    piece = waveform[start:min(stop, waveform.shape[0])]
    return F.pad(piece, (0, stop - start - piece.shape[0]))


def tile_audio(waveform: torch.Tensor, grid: TrunkGrid, index: int) -> torch.Tensor:
    """(samples,) input of tile ``index``'s trunk pass, from a 1-D waveform (zeros past its end)."""
    _, _, start, stop = _tile_span(grid, index)
    return _padded(waveform, start, stop)


def crop_tile(grid: TrunkGrid, index: int, maps: torch.Tensor) -> torch.Tensor:
    """(features, frames of tile ``index``) from the (features, pass frames) trunk output of its pass."""
    first, last, start, _ = _tile_span(grid, index)
    offset = first - start // grid.hop
    if maps.shape[1] < offset + last - first:
        raise ValueError(f"the trunk gave {maps.shape[1]} frames for a tile that needs {offset + last - first}")
    return maps[:, offset:offset + last - first]


def equal_length_batches(lengths: Sequence[int], batch: int) -> list[list[int]]:
    """Positions of ``lengths`` in groups of equal length, at most ``batch`` per group, in order of first
    appearance. Only equal lengths share a pass: padding a shorter input would shift its per-input
    normalisation (the fbank mean over the input's frames, CAM++'s global and 100-frame segment means)
    and what its last frames' convolutions see, i.e. change the frames that are pooled."""
    by_length: dict[int, list[int]] = {}
    for position, length in enumerate(lengths):
        by_length.setdefault(length, []).append(position)
    step = max(1, batch)
    return [group[at:at + step] for group in by_length.values() for at in range(0, len(group), step)]


def run_trunk(model: SpeakerEmbedding, pieces: Sequence[torch.Tensor], batch: int = 1) -> list[torch.Tensor]:
    """(features, frames) trunk output of each 1-D audio piece, up to ``batch`` pieces of equal length per
    trunk pass (``equal_length_batches``): each equals the piece's own pass up to float rounding."""
    out: list[torch.Tensor | None] = [None] * len(pieces)
    for part in equal_length_batches([piece.shape[0] for piece in pieces], batch):
        audio = torch.stack([pieces[k] for k in part])  # (n, samples)
        with torch.inference_mode():
            maps = model.network.trunk(audio.unsqueeze(1).to(model.device, torch.float32))  # (n, features, frames)
        for k, frames in zip(part, maps):
            out[k] = frames
    return out


def tile_frames(model: SpeakerEmbedding, waveform: torch.Tensor, grid: TrunkGrid, index: int) -> torch.Tensor:
    """(features, frames) trunk output of tile ``index``, computed with ``grid.margin`` frames of context on
    each side inside the chunks' span (zeros past the end of the file, as in the last chunk's padding)."""
    return tiles_frames(model, waveform, grid, [index])[index]


def tiles_frames(model: SpeakerEmbedding, waveform: torch.Tensor, grid: TrunkGrid, indices: Sequence[int],
                 batch: int = 1) -> dict[int, torch.Tensor]:
    """``tile_frames`` of several tiles, up to ``batch`` tiles of equal length per trunk pass (on a GPU,
    one tile leaves most of the device idle)."""
    waveform = torch.as_tensor(waveform).reshape(-1)
    indices = list(indices)
    maps = run_trunk(model, [tile_audio(waveform, grid, k) for k in indices], batch)
    return {k: crop_tile(grid, k, frames) for k, frames in zip(indices, maps)}


def pool_chunks(model: SpeakerEmbedding, grid: TrunkGrid, tiles: MutableMapping[int, torch.Tensor],
                masks: torch.Tensor, first: int) -> np.ndarray:
    """(n, S, D) embeddings of the n chunks from ``first`` with (n, S, F) ``masks``, pooled from the
    computed ``tiles`` (index -> frames). NaN rows for speakers without active frames."""
    start, end = grid.chunk_frames(first, first + len(masks))
    pieces = [tiles[k][:, max(start - k * grid.tile, 0):end - k * grid.tile] for k in grid.tiles_of(start, end)]
    span = torch.cat(pieces, dim=1) if len(pieces) > 1 else pieces[0]
    windows = span.unfold(1, grid.chunk_width, grid.chunk_step).permute(1, 0, 2)  # (n, features, width)
    with torch.inference_mode():
        pooled = model.network.pool(windows.contiguous(), masks.to(model.device, torch.float32))
    active = (masks != 0).any(dim=2).numpy()
    return np.where(active[:, :, None], pooled.float().cpu().numpy(), np.nan).astype(np.float32)


@dataclass(frozen=True)
class TrunkPlan:
    """One file's (or one channel's) shared-trunk work: its frame layout, pooling masks and active chunks."""

    grid: TrunkGrid
    masks: torch.Tensor  # (C, S, F) pooling weights (``trunk_masks``)
    active: np.ndarray  # (A,) int: the chunks with at least one active speaker, ascending

    @property
    def tiles(self) -> range:
        """Every tile the active chunks need (empty when no chunk is active)."""
        if not len(self.active):
            return range(0)
        return self.grid.tiles_of(*self.grid.chunk_frames(int(self.active[0]), int(self.active[-1]) + 1))


def plan_trunk(model: SpeakerEmbedding, binarized_segmentations: Windowed, exclude_overlap: bool,
               tile_seconds: float = DEFAULT_TILE_SECONDS, centre_weighted: bool = True) -> TrunkPlan:
    """The ``TrunkPlan`` of a (num_chunks, num_frames, num_speakers) binarized segmentation."""
    num_chunks = np.asarray(binarized_segmentations.data).shape[0]
    grid = trunk_grid(model, binarized_segmentations.window, num_chunks, tile_seconds)
    masks = trunk_masks(model, binarized_segmentations, exclude_overlap, centre_weighted)
    return TrunkPlan(grid, masks, np.flatnonzero((masks != 0).any(dim=2).any(dim=1).numpy()))


def pool_plan(model: SpeakerEmbedding, plan: TrunkPlan, pool_group: int,
              compute: Callable[[list[int]], Mapping[int, torch.Tensor]],
              progress: Callable[[int], None] = lambda completed: None) -> np.ndarray:
    """(C, S, D) embeddings of ``plan``'s chunks, ``pool_group`` chunks per pooling call; ``compute(tiles)``
    gives the frames of the tiles a group needs that are not held yet (held tiles before the group are
    dropped, so a long file streams); ``progress(chunks done)`` after each group. NaN: inactive speakers."""
    grid, masks, active = plan.grid, plan.masks, plan.active
    output = np.full((grid.num_chunks, masks.shape[1], model.dimension), np.nan, dtype=np.float32)
    tiles: dict[int, torch.Tensor] = {}
    for group in range(0, grid.num_chunks, pool_group):
        here = active[(active >= group) & (active < group + pool_group)]
        if len(here):
            first, last = int(here[0]), int(here[-1]) + 1
            start, end = grid.chunk_frames(first, last)
            for index in [k for k in tiles if (k + 1) * grid.tile <= start]:
                del tiles[index]
            missing = [k for k in grid.tiles_of(start, end) if k not in tiles]
            tiles.update(compute(missing))
            output[first:last] = pool_chunks(model, grid, tiles, masks[first:last], first)
        progress(min(grid.num_chunks, group + pool_group))
    return output


def device_groups(model: SpeakerEmbedding) -> tuple[int, int]:
    """(chunks per pooling call, tiles per trunk pass) for the model's device."""
    return (GPU_POOL_GROUP, GPU_TILE_BATCH) if model.device.type != "cpu" else (POOL_GROUP, 1)


def shared_trunk_embeddings(
    model: SpeakerEmbedding,
    waveform: torch.Tensor,
    binarized_segmentations: Windowed,
    exclude_overlap: bool,
    tile_seconds: float = DEFAULT_TILE_SECONDS,
    hook: Hook | None = None,
    centre_weighted: bool = True,
) -> np.ndarray:
    """(C, S, D) embeddings of every (chunk, local speaker), like ``chunk_embeddings`` but from one trunk
    pass over the file, tile by tile (tiles no active chunk needs are skipped), frames pooled with
    ``trunk_masks``' centre weighting unless ``centre_weighted`` is False. NaN rows for inactive speakers."""
    plan = plan_trunk(model, binarized_segmentations, exclude_overlap, tile_seconds, centre_weighted)
    pool_group, tile_batch = device_groups(model)
    num_chunks = plan.grid.num_chunks
    if hook is not None:
        hook("embeddings", None, total=num_chunks, completed=0)
    progress = (lambda done: hook("embeddings", None, total=num_chunks, completed=done)) if hook is not None \
        else (lambda done: None)
    return pool_plan(model, plan, pool_group,
                     lambda missing: tiles_frames(model, waveform, plan.grid, missing, batch=tile_batch), progress)


def _num_trunk_frames(model: SpeakerEmbedding, num_samples: int) -> int:
    cache = model.__dict__.setdefault("_trunk_frames", {})
    if num_samples not in cache:
        with torch.inference_mode():
            probe = torch.zeros(1, 1, num_samples, device=model.device)
            cache[num_samples] = int(model.network.trunk(probe).shape[-1])
    return cache[num_samples]
