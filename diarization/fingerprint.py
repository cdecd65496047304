"""The resume key of a configuration, and the model names for status tables; no network is built.

``fingerprint(config)``: equal fingerprints give equal outputs. It hashes the weight files, the folder's
declared settings as written, the mode, the step, the clustering (its repr, PLDA arrays included, and its
changes for telephone audio), the engine version, the channel mode and the split settings; batch sizes and
the device, which do not change outputs, are left out. Existing Parquet outputs are resumed by this string:
keep its recipe, and bump ``diarization.__version__`` instead.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from . import __version__
from .config import EngineConfig
from .finish import build_clustering
from .pretrained import sha256_of


def weights_file(path: Path) -> Path:
    """The checkpoint file of a model given as a file or as a folder holding ``pytorch_model.bin``."""
    return path if path.is_file() else path / "pytorch_model.bin"


def fingerprint(config: EngineConfig) -> str:
    """16 hex digits identifying the models and the output-relevant settings of ``config``."""
    models = config.models
    parts = {
        "segmentation": sha256_of(weights_file(models.segmentation)),
        "embedding": sha256_of(weights_file(models.embedding)),
        "plda": [sha256_of(p) for p in sorted(models.plda.glob("*.npz"))] if models.plda else None,
        "params": models.params, "options": models.options, "mode": config.mode, "step": config.step,
        "clustering": repr(build_clustering(config.clustering)), "engine": __version__,
        "telephone_clustering": config.clustering.telephone,
        "telephone_mix_clustering": config.clustering.telephone_mix,
        "channels": config.channel_mode, "split": config.split, "telephone": config.telephone_min_duration_off,
        "telephone_tones": config.silence_telephone_tones,
    }
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def model_versions(config: EngineConfig) -> dict[str, str]:
    """Human-readable model names, for status tables."""
    models = config.models
    embedding = models.embedding.parent.name if models.embedding.is_file() else models.embedding.name
    return {"models": models.name, "segmentation": models.segmentation.parent.name, "embedding": embedding,
            "clustering": config.clustering.method, "mode": config.mode}
