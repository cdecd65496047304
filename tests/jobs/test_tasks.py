"""The decode task's retry of transient storage failures (plain functions, no Ray cluster)."""

from __future__ import annotations

import pytest

from diarization.errors import AudioDecodeError, AudioReadError
from jobs.tasks import with_read_retries


class Flaky:
    """A loader that fails with ``errors`` (in order), then returns "audio"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "audio"


def test_transient_read_failures_are_retried_with_backoff() -> None:
    waits: list[float] = []
    load = Flaky(AudioReadError("s3://b/a.wav", "read failed (reset)"), AudioReadError("s3://b/a.wav", "timeout"))
    assert with_read_retries(load, attempts=3, backoff=0.5, sleep=waits.append) == "audio"
    assert load.calls == 3 and waits == [0.5, 1.0]


def test_the_last_read_failure_says_how_many_tries_were_made() -> None:
    waits: list[float] = []
    load = Flaky(*[AudioReadError("s3://b/a.wav", "read failed (503 SlowDown)") for _ in range(3)])
    with pytest.raises(AudioReadError, match=r"s3://b/a.wav: read failed \(503 SlowDown\); gave up after 3 tries"):
        with_read_retries(load, attempts=3, backoff=1.0, sleep=waits.append)
    assert load.calls == 3 and waits == [1.0, 2.0]


def test_a_corrupt_file_is_not_retried() -> None:
    load = Flaky(AudioDecodeError("a.wav", "not a readable audio file"))
    with pytest.raises(AudioDecodeError):
        with_read_retries(load, attempts=3, sleep=lambda _: pytest.fail("slept before a pointless retry"))
    assert load.calls == 1
