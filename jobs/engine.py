"""The engine as every worker of a job builds it: the same models, mode and batch sizes as the driver's.

The driver resolves the configuration once and fingerprints it (no network is built); each worker resolves
the same ``models`` argument on its own node, checks that it finds the same files (equal fingerprints),
and builds only what it runs: nothing for decoding, the clustering for finishing, the networks in the
model actors.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from functools import cache
from typing import Any

from diarization.config import EngineConfig, engine_config
from diarization.fingerprint import fingerprint, model_versions


@dataclass(frozen=True)
class EngineSpec:
    """What every worker needs to build the same engine."""

    models: str | None
    fingerprint: str
    versions_json: str
    segmentation_batch_size: int | None = None
    embedding_batch_size: int | None = None
    mode: str | None = None
    channels: str | None = None  # the channel mode of files whose manifest row names none (default: auto)

    @classmethod
    def resolve(cls, models: str | None, mode: str | None = None, segmentation_batch_size: int | None = None,
                embedding_batch_size: int | None = None, channels: str | None = None) -> EngineSpec:
        """The spec of the models found from ``models`` here (on the driver)."""
        spec = cls(models, "", "", segmentation_batch_size, embedding_batch_size, mode, channels)
        config = spec.config_here()
        return dataclasses.replace(spec, fingerprint=fingerprint(config),
                                   versions_json=json.dumps(model_versions(config), sort_keys=True))

    def config_here(self) -> EngineConfig:
        """The configuration of this spec's models as this node finds them."""
        config = engine_config(self.models, mode=self.mode, segmentation_batch_size=self.segmentation_batch_size,
                               embedding_batch_size=self.embedding_batch_size)
        return config if self.channels is None else dataclasses.replace(config, channel_mode=self.channels)


@cache
def worker_config(spec: EngineSpec) -> EngineConfig:
    """``spec``'s configuration on this node, once per process; refused when this node's models differ from
    the driver's."""
    config = spec.config_here()
    found = fingerprint(config)
    if found != spec.fingerprint:
        raise RuntimeError(f"models on {os.uname().nodename} ({found}) differ from the driver's "
                           f"({spec.fingerprint}): install the same models on every node")
    return config


@cache
def worker_finisher(spec: EngineSpec) -> Any:
    """Clustering and reconstruction of ``spec`` (no network), once per process."""
    from diarization.finish import Finisher

    return Finisher.from_config(worker_config(spec))


@cache
def build_pipeline(spec: EngineSpec, device: str = "cpu") -> Any:
    """The pipeline of ``spec`` on ``device`` (both networks), once per process."""
    from diarization.pipeline import Pipeline

    return Pipeline(dataclasses.replace(worker_config(spec), device=device))
