"""Rebuild a WeSpeaker ResNet34 checkpoint in the exact community-1 byte format, for tests.

The real ``embedding/pytorch_model.bin`` is not obtainable and a generated one is 26 MB, too big for git.
``tests/golden/embedding/`` keeps what makes the format: the pickled metadata ``data.pkl`` written by
``shared/tools/make-wespeaker-checkpoint.py`` (Lightning + pyannote metadata, the state-dict layout and
its storage keys) and ``wespeaker_manifest.json`` (the zip entry order and the small text records). The
tensor bytes come from a deterministic recipe (``recipe_values``): each storage is filled from NumPy's
PCG64 stream seeded by ``(SEED, storage key)`` with a distribution chosen by parameter name. The golden
generator builds the same file with this module and records the reference embeddings from it, so CI
compares our loader and model with pyannote's on identical bytes. Pure Python + NumPy: no torch needed.
"""

from __future__ import annotations

import json
import math
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "embedding"
SEED = 20251126
_ALIGNMENT = 64  # torch aligns every record's data to 64 bytes (".storage_alignment")
_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "BoolStorage": np.bool_,
}


@dataclass(frozen=True)
class StorageRef:
    key: str
    dtype: str
    numel: int


@dataclass(frozen=True)
class TensorRef:
    storage: StorageRef
    offset: int
    shape: tuple[int, ...]


class _Inert:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _rebuild_tensor(storage: StorageRef, offset: int, size: tuple, stride: tuple, *rest: Any) -> TensorRef:
    return TensorRef(storage, int(offset), tuple(int(s) for s in size))


class _MetadataUnpickler(pickle.Unpickler):
    """Reads data.pkl without torch: tensors become ``TensorRef``, foreign classes inert objects."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch" and name in _DTYPES:
            return name
        if module in ("collections", "builtins") and name in ("OrderedDict", "set", "frozenset", "tuple"):
            return super().find_class(module, name)
        return type(name, (_Inert,), {})

    def persistent_load(self, pid: Any) -> StorageRef:
        kind, storage_type, key, _location, numel = pid
        if kind != "storage":
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        return StorageRef(str(key), storage_type, int(numel))


def read_state_layout(data_pkl: bytes) -> dict[str, TensorRef]:
    """State-dict name -> tensor reference (storage key, dtype, shape) from a checkpoint's data.pkl."""
    import io

    checkpoint = _MetadataUnpickler(io.BytesIO(data_pkl)).load()
    return dict(checkpoint["state_dict"])


def recipe_values(name: str, ref: TensorRef, seed: int = SEED) -> np.ndarray:
    """Deterministic contents of the storage behind parameter ``name`` (flat, storage dtype)."""
    dtype = _DTYPES[ref.storage.dtype]
    numel = ref.storage.numel
    if name.endswith("num_batches_tracked"):
        return np.zeros(numel, dtype=dtype)
    u = np.random.default_rng([seed, int(ref.storage.key)]).random(numel)  # float64 in [0, 1)
    if name.endswith("running_var"):
        values = 0.5 + u
    elif name.endswith("running_mean"):
        values = 0.2 * (2.0 * u - 1.0)
    elif name.endswith("bias"):
        values = 0.05 * (2.0 * u - 1.0)
    elif len(ref.shape) == 1:  # batch-norm scale
        values = 0.6 + 0.8 * u
    else:  # conv / linear weight: uniform with He variance 2 / fan_in
        fan_in = math.prod(ref.shape[1:])
        values = math.sqrt(6.0 / fan_in) * (2.0 * u - 1.0)
    return values.astype(dtype)


def recipe_state_dict(golden_dir: Path = GOLDEN, seed: int = SEED) -> dict[str, np.ndarray]:
    """The recipe's parameters as NumPy arrays shaped like the state dict."""
    layout = read_state_layout((golden_dir / "wespeaker_data.pkl").read_bytes())
    return {
        name: recipe_values(name, ref, seed)[ref.offset : ref.offset + math.prod(ref.shape)].reshape(
            ref.shape
        )
        for name, ref in layout.items()
    }


def _aligned_info(zf: zipfile.ZipFile, name: str) -> zipfile.ZipInfo:
    """A stored (uncompressed) entry whose data starts on a 64-byte boundary, as torch writes them."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    header = 30 + len(name.encode("utf-8"))
    padding = (-(zf.fp.tell() + header + 4)) % _ALIGNMENT  # 4: the extra field's own header
    info.extra = b"FB" + padding.to_bytes(2, "little") + b"Z" * padding
    return info


def build_checkpoint(out_path: str | Path, golden_dir: Path = GOLDEN, seed: int = SEED) -> Path:
    """Write the checkpoint (pyannote's format, recipe weights) to ``out_path``; returns the path."""
    out_path = Path(out_path)
    data_pkl = (golden_dir / "wespeaker_data.pkl").read_bytes()
    manifest = json.loads((golden_dir / "wespeaker_manifest.json").read_text())
    by_key = {ref.storage.key: (name, ref) for name, ref in read_state_layout(data_pkl).items()}
    prefix = manifest["archive"]
    with zipfile.ZipFile(out_path, "w", zipfile.ZIP_STORED) as zf:
        for entry in manifest["entries"]:
            name = entry["name"]
            if name == f"{prefix}/data.pkl":
                payload = data_pkl
            elif "text" in entry:
                payload = entry["text"].encode("utf-8")
            else:
                key = name.rsplit("/", 1)[1]
                tensor_name, ref = by_key[key]
                payload = (
                    recipe_values(tensor_name, ref, seed)
                    .astype(np.dtype(_DTYPES[ref.storage.dtype]).newbyteorder("<"))
                    .tobytes()
                )
            zf.writestr(_aligned_info(zf, name), payload)
    return out_path


def record_format(checkpoint_path: str | Path, golden_dir: Path) -> None:
    """Save data.pkl and the entry manifest of a checkpoint written by make-wespeaker-checkpoint.py."""
    golden_dir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(checkpoint_path) as zf:
        names = zf.namelist()
        prefix = names[0].split("/", 1)[0]
        entries = []
        for name in names:
            if name == f"{prefix}/data.pkl":
                (golden_dir / "wespeaker_data.pkl").write_bytes(zf.read(name))
                entries.append({"name": name})
            elif name.startswith(f"{prefix}/data/"):
                entries.append({"name": name})
            else:
                entries.append({"name": name, "text": zf.read(name).decode("utf-8")})
    manifest = {"archive": prefix, "seed": SEED, "entries": entries}
    (golden_dir / "wespeaker_manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


def read_clip(path: str | Path, start: int = 0, length: int | None = None) -> np.ndarray:
    """First channel of a WAV file as float32, samples ``start : start + length`` (as the golden script)."""
    import soundfile as sf

    audio, _ = sf.read(str(path), dtype="float32", always_2d=True)
    return audio[start : None if length is None else start + length, 0]


def centered_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine after subtracting the mean reference row.

    Random-weight ReLU networks give embeddings that share one dominant direction (plain cosines of
    unrelated inputs are ~0.97), so parity is judged on the deviations from the mean.
    """
    a, b = a.reshape(-1, a.shape[-1]).astype(np.float64), b.reshape(-1, b.shape[-1]).astype(np.float64)
    mean = b.mean(axis=0)
    a, b = a - mean, b - mean
    return np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two (..., D) arrays."""
    a, b = a.reshape(-1, a.shape[-1]).astype(np.float64), b.reshape(-1, b.shape[-1]).astype(np.float64)
    return np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
