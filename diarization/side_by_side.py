"""One file on a multi-core CPU: segmentation and the shared embedding trunk side by side.

On CPU, one single-threaded operator per core wastes less than every operator split over all cores
(small LSTM and convolution steps scale poorly). The fast mode's embedding trunk does not depend on
the segmentation (only the pooling does), so both models' work is cut into tasks (small ranges of chunks,
tiles of audio) and run on a pool of ``workers`` threads with one intra-op thread each. The file is
processed in sections of a few minutes, the next section queued before the last one is pooled, so
neither frame maps nor idle cores pile up on long files. Results equal the sequential fast mode's
(``shared_trunk_embeddings``) up to float rounding of different batch sizes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import torch

from .embedding import SpeakerEmbedding
from .progress import Hook
from .runs import pad_columns
from .segmentation import Segmenter
from .shared_trunk import DEFAULT_TILE_SECONDS, POOL_GROUP, pool_chunks, tile_frames, trunk_grid, trunk_masks
from .tones import Tones, silence_tones
from .windows import Windowed

SECTION_TILES = 4  # trunk tiles per section (~4 min of audio): the last section's pooling is the only serial tail
SEGMENTATION_TASK = 12  # chunks per segmentation task: small tasks balance the workers, bound memory


@contextmanager
def single_threaded_ops() -> Iterator[None]:
    """Make every torch operator single-threaded for the duration (process-wide), then restore."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def segment_and_embed(
    segmenter: Segmenter,
    embedder: SpeakerEmbedding,
    waveform: torch.Tensor,
    exclude_overlap: bool,
    workers: int = 2,
    tile_seconds: float = DEFAULT_TILE_SECONDS,
    hook: Hook | None = None,
    columns: Callable[[np.ndarray], np.ndarray] | None = None,
    tones: Tones | None = None,
) -> tuple[Windowed, np.ndarray]:
    """(segmentation, embeddings) of one (1, num_samples) file, both models running at once on CPU threads.

    ``columns`` turns chunks' (n, frames, local speakers) activities into the columns that are embedded
    (e.g. ``diarization.runs.split_runs``; each chunk's columns must depend on that chunk alone); the
    segmentation returned has those columns too. ``tones`` (``diarization.tones``): runs of a local speaker
    that are tones are silent."""
    columns = columns or (lambda data: data)
    window = segmenter.chunks_window
    waveform = torch.as_tensor(waveform, dtype=torch.float32)
    num_chunks = segmenter.num_chunks(waveform.shape[-1])
    grid = trunk_grid(embedder, window, num_chunks, tile_seconds)
    scores = np.zeros((num_chunks, segmenter.num_frames, segmenter.num_speakers), dtype=np.float32)
    pooled_groups: list[np.ndarray] = []  # (n, columns of the group, dimension), in chunk order

    def segment(first: int, last: int) -> None:
        scores[first:last] = segmenter.infer_range(waveform, first, last)
        if tones is not None:
            scores[first:last] = silence_tones(scores[first:last], window, segmenter.frames, tones, first)

    def submit(pool: ThreadPoolExecutor, section: int) -> tuple[dict[int, Future], list[Future]]:
        """Queue one section: its trunk tiles (long tasks first), then the segmentation of its chunks."""
        tiles = range(section * SECTION_TILES, min(grid.num_tiles, (section + 1) * SECTION_TILES))
        chunks = grid.chunks_starting_in(tiles)
        trunk_jobs = {k: pool.submit(tile_frames, embedder, waveform, grid, k) for k in tiles}
        seg_jobs = [pool.submit(segment, a, min(chunks.stop, a + SEGMENTATION_TASK))
                    for a in range(chunks.start, chunks.stop, SEGMENTATION_TASK)]
        return trunk_jobs, seg_jobs

    if hook is not None:
        hook("embeddings", None, total=num_chunks, completed=0)
    sections = -(-grid.num_tiles // SECTION_TILES)
    tiles: dict[int, torch.Tensor] = {}
    pooled = 0
    with single_threaded_ops(), ThreadPoolExecutor(max_workers=workers) as pool:
        queued = submit(pool, 0)
        for section in range(sections):
            trunk_jobs, seg_jobs = queued
            if section + 1 < sections:
                queued = submit(pool, section + 1)
            for job in seg_jobs:
                job.result()
            tiles.update({k: job.result() for k, job in trunk_jobs.items()})
            ready = grid.chunks_ending_by(grid.tile_bounds(max(tiles))[1])
            for first in range(pooled, ready, POOL_GROUP):
                last = min(ready, first + POOL_GROUP)
                group = Windowed(columns(scores[first:last]), window)
                masks = trunk_masks(embedder, group, exclude_overlap)
                pooled_groups.append(pool_chunks(embedder, grid, tiles, masks, first))
            pooled = ready
            keep = grid.tile_of_chunk(pooled) if pooled < num_chunks else max(tiles) + 1
            for index in [k for k in tiles if k < keep]:
                del tiles[index]
            if hook is not None:
                hook("embeddings", None, total=num_chunks, completed=pooled)
    segmentation = columns(scores)  # as wide as its widest group: every chunk was pooled in one
    embeddings = np.concatenate(pad_columns(pooled_groups, axis=1, fill=np.nan))
    return Windowed(segmentation, window), embeddings
