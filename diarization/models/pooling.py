"""Masked statistics pooling shared by the embedding heads.

The weighted mean and unbiased weighted standard deviation follow pyannote's ``StatsPool`` formula
(so the same mask gives the same statistics): with weights w over frames,
``mean = sum(w x) / (sum(w) + 1e-8)`` and
``var = sum(w (x - mean)^2) / (v1 - sum(w^2) / v1 + 1e-8)`` where ``v1 = sum(w) + 1e-8``.
Masks given at another frame rate are first resampled with nearest-neighbour interpolation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def resample_weights(weights: torch.Tensor, num_frames: int) -> torch.Tensor:
    """(batch, speakers, mask_frames) -> (batch, speakers, num_frames), nearest neighbour."""
    if weights.shape[-1] == num_frames:
        return weights
    return F.interpolate(weights, size=num_frames, mode="nearest")


def statistics_pooling(frames: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Concatenated mean and standard deviation over time.

    frames: (batch, features, time). weights: None (plain mean and unbiased std, -> (batch, 2 * features))
    or (batch, speakers, mask_frames) (-> (batch, speakers, 2 * features), one pooling per speaker).
    """
    if weights is None:
        return torch.cat([frames.mean(dim=-1), frames.std(dim=-1, correction=1)], dim=-1)
    weights = resample_weights(weights.to(frames.dtype), frames.shape[-1])
    pooled = []
    for speaker in range(weights.shape[1]):
        w = weights[:, speaker, :].unsqueeze(1)  # (batch, 1, time)
        v1 = w.sum(dim=2) + 1e-8
        mean = torch.sum(frames * w, dim=2) / v1
        squared = torch.square(frames - mean.unsqueeze(2))
        v2 = torch.square(w).sum(dim=2)
        var = torch.sum(squared * w, dim=2) / (v1 - v2 / v1 + 1e-8)
        pooled.append(torch.cat([mean, torch.sqrt(var)], dim=1))
    return torch.stack(pooled, dim=1)
