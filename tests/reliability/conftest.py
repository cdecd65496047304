"""Fixtures for the reliability tests. The real services (a local Ray cluster ``ray_cluster``, a moto S3
server ``moto_endpoint`` with ``s3_options`` and a fresh ``s3_bucket``) and the shared paths (``models_dir``,
``dev_dir``) are session fixtures in tests/conftest.py, shared with tests/jobs, so one pytest run starts Ray
and moto once. This file adds the audio helpers of tests/jobs as fixtures, and the generated malformed-input corpus."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.jobs.conftest import EXCERPTS, audio_dir, pipeline, write_broken, write_excerpt  # noqa: F401

from .corpus import Case, generate, unlock


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory: pytest.TempPathFactory, dev_dir: Path) -> Path:
    """Five seconds of real speech (a dev-set excerpt) as an 8 kHz PCM16 WAV."""
    source, start = EXCERPTS[0]
    return write_excerpt(dev_dir, source, start, 5.0, tmp_path_factory.mktemp("speech") / "speech.wav")


@pytest.fixture(scope="session")
def locked_dir() -> Iterator[Path]:
    """A folder everyone may enter (pytest's own temporary root is private to its owner), for the
    permission cases: an unprivileged reader then meets the files' own permissions."""
    folder = Path(tempfile.mkdtemp(prefix="diarize-locked-"))
    folder.chmod(0o755)
    yield folder
    unlock(folder)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory, locked_dir: Path) -> list[Case]:
    """The malformed-input corpus (tests/reliability/corpus.py), generated once per session."""
    return generate(tmp_path_factory.mktemp("corpus"), locked_dir)
