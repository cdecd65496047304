"""Speaker diarization: the pyannote community-1 pipeline in plain PyTorch and NumPy."""

from __future__ import annotations

from typing import Any

# bump on any change that alters outputs: it is part of ``Pipeline.fingerprint`` (the resume key)
__version__ = "0.1.0"

__all__ = ["Pipeline", "DiarizationResult", "load_audio", "__version__"]


def __getattr__(name: str) -> Any:
    """Lazy exports, so ``import diarization.errors`` does not load torch models code."""
    if name == "Pipeline":
        from .pipeline import Pipeline

        return Pipeline
    if name == "DiarizationResult":
        from .output import DiarizationResult

        return DiarizationResult
    if name == "load_audio":
        from .audio import load_audio

        return load_audio
    raise AttributeError(f"module 'diarization' has no attribute {name!r}")
