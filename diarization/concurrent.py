"""One file on a multi-core CPU: segmentation and the shared embedding trunk side by side.

On CPU, one single-threaded operator per core wastes less than every operator split over all cores
(small LSTM and convolution steps scale poorly). The fast mode's embedding trunk does not depend on
the segmentation (only the pooling does), so both models' work is cut into tasks (batches of chunks,
blocks of audio) and run on a pool of ``workers`` threads with one intra-op thread each. The file is
processed in sections of a few minutes, so frame maps never pile up on long files. Results equal the
sequential fast mode's up to float rounding of different batch sizes.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import torch

from .embedding import Hook, SpeakerEmbedding
from .segmentation import Segmenter, chunk_parts
from .shared_trunk import DEFAULT_BLOCK_SECONDS, block_frames, chunks_per_block, pool_block, trunk_masks
from .windows import Windowed

SECTION_BLOCKS = 16  # trunk blocks per section (~14 min of audio at the default block size)
SEGMENTATION_TASK = 8  # chunks per segmentation task: small tasks balance the workers, bound memory


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
    block_seconds: float = DEFAULT_BLOCK_SECONDS,
    hook: Hook | None = None,
) -> tuple[Windowed, np.ndarray]:
    """(segmentation, embeddings) of one file, both models running concurrently on CPU threads."""
    window = segmenter.chunks_window
    parts = chunk_parts(torch.as_tensor(waveform, dtype=torch.float32), segmenter.window_samples,
                        segmenter.step_samples)
    num_chunks = sum(len(part) for part in parts)
    per_block = chunks_per_block(window, block_seconds)
    per_section = per_block * SECTION_BLOCKS
    scores = np.zeros((num_chunks, segmenter.num_frames, segmenter.model.num_speakers), dtype=np.float32)
    embeddings = np.full((num_chunks, segmenter.model.num_speakers, embedder.dimension), np.nan, np.float32)

    def chunk_range(first: int, last: int) -> torch.Tensor:
        pieces, offset = [], 0
        for part in parts:
            a, b = max(first - offset, 0), min(last - offset, len(part))
            if a < b:
                pieces.append(part[a:b])
            offset += len(part)
        return torch.cat(pieces) if len(pieces) > 1 else pieces[0]

    def segment(first: int, last: int) -> None:
        scores[first:last] = segmenter.infer(chunk_range(first, last))

    def trunk(first: int, last: int) -> torch.Tensor:
        return block_frames(embedder, waveform, window, first, last)

    if hook is not None:
        hook("embeddings", None, total=num_chunks, completed=0)
    with single_threaded_ops(), ThreadPoolExecutor(max_workers=workers) as pool:
        for start in range(0, num_chunks, per_section):
            stop = min(num_chunks, start + per_section)
            # long tasks first, then many short ones to fill the gaps: no core waits at the end
            blocks = [(a, min(stop, a + per_block)) for a in range(start, stop, per_block)]
            trunk_jobs = [pool.submit(trunk, a, b) for a, b in blocks]
            seg_jobs = [pool.submit(segment, a, min(stop, a + SEGMENTATION_TASK))
                        for a in range(start, stop, SEGMENTATION_TASK)]
            for job in seg_jobs:
                job.result()
            segmentation = Windowed(scores[start:stop], window)
            masks = trunk_masks(embedder, segmentation, exclude_overlap)
            for (a, b), job in zip(blocks, trunk_jobs):
                frames = job.result()
                embeddings[a:b] = pool_block(embedder, frames, masks[a - start:b - start], window)
            if hook is not None:
                hook("embeddings", None, total=num_chunks, completed=stop)
    return Windowed(scores, window), embeddings
