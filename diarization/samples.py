"""Which decoded samples the models can take: one check, shared by every decoder."""

from __future__ import annotations

import numpy as np

MAX_ABS_SAMPLE = 1e12  # float files at integer scale (up to 2^31) pass; beyond ~1e19 the models overflow


def sample_problem(samples: np.ndarray) -> str | None:
    """Why ``samples`` (any shape) cannot be diarized, or None: NaN or Inf values, or a magnitude beyond
    ``MAX_ABS_SAMPLE``."""
    if not samples.size:
        return None
    peak = float(np.maximum(samples.max(), -samples.min()))  # NaN propagates; Inf is not finite
    if not np.isfinite(peak):
        return "samples contain NaN or Inf"
    if peak > MAX_ABS_SAMPLE:
        return (f"sample values reach {peak:.3g}, beyond the supported {MAX_ABS_SAMPLE:.0e} "
                "(float audio is expected within about [-1, 1])")
    return None
