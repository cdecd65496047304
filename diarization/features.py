"""Kaldi-compatible log-mel filterbank features, batched, in plain torch (CPU or CUDA).

Matches ``torchaudio.compliance.kaldi.fbank`` for the options our embedding models use: no dither,
``snip_edges=True``, per-frame DC removal, pre-emphasis 0.97, power spectrum over an FFT of the frame
length rounded up to a power of two, triangular mel filters between ``low_freq`` and Nyquist, natural
log floored at float32 epsilon, no energy column. Two settings are predefined:

* ``WESPEAKER_FBANK``: WeSpeaker ResNet as packaged by pyannote (Hamming window, waveform scaled by
  2^15 first, features centred on their mean over the whole input);
* ``CAMPPLUS_FBANK``: 3D-Speaker CAM++ (Povey window, waveform in [-1, 1], mean-centred).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

_EPSILON = torch.finfo(torch.float32).eps
_WINDOWS = ("hamming", "povey", "hanning", "rectangular")


@dataclass(frozen=True)
class FbankOptions:
    """Feature settings; names follow Kaldi's ``compute-fbank-feats`` options."""

    sample_rate: int = 16000
    num_mel_bins: int = 80
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    window_type: str = "povey"
    preemphasis: float = 0.97
    remove_dc_offset: bool = True
    round_to_power_of_two: bool = True
    low_freq: float = 20.0
    high_freq: float = 0.0  # <= 0: offset from Nyquist
    scale: float = 1.0  # the waveform is multiplied by this first (WeSpeaker: 2^15)
    subtract_mean: bool = True  # centre each feature on its mean over the input's frames

    @property
    def window_size(self) -> int:
        return int(self.sample_rate * self.frame_length_ms * 0.001)

    @property
    def window_shift(self) -> int:
        return int(self.sample_rate * self.frame_shift_ms * 0.001)

    @property
    def fft_size(self) -> int:
        size = self.window_size
        return 1 << (size - 1).bit_length() if self.round_to_power_of_two else size


WESPEAKER_FBANK = FbankOptions(window_type="hamming", scale=float(1 << 15))
CAMPPLUS_FBANK = FbankOptions(window_type="povey", scale=1.0)


def num_frames(num_samples: int, options: FbankOptions) -> int:
    """Number of feature frames for ``num_samples`` samples (``snip_edges``: whole frames only)."""
    if num_samples < options.window_size:
        return 0
    return 1 + (num_samples - options.window_size) // options.window_shift


def _mel(freq: torch.Tensor | float) -> torch.Tensor | float:
    if isinstance(freq, torch.Tensor):
        return 1127.0 * torch.log(1.0 + freq / 700.0)
    return 1127.0 * math.log(1.0 + freq / 700.0)


def mel_filterbank(options: FbankOptions) -> torch.Tensor:
    """(fft_size // 2 + 1, num_mel_bins) float32 triangular filters on the power spectrum.

    Filters are equally spaced on Kaldi's mel scale (1127 ln(1 + f / 700)); the Nyquist bin gets 0.
    """
    nyquist = 0.5 * options.sample_rate
    high = options.high_freq if options.high_freq > 0.0 else options.high_freq + nyquist
    if not (0.0 <= options.low_freq < high <= nyquist):
        raise ValueError(f"bad mel range {options.low_freq}..{high} Hz for Nyquist {nyquist} Hz")
    mel_low, mel_high = _mel(options.low_freq), _mel(high)
    delta = (mel_high - mel_low) / (options.num_mel_bins + 1)
    index = torch.arange(options.num_mel_bins, dtype=torch.float32).unsqueeze(1)
    left = mel_low + index * delta
    centre = mel_low + (index + 1.0) * delta
    right = mel_low + (index + 2.0) * delta
    bin_width = options.sample_rate / options.fft_size
    mel = _mel(bin_width * torch.arange(options.fft_size // 2, dtype=torch.float32)).unsqueeze(0)
    rising = (mel - left) / (centre - left)
    falling = (right - mel) / (right - centre)
    weights = torch.clamp(torch.minimum(rising, falling), min=0.0)  # (bins, fft_size // 2)
    return F.pad(weights, (0, 1)).T.contiguous()


def feature_window(options: FbankOptions) -> torch.Tensor:
    """(window_size,) float32 analysis window (symmetric, as Kaldi)."""
    size = options.window_size
    if options.window_type == "hamming":
        return torch.hamming_window(size, periodic=False, alpha=0.54, beta=0.46)
    if options.window_type == "povey":
        return torch.hann_window(size, periodic=False).pow(0.85)
    if options.window_type == "hanning":
        return torch.hann_window(size, periodic=False)
    if options.window_type == "rectangular":
        return torch.ones(size)
    raise ValueError(f"unknown window type {options.window_type!r}; expected one of {_WINDOWS}")


class Fbank(torch.nn.Module):
    """(batch, samples) float waveforms -> (batch, frames, num_mel_bins) log-mel features.

    The window and filterbank are non-persistent buffers: they follow ``.to(device)`` and stay out of
    the state dict.
    """

    def __init__(self, options: FbankOptions = CAMPPLUS_FBANK) -> None:
        super().__init__()
        if options.window_size < 2 or options.window_shift < 1 or options.fft_size % 2:
            raise ValueError(f"unusable frame settings: {options}")
        self.options = options
        self.register_buffer("window", feature_window(options), persistent=False)
        self.register_buffer("filters", mel_filterbank(options), persistent=False)

    def num_frames(self, num_samples: int) -> int:
        """Number of output frames for ``num_samples`` input samples."""
        return num_frames(num_samples, self.options)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        options = self.options
        if waveforms.dim() != 2:
            raise ValueError(f"expected (batch, samples) waveforms, got shape {tuple(waveforms.shape)}")
        if waveforms.shape[1] < options.window_size:
            raise ValueError(
                f"{waveforms.shape[1]} samples is shorter than one {options.window_size}-sample frame"
            )
        x = waveforms.to(torch.float32)
        if options.scale != 1.0:
            x = x * options.scale
        frames = x.unfold(1, options.window_size, options.window_shift)  # (B, m, window)
        if options.remove_dc_offset:
            frames = frames - frames.mean(dim=2, keepdim=True)
        if options.preemphasis != 0.0:
            previous = torch.cat([frames[..., :1], frames[..., :-1]], dim=2)
            frames = frames - options.preemphasis * previous
        frames = frames * self.window
        padding = options.fft_size - options.window_size
        if padding:
            frames = F.pad(frames, (0, padding))
        power = torch.fft.rfft(frames).abs().pow(2.0)  # (B, m, fft_size // 2 + 1)
        energies = torch.matmul(power, self.filters)
        features = torch.clamp(energies, min=_EPSILON).log()
        if options.subtract_mean:
            features = features - features.mean(dim=1, keepdim=True)
        return features
