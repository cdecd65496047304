"""Inference-time folding of batch normalisation into the convolution before it.

``conv -> batchnorm`` equals one convolution with rescaled weights and a bias, in eval mode: the folded
network skips a full pass over every feature map per folded layer. Values change by float rounding only.
"""

from __future__ import annotations

import torch
from torch import nn


def fold_batchnorm(conv: nn.Conv1d | nn.Conv2d, norm: nn.BatchNorm1d | nn.BatchNorm2d) -> nn.Module:
    """A copy of ``conv`` whose output equals ``norm(conv(x))`` for a batch norm in eval mode."""
    with torch.no_grad():
        scale = torch.rsqrt(norm.running_var + norm.eps)
        shift = -norm.running_mean * scale
        if norm.affine:
            scale = scale * norm.weight
            shift = shift * norm.weight + norm.bias
        bias = conv.bias * scale + shift if conv.bias is not None else shift
        folded = type(conv)(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                            padding=conv.padding, dilation=conv.dilation, groups=conv.groups, bias=True)
        folded.weight.copy_(conv.weight * scale.reshape(-1, *[1] * (conv.weight.dim() - 1)))
        folded.bias.copy_(bias)
    return folded.to(conv.weight.device, conv.weight.dtype).eval()
