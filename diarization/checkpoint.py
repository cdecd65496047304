"""Read pyannote/Lightning checkpoints without pyannote, Lightning or their classes installed.

A pyannote checkpoint is a ``torch.save`` pickle whose metadata references classes such as
``pyannote.audio.core.task.Specifications``. We unpickle those references as inert placeholders that
keep their state, so the tensors and plain metadata come out intact and no foreign code is run.
"""

from __future__ import annotations

import pickle
import types
from pathlib import Path
from typing import Any

import torch

from .errors import ModelLoadError

# modules whose classes may appear in checkpoint metadata; anything else must be a safe builtin
_FOREIGN_PREFIXES = ("pyannote", "lightning", "pytorch_lightning", "torchmetrics", "omegaconf", "typing")


class Placeholder:
    """Stands in for a class the checkpoint references but we do not import."""

    qualname = "?"
    args: tuple = ()
    kwargs: dict = {}
    state: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<{self.qualname} args={self.args} state={self.state!r}>"


def _placeholder(module: str, name: str) -> type:
    cls = type(name, (Placeholder,), {"qualname": f"{module}.{name}"})
    return cls


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module.startswith(_FOREIGN_PREFIXES):
            return _placeholder(module, name)
        if module.split(".")[0] in ("torch", "collections", "builtins", "numpy", "_codecs", "copyreg"):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"checkpoint references a class we will not load: {module}.{name}")


_pickle_module = types.SimpleNamespace(Unpickler=_Unpickler, load=pickle.load, __name__="diarization_pickle")


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint file into a dict with at least ``state_dict``, on CPU.

    Raises ``ModelLoadError`` naming the file when it is missing or not a torch checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path}: checkpoint file not found")
    try:
        checkpoint = torch.load(path, map_location="cpu", pickle_module=_pickle_module, weights_only=False)
    except Exception as error:  # torch raises many types for a bad file
        raise ModelLoadError(f"{path}: not a readable torch checkpoint ({error})") from error
    if isinstance(checkpoint, dict) and "state_dict" not in checkpoint:
        if all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
            checkpoint = {"state_dict": checkpoint}
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ModelLoadError(f"{path}: checkpoint has no state_dict")
    return checkpoint
