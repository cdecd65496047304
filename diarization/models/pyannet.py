"""PyanNet, the segmentation-3.0 architecture: SincNet front-end > BiLSTM > MLP > powerset classifier.

Module and parameter names mirror the published checkpoint so that its state dict loads strictly.
Everything the model needs (strides, layer sizes, classes) is read from the checkpoint itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoint import load_checkpoint
from ..errors import ModelLoadError
from ..powerset import num_powerset_classes
from ..windows import SlidingWindow

SINC_FILTERS = 80  # 40 cosine (even) + 40 sine (odd) band-pass filters
SINC_KERNEL = 251
POOL = 3
CONV_KERNEL = 5
CONV_CHANNELS = 60
DEFAULT_SINC_STRIDE = 10


# ---------------------------------------------------------------- convolution arithmetic (pure)


def conv_num_frames(num_samples: int, kernels: Sequence[int], strides: Sequence[int]) -> int:
    """Output length of a stack of unpadded, undilated 1-D convolutions/poolings."""
    n = num_samples
    for k, s in zip(kernels, strides):
        n = 1 + (n - k) // s
    return n


def conv_receptive_field_size(num_frames: int, kernels: Sequence[int], strides: Sequence[int]) -> int:
    """Number of input samples seen by ``num_frames`` consecutive output frames."""
    size = num_frames
    for k, s in reversed(list(zip(kernels, strides))):
        size = k + (size - 1) * s
    return size


def conv_receptive_field_center(frame: int, kernels: Sequence[int], strides: Sequence[int]) -> int:
    """Input sample at the centre of output frame ``frame``'s receptive field."""
    center = frame
    for k, s in reversed(list(zip(kernels, strides))):
        center = center * s + (k - 1) // 2
    return center


def receptive_field(kernels: Sequence[int], strides: Sequence[int], sample_rate: int) -> SlidingWindow:
    """The sliding window of output frames, in seconds, from the layers' kernel sizes and strides."""
    size = conv_receptive_field_size(1, kernels, strides)
    step = conv_receptive_field_size(2, kernels, strides) - size
    start = conv_receptive_field_center(0, kernels, strides) - (size - 1) / 2
    return SlidingWindow(start=start / sample_rate, duration=size / sample_rate, step=step / sample_rate)


def sincnet_kernels() -> list[int]:
    """Kernel sizes of SincNet's layers (sinc convolution, then pooling and convolutions)."""
    return [SINC_KERNEL, POOL, CONV_KERNEL, POOL, CONV_KERNEL, POOL]


def sincnet_strides(stride: int) -> list[int]:
    """Strides of SincNet's layers for a sinc convolution of stride ``stride``."""
    return [stride, POOL, 1, POOL, 1, POOL]


# ---------------------------------------------------------------- SincNet


