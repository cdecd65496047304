"""Sliding-window local segmentation and instantaneous speaker counting.

A file is cut into ``chunk_duration`` windows every ``step`` seconds (10 s every 1 s for community-1);
the last, incomplete window is zero-padded, and a file shorter than one window gives one padded chunk.
Each chunk goes through the powerset model and comes out as hard 0/1 activities of its local speakers.

``Segmenter(waveform)`` does one file, ``Segmenter.segment_many`` several at once (their chunks share
model batches), ``Segmenter.infer_range`` a few consecutive chunks of one file (for callers that schedule
the work themselves, ``diarization.side_by_side``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .models.pyannet import PyanNet
from .powerset import to_multilabel
from .progress import Hook
from .windows import SlidingWindow, Windowed, aggregate

STEP_RATIO = 0.1  # step between chunks, as a fraction of the chunk duration


def num_chunks(num_samples: int, window_samples: int, step_samples: int) -> int:
    """Number of chunks: every complete window, plus one zero-padded window if samples are left over."""
    complete = 1 + (num_samples - window_samples) // step_samples if num_samples >= window_samples else 0
    leftover = num_samples < window_samples or (num_samples - window_samples) % step_samples > 0
    return complete + int(leftover)


def chunk_parts(waveform: torch.Tensor, window_samples: int, step_samples: int) -> list[torch.Tensor]:
    """(1, num_samples) or (num_samples,) waveform -> its chunks as at most two tensors, without copying
    the waveform: a (n, 1, window_samples) view of the complete windows (one every ``step_samples``), then
    what remains after the last one (or the whole file, when shorter than a window) zero-padded on the
    right to one more (1, 1, window_samples) chunk."""
    if waveform.ndim == 1:
        waveform = waveform[None]
    if waveform.ndim != 2 or waveform.shape[0] != 1:
        raise ValueError(f"expected a mono (1, num_samples) waveform, got shape {tuple(waveform.shape)}")
    num_samples = waveform.shape[1]
    parts = []
    complete = 0
    if num_samples >= window_samples:
        parts.append(waveform.unfold(1, window_samples, step_samples).transpose(0, 1))
        complete = parts[0].shape[0]
    if num_chunks(num_samples, window_samples, step_samples) > complete:
        rest = waveform[:, complete * step_samples :]
        parts.append(F.pad(rest, (0, window_samples - rest.shape[1]))[None])
    return parts


def _batches(parts: Iterable[torch.Tensor], batch_size: int) -> Iterator[torch.Tensor]:
    """Consecutive batches of ``batch_size`` chunks taken across ``parts``; copies one batch at a time."""
    pending: list[torch.Tensor] = []
    size = 0
    for part in parts:
        start = 0
        while start < len(part):
            take = min(batch_size - size, len(part) - start)
            pending.append(part[start : start + take])
            size += take
            start += take
            if size == batch_size:
                yield torch.cat(pending) if len(pending) > 1 else pending[0]
                pending, size = [], 0
    if pending:
        yield torch.cat(pending) if len(pending) > 1 else pending[0]


class Segmenter:
    """Runs a powerset segmentation model over sliding chunks and returns hard multi-label scores."""

    def __init__(
        self,
        model: PyanNet,
        batch_size: int = 32,
        step: float | None = None,
        share_sinc: bool = False,
    ) -> None:
        """``step`` in seconds defaults to 10% of the model's chunk duration. ``share_sinc``: compute the
        SincNet convolution once per stretch of audio instead of once per overlapping chunk (same scores
        up to float rounding; ``PyanNet.forward_windows``)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = model.device
        self.model = model.eval()
        self.batch_size = int(batch_size)
        self.duration = model.chunk_duration
        self.step = STEP_RATIO * self.duration if step is None else float(step)
        if not 0.0 < self.step <= self.duration:
            raise ValueError(f"step must be in (0, {self.duration:g}] seconds, got {self.step:g}")
        self.window_samples = model.chunk_samples
        self.step_samples = round(self.step * model.sample_rate)
        self.share_sinc = share_sinc and self.step_samples % model.sincnet.stride == 0

    def to(self, device: str | torch.device) -> Segmenter:
        """Move the model to ``device``."""
        self.device = torch.device(device)
        self.model.to(self.device)
        return self

    @property
    def sample_rate(self) -> int:
        return self.model.sample_rate

    @property
    def chunks_window(self) -> SlidingWindow:
        """Sliding window of the chunks (start 0, chunk duration, step)."""
        return SlidingWindow(start=0.0, duration=self.duration, step=self.step)

    @property
    def frames(self) -> SlidingWindow:
        """Sliding window of the frames inside a chunk (the model's receptive field)."""
        return self.model.receptive_field

    @property
    def num_frames(self) -> int:
        """Frames per chunk (589 for segmentation-3.0)."""
        return self.model.num_frames(self.window_samples)

    @property
    def num_speakers(self) -> int:
        """Local speakers per chunk (3 for segmentation-3.0)."""
        return self.model.num_speakers

    def num_chunks(self, num_samples: int) -> int:
        """Number of chunks a ``num_samples`` waveform is cut into."""
        return num_chunks(num_samples, self.window_samples, self.step_samples)

    def infer(self, chunks: torch.Tensor | Sequence[torch.Tensor], hook: Hook | None = None) -> np.ndarray:
        """(B, 1, window_samples) chunks, from any files -> (B, num_frames, num_speakers) float32 0/1.

        ``chunks`` may be one tensor or a sequence of them (taken in order, never concatenated whole).
        Runs in batches of at most ``batch_size`` on the segmenter's device.
        """
        parts = [chunks] if isinstance(chunks, torch.Tensor) else list(chunks)
        batches = (batch.to(self.device, dtype=torch.float32) for batch in _batches(parts, self.batch_size))
        return self._hard_scores(batches, self.model, sum(len(part) for part in parts), hook)

    def _hard_scores(self, batches: Iterable[torch.Tensor], forward: Callable[[torch.Tensor], torch.Tensor],
                     total: int, hook: Hook | None) -> np.ndarray:
        """Concatenated 0/1 multi-label scores of ``forward`` over ``batches``, reporting progress."""
        model = self.model
        outputs, done = [], 0
        with torch.inference_mode():
            for batch in batches:
                hard = to_multilabel(forward(batch), model.num_speakers, model.max_speakers_per_frame)
                outputs.append(hard.cpu().numpy())
                done += len(batch)
                if hook is not None:
                    hook("segmentation", None, total=total, completed=done)
        if not outputs:
            return np.zeros((0, self.num_frames, model.num_speakers), dtype=np.float32)
        return np.concatenate(outputs, axis=0)

    def infer_range(self, waveform: torch.Tensor, first: int, last: int) -> np.ndarray:
        """(last - first, num_frames, num_speakers) hard scores of chunks ``first`` .. ``last - 1`` of one
        (1, num_samples) waveform, as ``segment_many`` gives them (the sinc convolution shared by the chunks
        when ``share_sinc``; one model call: keep ranges small)."""
        waveform = torch.as_tensor(waveform, dtype=torch.float32)
        if not self.share_sinc:
            stop = (last - 1) * self.step_samples + self.window_samples
            span = waveform.reshape(-1)[first * self.step_samples:stop]
            return self.infer(chunk_parts(span, self.window_samples, self.step_samples))
        with torch.inference_mode():
            features = self._sinc_features(waveform, first, last)
            model = self.model
            hard = to_multilabel(model.classify(features), model.num_speakers, model.max_speakers_per_frame)
        return hard.cpu().numpy()

    def _sinc_features(self, waveform: torch.Tensor, first: int, last: int) -> torch.Tensor:
        """SincNet features of chunks ``first`` .. ``last - 1``, the zero padding of the last chunk included."""
        waveform = waveform.reshape(-1)
        start = first * self.step_samples
        stop = (last - 1) * self.step_samples + self.window_samples
        span = waveform[start:stop].to(self.device)
        if span.shape[0] < stop - start:
            span = F.pad(span, (0, stop - start - span.shape[0]))
        return self.model.sincnet.forward_windows(span, last - first, self.step_samples, self.window_samples)

    def _shared_sinc_scores(self, waveforms: Sequence[torch.Tensor], hook: Hook | None) -> np.ndarray:
        """``infer`` over every chunk of ``waveforms`` in order, sinc convolutions shared within each file and
        the rest of the model batched across files."""
        model = self.model
        counts = [self.num_chunks(torch.as_tensor(w).shape[-1]) for w in waveforms]
        total = sum(counts)

        def features() -> Iterator[torch.Tensor]:
            for waveform, count in zip(waveforms, counts):
                waveform = torch.as_tensor(waveform, dtype=torch.float32)
                for first in range(0, count, self.batch_size):
                    yield self._sinc_features(waveform, first, min(count, first + self.batch_size))

        with torch.inference_mode():  # the features are made lazily, inside the batches' loop
            return self._hard_scores(_batches(features(), self.batch_size), model.classify, total, hook)

    def __call__(self, waveform: torch.Tensor) -> Windowed:
        """(1, num_samples) float32 waveform at 16 kHz -> (num_chunks, num_frames, 3) hard scores."""
        [segmentation] = self.segment_many([waveform])
        return segmentation

    def segment_many(self, waveforms: Sequence[torch.Tensor], hook: Hook | None = None) -> list[Windowed]:
        """Segment several files at once: their chunks share model batches (same result as one by one)."""
        if self.share_sinc:
            sizes = [self.num_chunks(torch.as_tensor(w).shape[-1]) for w in waveforms]
            scores = self._shared_sinc_scores(waveforms, hook)
        else:
            parts = [chunk_parts(torch.as_tensor(w, dtype=torch.float32), self.window_samples, self.step_samples)
                     for w in waveforms]
            sizes = [sum(len(part) for part in file_parts) for file_parts in parts]
            scores = self.infer([part for file_parts in parts for part in file_parts], hook=hook)
        bounds = np.cumsum([0, *sizes])
        return [Windowed(scores[a:b], self.chunks_window) for a, b in zip(bounds[:-1], bounds[1:])]


