"""Local paths and URLs told apart in one place."""

from __future__ import annotations

from diarization.locations import local_path


def test_plain_paths_and_file_urls_are_local() -> None:
    assert local_path("calls/a.wav") == "calls/a.wav"
    assert local_path("/data/a.wav") == "/data/a.wav"
    assert local_path("file:///data/a.wav") == "/data/a.wav"


def test_other_schemes_are_not() -> None:
    for url in ("s3://bucket/a.wav", "gs://bucket/a.wav", "https://host/a.wav", "memory://a.wav"):
        assert local_path(url) is None
