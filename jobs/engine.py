"""The engine as every worker of a job builds it: the same models, mode and batch sizes as the driver's."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EngineSpec:
    """What every worker needs to build the same pipeline."""

    models: str | None
    fingerprint: str
    versions_json: str
    segmentation_batch_size: int | None = None
    embedding_batch_size: int | None = None
    mode: str | None = None


_PIPELINES: dict[tuple, Any] = {}


def build_pipeline(spec: EngineSpec, device: str = "cpu") -> Any:
    """The pipeline of ``spec`` on ``device``, loaded once per process."""
    key = (spec.models, spec.mode, device, spec.segmentation_batch_size, spec.embedding_batch_size)
    if key not in _PIPELINES:
        from diarization.pipeline import Pipeline

        pipeline = Pipeline.from_pretrained(spec.models, device=device, mode=spec.mode)
        if pipeline.fingerprint != spec.fingerprint:
            raise RuntimeError(f"models on {os.uname().nodename} ({pipeline.fingerprint}) differ from the "
                               f"driver's ({spec.fingerprint}): install the same models on every node")
        if spec.segmentation_batch_size:
            pipeline.segmenter.batch_size = spec.segmentation_batch_size
        if spec.embedding_batch_size:
            pipeline.embedding_batch_size = spec.embedding_batch_size
        _PIPELINES[key] = pipeline
    return _PIPELINES[key]


def versions_json(versions: dict[str, str]) -> str:
    """``Pipeline.versions`` as the status table's ``model_versions`` column."""
    return json.dumps(versions, sort_keys=True)
