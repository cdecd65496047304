"""Speaker diarization: the pyannote community-1 pipeline in plain PyTorch and NumPy."""

from __future__ import annotations

import os
from typing import Any

# OpenMP threads that spin while waiting make torch 10-100x slower as soon as another busy process
# shares the cores (a batch node, CI: one test went from 368 s to 8 s). The fast CPU path runs single-
# threaded operators, which this does not touch. Only effective when set before torch is first imported;
# the user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# bump on any change that alters outputs: it is part of ``Pipeline.fingerprint`` (the resume key)
__version__ = "0.10.0"

__all__ = ["DiarizationResult", "Pipeline", "__version__", "assign_speakers", "load_audio"]


def __getattr__(name: str) -> Any:
    """Lazy exports, so ``import diarization.errors`` does not load torch models code."""
    if name == "Pipeline":
        from .pipeline import Pipeline

        return Pipeline
    if name == "DiarizationResult":
        from .result import DiarizationResult

        return DiarizationResult
    if name == "assign_speakers":
        from .transcript import assign_speakers

        return assign_speakers
    if name == "load_audio":
        from .audio import load_audio

        return load_audio
    raise AttributeError(f"module 'diarization' has no attribute {name!r}")