class SincFilterbank(nn.Module):
    """Parametrised sinc band-pass filters (cosine and sine halves), computed from stored buffers.

    Buffers: ``low_hz_``/``band_hz_`` (n/2, 1) learnt cut-offs, ``window_`` the left half of a Hamming
    window, ``n_`` the matching left half of the time axis times 2*pi/sample_rate.
    """

    def __init__(
        self,
        n_filters: int = SINC_FILTERS,
        kernel_size: int = SINC_KERNEL,
        sample_rate: int = 16000,
        min_low_hz: float = 50.0,
        min_band_hz: float = 50.0,
    ) -> None:
        super().__init__()
        half = kernel_size // 2
        self.n_filters = n_filters
        self.kernel_size = kernel_size
        self.sample_rate = sample_rate
        self.min_low_hz = min_low_hz
        self.min_band_hz = min_band_hz
        self.register_buffer("low_hz_", torch.zeros(n_filters // 2, 1))
        self.register_buffer("band_hz_", torch.zeros(n_filters // 2, 1))
        self.register_buffer("window_", torch.from_numpy(np.hamming(kernel_size)[:half]).float())
        self.register_buffer("n_", 2 * math.pi * (torch.arange(-half, 0.0).view(1, -1) / sample_rate))

    def forward(self) -> torch.Tensor:
        """The (n_filters, 1, kernel_size) filters: all cosine filters, then all sine filters."""
        low = self.min_low_hz + torch.abs(self.low_hz_)
        high = torch.clamp(
            low + self.min_band_hz + torch.abs(self.band_hz_), self.min_low_hz, self.sample_rate / 2
        )
        band = (high - low)[:, 0]
        phase_low = torch.matmul(low, self.n_)
        phase_high = torch.matmul(high, self.n_)
        half_n = self.n_ / 2

        even_left = ((torch.sin(phase_high) - torch.sin(phase_low)) / half_n) * self.window_
        even = torch.cat([even_left, 2 * band.view(-1, 1), torch.flip(even_left, dims=[1])], dim=1)
        odd_left = ((torch.cos(phase_low) - torch.cos(phase_high)) / half_n) * self.window_
        odd = torch.cat(
            [odd_left, torch.zeros_like(band.view(-1, 1)), -torch.flip(odd_left, dims=[1])], dim=1
        )

        scale = 2 * band[:, None]
        filters = torch.cat([even / scale, odd / scale], dim=0)
        return filters.view(self.n_filters, 1, self.kernel_size)


class SincConv(nn.Module):
    """Strided convolution of a mono waveform with the sinc filterbank."""

    def __init__(self, stride: int, sample_rate: int) -> None:
        super().__init__()
        self.stride = stride
        self.filterbank = SincFilterbank(sample_rate=sample_rate)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        return F.conv1d(waveforms, self.filterbank(), stride=self.stride)


class SincNet(nn.Module):
    """Instance-normalised waveform > 3 x (conv > max-pool > instance norm > leaky ReLU); |.| after sinc."""

    def __init__(self, stride: int = DEFAULT_SINC_STRIDE, sample_rate: int = 16000) -> None:
        super().__init__()
        if sample_rate != 16000:
            raise ModelLoadError(f"SincNet supports 16 kHz audio only, the checkpoint says {sample_rate} Hz")
        self.stride = stride
        self.wav_norm1d = nn.InstanceNorm1d(1, affine=True)
        self.conv1d = nn.ModuleList(
            [
                SincConv(stride, sample_rate),
                nn.Conv1d(SINC_FILTERS, CONV_CHANNELS, CONV_KERNEL),
                nn.Conv1d(CONV_CHANNELS, CONV_CHANNELS, CONV_KERNEL),
            ]
        )
        self.pool1d = nn.ModuleList([nn.MaxPool1d(POOL, stride=POOL) for _ in range(3)])
        self.norm1d = nn.ModuleList(
            [nn.InstanceNorm1d(c, affine=True) for c in (SINC_FILTERS, CONV_CHANNELS, CONV_CHANNELS)]
        )

    @property
    def kernels(self) -> list[int]:
        return sincnet_kernels()

    @property
    def strides(self) -> list[int]:
        return sincnet_strides(self.stride)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(batch, 1, samples) -> (batch, 60, frames)."""
        return self._after_sinc(self.conv1d[0](self.wav_norm1d(waveforms)))

    def forward_windows(self, span: torch.Tensor, count: int, step: int, window_samples: int) -> torch.Tensor:
        """``forward`` of the ``count`` windows ``span[i * step:i * step + window_samples]`` of one
        (1, samples) waveform, with the sinc convolution computed once over the span, not once per window.

        The waveform normalisation is affine per window and the sinc convolution linear and unbiased, so a
        window's normalised convolution is its slice of the span's raw convolution, rescaled: equal to
        ``forward`` on each window up to float rounding. ``step`` must be a multiple of the sinc stride.
        """
        if step % self.stride:
            raise ValueError(f"the window step must be a multiple of the sinc stride ({self.stride})")
        span = span.reshape(-1)
        if span.shape[0] < (count - 1) * step + window_samples:
            raise ValueError("the span is shorter than its windows")
        filters = self.conv1d[0].filterbank()
        raw = F.conv1d(span.reshape(1, 1, -1), filters, stride=self.stride)[0]  # (filters, frames)
        width = (window_samples - SINC_KERNEL) // self.stride + 1
        windows = raw.as_strided((count, raw.shape[0], width), (step // self.stride, raw.stride(0), 1))
        var, mean = torch.var_mean(span.unfold(0, window_samples, step)[:count], dim=1, unbiased=False)
        norm = self.wav_norm1d
        scale = norm.weight / torch.sqrt(var + norm.eps)  # (count,)
        shift = (norm.bias - scale * mean)[:, None, None] * filters.sum(dim=(1, 2))[None, :, None]
        return self._after_sinc(torch.addcmul(shift, windows, scale[:, None, None]))

    def _after_sinc(self, x: torch.Tensor) -> torch.Tensor:
        for i, (conv, pool, norm) in enumerate(zip(self.conv1d, self.pool1d, self.norm1d)):
            x = conv(x) if i > 0 else x.abs_()
            x = F.leaky_relu(norm(pool(x)))
        return x


# ---------------------------------------------------------------- PyanNet


class PyanNet(nn.Module):
    """Segmentation model: (batch, 1, samples) waveforms -> (batch, frames, classes) log-probabilities."""

    def __init__(
        self,
        sincnet: dict[str, Any] | None = None,
        lstm: dict[str, Any] | None = None,
        linear: dict[str, Any] | None = None,
        sample_rate: int = 16000,
        num_speakers: int = 3,
        max_speakers_per_frame: int = 2,
        chunk_duration: float = 10.0,
    ) -> None:
        super().__init__()
        sincnet = {"stride": DEFAULT_SINC_STRIDE, **(sincnet or {})}
        lstm = {
            "hidden_size": 128,
            "num_layers": 2,
            "bidirectional": True,
            "monolithic": True,
            **(lstm or {}),
        }
        linear = {"hidden_size": 128, "num_layers": 2, **(linear or {})}
        self.sample_rate = int(sample_rate)
        self.chunk_duration = float(chunk_duration)
        self.num_speakers = int(num_speakers)
        self.max_speakers_per_frame = int(max_speakers_per_frame)
        self.num_classes = num_powerset_classes(self.num_speakers, self.max_speakers_per_frame)

        self.sincnet = SincNet(stride=int(sincnet["stride"]), sample_rate=self.sample_rate)
        hidden, layers = int(lstm["hidden_size"]), int(lstm["num_layers"])
        bidirectional = bool(lstm["bidirectional"])
        self.monolithic = bool(lstm["monolithic"])
        if self.monolithic:
            self.lstm = nn.LSTM(
                CONV_CHANNELS, hidden, num_layers=layers, bidirectional=bidirectional, batch_first=True
            )
        else:
            width = hidden * (2 if bidirectional else 1)
            self.lstm = nn.ModuleList(
                nn.LSTM(
                    CONV_CHANNELS if i == 0 else width, hidden, bidirectional=bidirectional, batch_first=True
                )
                for i in range(layers)
            )
        features = hidden * (2 if bidirectional else 1)
        sizes = [features] + [int(linear["hidden_size"])] * int(linear["num_layers"])
        self.linear = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(sizes))
        self.classifier = nn.Linear(sizes[-1], self.num_classes)

    @property
    def receptive_field(self) -> SlidingWindow:
        """Sliding window of the output frames (start, duration, step in seconds)."""
        return receptive_field(self.sincnet.kernels, self.sincnet.strides, self.sample_rate)

    def num_frames(self, num_samples: int) -> int:
        """Number of output frames for ``num_samples`` input samples."""
        return conv_num_frames(num_samples, self.sincnet.kernels, self.sincnet.strides)

    @property
    def chunk_samples(self) -> int:
        """Samples in one chunk of ``chunk_duration`` seconds."""
        return round(self.chunk_duration * self.sample_rate)

    @property
    def device(self) -> torch.device:
        return self.classifier.weight.device

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(batch, 1, samples) float32 -> (batch, frames, num_classes) powerset log-probabilities."""
        return self.classify(self.sincnet(waveforms))

    def forward_windows(self, span: torch.Tensor, count: int, step: int) -> torch.Tensor:
        """``forward`` of ``count`` chunks every ``step`` samples of one waveform ``span`` (see
        ``SincNet.forward_windows``): the sinc convolution of overlapping chunks is shared."""
        return self.classify(self.sincnet.forward_windows(span, count, step, self.chunk_samples))

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        """(batch, 60, frames) SincNet features -> (batch, frames, num_classes) log-probabilities."""
        x = features.transpose(1, 2)
        if self.monolithic:
            x, _ = self.lstm(x)
        else:
            for layer in self.lstm:
                x, _ = layer(x)
        for layer in self.linear:
            x = F.leaky_relu(layer(x))
        return F.log_softmax(self.classifier(x), dim=-1)


# ---------------------------------------------------------------- loading


def _specifications(checkpoint: dict[str, Any], path: Path) -> dict[str, Any]:
    meta = checkpoint.get("pyannote.audio")
    specs = meta.get("specifications") if isinstance(meta, dict) else None
    specs = (
        specs if isinstance(specs, dict) else getattr(specs, "state", None)
    )  # pickled object or plain dict
    if not isinstance(specs, dict):
        raise ModelLoadError(f"{path}: checkpoint has no pyannote.audio task specifications")
    return specs


@dataclass(frozen=True)
class PyanNetSettings:
    """The architecture a segmentation checkpoint declares: ``PyanNet``'s constructor arguments."""

    sincnet: dict[str, Any] | None
    lstm: dict[str, Any] | None
    linear: dict[str, Any] | None
    sample_rate: int
    num_speakers: int
    max_speakers_per_frame: int
    chunk_duration: float

    @property
    def sinc_stride(self) -> int:
        """Samples between the sinc convolution's output frames."""
        return int((self.sincnet or {}).get("stride", DEFAULT_SINC_STRIDE))

    @property
    def frames(self) -> SlidingWindow:
        """Sliding window of the output frames (``PyanNet.receptive_field``), without building the network."""
        return receptive_field(sincnet_kernels(), sincnet_strides(self.sinc_stride), self.sample_rate)


def _checkpoint_file(path: str | Path) -> Path:
    path = Path(path)
    return path / "pytorch_model.bin" if path.is_dir() else path


def _settings(checkpoint: dict[str, Any], path: Path) -> PyanNetSettings:
    meta = checkpoint.get("pyannote.audio")
    architecture = meta.get("architecture", {}) if isinstance(meta, dict) else {}
    if architecture.get("class", "PyanNet") != "PyanNet":
        raise ModelLoadError(f"{path}: architecture {architecture.get('class')!r} is not PyanNet")
    hparams = checkpoint.get("hyper_parameters")
    if not isinstance(hparams, dict):
        raise ModelLoadError(f"{path}: checkpoint has no hyper_parameters")
    specs = _specifications(checkpoint, path)
    if not specs.get("powerset"):
        raise ModelLoadError(f"{path}: only powerset segmentation models are supported")
    try:
        return PyanNetSettings(
            sincnet=hparams.get("sincnet"),
            lstm=hparams.get("lstm"),
            linear=hparams.get("linear"),
            sample_rate=int(hparams.get("sample_rate", 16000)),
            num_speakers=len(specs["classes"]),
            max_speakers_per_frame=specs["powerset_max_classes"],
            chunk_duration=specs["duration"],
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ModelLoadError(f"{path}: checkpoint does not fit PyanNet ({error})") from error


def segmentation_settings(path: str | Path) -> PyanNetSettings:
    """What the segmentation checkpoint at ``path`` (file, or folder holding ``pytorch_model.bin``)
    declares, read without building the network. Raises ``ModelLoadError``."""
    path = _checkpoint_file(path)
    return _settings(load_checkpoint(path), path)


def load_segmentation_model(path: str | Path, device: str | torch.device = "cpu") -> PyanNet:
    """Load a segmentation-3.0 style PyanNet from its ``pytorch_model.bin`` or the folder holding it.

    Hyper-parameters and specifications come from the checkpoint; the state dict loads strictly.
    Raises ``ModelLoadError`` naming the file when anything is missing or does not fit.
    """
    path = _checkpoint_file(path)
    checkpoint = load_checkpoint(path)
    settings = _settings(checkpoint, path)
    try:
        model = PyanNet(**asdict(settings))
        model.load_state_dict(checkpoint["state_dict"], strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise ModelLoadError(f"{path}: checkpoint does not fit PyanNet ({error})") from error
    return model.eval().to(device)
