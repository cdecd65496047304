"""One decision for how embeddings are computed."""

from __future__ import annotations

from pathlib import Path

import torch

from diarization.embedding_paths import EmbeddingPath, choose_embedding_path
from diarization.pipeline import Pipeline

CPU, GPU = torch.device("cpu"), torch.device("cuda")


def test_choice() -> None:
    assert choose_embedding_path(False, True, CPU, 8) is EmbeddingPath.PER_CHUNK  # exact mode
    assert choose_embedding_path(True, False, CPU, 8) is EmbeddingPath.PER_CHUNK  # trunk off the chunk grid
    assert choose_embedding_path(True, True, CPU, 8) is EmbeddingPath.SIDE_BY_SIDE_CPU
    assert choose_embedding_path(True, True, CPU, 1) is EmbeddingPath.SHARED_TRUNK  # one CPU thread
    assert choose_embedding_path(True, True, GPU, 8) is EmbeddingPath.SHARED_TRUNK


def test_pipeline_paths(models_dir: Path) -> None:
    fast = Pipeline.from_pretrained(models_dir, device="cpu")
    exact = Pipeline.from_pretrained(models_dir, device="cpu", mode="exact")
    threads = torch.get_num_threads()
    assert exact.embedding_path is EmbeddingPath.PER_CHUNK
    expected = EmbeddingPath.SIDE_BY_SIDE_CPU if threads > 1 else EmbeddingPath.SHARED_TRUNK
    assert fast.embedding_path is expected