def trim(scores: Windowed, warm_up: tuple[float, float] = (0.1, 0.1)) -> Windowed:
    """Drop the left/right ``warm_up`` fractions of every chunk's frames, and shrink the chunk window."""
    data = np.asarray(scores.data)
    frames_per_chunk = data.shape[1]
    left = round(frames_per_chunk * warm_up[0])
    right = round(frames_per_chunk * warm_up[1])
    chunks = scores.window
    window = SlidingWindow(
        start=chunks.start + warm_up[0] * chunks.duration,
        duration=(1 - warm_up[0] - warm_up[1]) * chunks.duration,
        step=chunks.step,
    )
    return Windowed(data[:, left : frames_per_chunk - right], window)


def speaker_count(
    binarized: Windowed, frames: SlidingWindow, warm_up: tuple[float, float] = (0.0, 0.0)
) -> Windowed:
    """Frame-level number of active speakers: (total_frames, 1) uint8.

    Per chunk and frame, the number of active local speakers; averaged over the overlapping chunks
    (no Hamming weighting, uncovered frames 0) and rounded half to even. community-1 uses no warm-up.
    """
    trimmed = trim(binarized, warm_up)
    per_chunk = np.sum(trimmed.data, axis=-1, keepdims=True)
    count = aggregate(
        Windowed(per_chunk, trimmed.window), frames, hamming=False, missing=0.0, skip_average=False
    )
    return Windowed(np.rint(count.data).astype(np.uint8), count.window)
