"""Fixtures for the reliability tests. The real services (a local Ray cluster ``ray_cluster``, a moto S3
server ``moto_endpoint`` with ``s3_options`` and a fresh ``s3_bucket``) and the shared paths (``models_dir``,
``dev_dir``) are session fixtures in tests/conftest.py, shared with tests/jobs, so one pytest run starts Ray
and moto once. This file adds the audio helpers of tests/jobs as fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.jobs.conftest import EXCERPTS, audio_dir, pipeline, write_broken, write_excerpt  # noqa: F401


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory: pytest.TempPathFactory, dev_dir: Path) -> Path:
    """Five seconds of real speech (a dev-set excerpt) as an 8 kHz PCM16 WAV."""
    source, start = EXCERPTS[0]
    return write_excerpt(dev_dir, source, start, 5.0, tmp_path_factory.mktemp("speech") / "speech.wav")
