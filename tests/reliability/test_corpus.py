"""The malformed-input corpus (tests/reliability/corpus.py, several hundred generated files) through the
engine's loader, and the loadable ones through the pipeline; every case in an isolated process with a
deadline, so a hang or a native crash is reported as that case's failure. Also: the 4-hour file streams
in bounded memory, an S3 key that vanishes after it was listed is ``not_found``, and the isolation itself
catches hangs and crashes."""

from __future__ import annotations

import os
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from .corpus import (
    DECODE,
    FOUR_HOURS,
    INVALID,
    NOT_FOUND,
    OK,
    TOO_LONG,
    Case,
    four_hour_wav,
)
from .runner import run_isolated

CATEGORIES = {"empty", "truncated", "wrong_extension", "not_audio", "channels", "sample_rate", "sample_values",
              "clipped", "silence", "duration", "paths", "missing", "permissions"}


def diarized(cases: list[Case], per_category: int = 6) -> set[str]:
    """Which loadable cases also go through the pipeline: a few of every category, evenly spread (the
    loader's output is checked for all of them; the models only ever see 16 kHz mono float32)."""
    names = set()
    for category in sorted({case.category for case in cases}):
        loadable = [c.name for c in cases if c.category == category and OK in c.expect]
        step = max(1, len(loadable) // per_category)
        names.update(loadable[::step][:per_category])
    return names


def test_corpus_covers_every_category(corpus: list[Case]) -> None:
    counts = Counter(case.category for case in corpus)
    assert len(corpus) >= 500 and set(counts) == CATEGORIES, counts
    assert len({case.name for case in corpus}) == len(corpus)
    assert counts["truncated"] >= 300 and counts["not_audio"] >= 60
    outcomes = {outcome for case in corpus for outcome in case.expect}
    assert {OK, DECODE, INVALID, NOT_FOUND, TOO_LONG} <= outcomes


def test_corpus_through_the_engine(corpus: list[Case], models_dir: Path) -> None:
    """Every case ends as an allowed typed error or a correct result; none hangs, crashes or raises an
    untyped exception. All failing cases are listed."""
    to_diarize = diarized(corpus)
    assert len(to_diarize) >= 40
    results = run_isolated(corpus, models=str(models_dir), diarize=to_diarize, case_timeout=60.0)
    assert set(results) == {case.name for case in corpus}
    failures = [f"{case.name} [{case.path!r}]: {'; '.join(results[case.name]['problems'])}"
                for case in corpus if results[case.name]["problems"]]
    assert not failures, f"{len(failures)} of {len(corpus)} cases failed:\n" + "\n".join(failures)
    outcomes = Counter(results[case.name]["outcome"] for case in corpus)
    assert outcomes[OK] >= 200 and outcomes[DECODE] >= 200 and outcomes["untyped"] == 0, outcomes
    slowest = max((r["seconds"], name) for name, r in results.items())
    assert slowest[0] < 30, slowest


# -- the isolation can fail -------------------------------------------------------------------------------

def misbehave(case: Case, pipeline: Any) -> dict[str, Any]:
    """A stand-in for ``evaluate`` that hangs or kills its process on purpose."""
    if case.name == "hang":
        time.sleep(3600)
    if case.name == "crash":
        os.abort()
    return {"outcome": OK, "problems": [], "seconds": 0.0, "message": None}


def test_isolation_reports_hangs_and_crashes_and_goes_on(tmp_path: Path) -> None:
    cases = [Case(name, "test", str(tmp_path / name), frozenset({OK}))
             for name in ("first", "hang", "after-hang", "crash", "last")]
    results = run_isolated(cases, case_timeout=3.0, function=misbehave)
    assert {name: r["outcome"] for name, r in results.items()} == {
        "first": OK, "hang": "hang", "after-hang": OK, "crash": "crash", "last": OK}
    assert results["hang"]["problems"] and results["crash"]["problems"]


# -- four hours -------------------------------------------------------------------------------------------

def test_four_hour_file_is_refused_before_decoding_and_streams_in_bounded_memory(tmp_path: Path) -> None:
    """A real 4 h, 8 kHz PCM16 WAV (230 MB; its silent body is a sparse hole). With a limit it is
    ``too_long`` at once, without decoding; without one, it is decoded block by block: peak memory
    stays near the size of the output, far below the 460 MB the whole file would take as float32."""
    from diarization.audio import load_audio
    from diarization.errors import AudioTooLongError

    path = four_hour_wav(tmp_path / "four-hours.wav")
    assert path.stat().st_size == 44 + FOUR_HOURS * 8000 * 2
    tracemalloc.start()
    try:
        started = time.perf_counter()
        with pytest.raises(AudioTooLongError, match="4.00 h is longer than the 1.00 h limit"):
            load_audio(path, max_duration=3600)
        assert time.perf_counter() - started < 2.0
        assert tracemalloc.get_traced_memory()[1] < 16 * 2**20
        tracemalloc.reset_peak()
        audio = load_audio(path, sample_rate=500)  # the whole 4 h, into a small output
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    output = FOUR_HOURS * 500 * 4
    assert audio.duration == pytest.approx(FOUR_HOURS, abs=0.01) and audio.source_sample_rate == 8000
    assert not np.abs(audio.waveform.numpy()).any()
    assert peak < 2 * output + 48 * 2**20, f"peak {peak / 2**20:.0f} MB for a {output / 2**20:.0f} MB output"


# -- S3: a key that vanishes between listing and reading -----------------------------------------------

def test_s3_key_deleted_after_listing_is_not_found(s3_bucket: str, s3_options: dict[str, Any]) -> None:
    """The listing is cached by the (shared) filesystem instance, so opening the vanished key succeeds and
    only the reads fail: that must still be ``not_found``, not "not audio"; the other keys still load."""
    import boto3
    import fsspec

    from diarization.audio import load_audio
    from diarization.errors import AudioNotFoundError

    from .corpus import encode

    fs = fsspec.filesystem("s3", **s3_options)
    data = encode(np.zeros(8000, np.float32), 8000)
    for name in ("kept.wav", "vanishes.wav", "gone before listing.wav"):
        fs.pipe(f"{s3_bucket}/calls/{name}", data)
    s3 = boto3.client("s3", aws_access_key_id=s3_options["key"], aws_secret_access_key=s3_options["secret"],
                      **s3_options["client_kwargs"])
    bucket = s3_bucket.removeprefix("s3://")
    s3.delete_object(Bucket=bucket, Key="calls/gone before listing.wav")
    listed = sorted(fs.glob(f"{s3_bucket}/calls/*.wav"))
    assert [p.rsplit("/", 1)[1] for p in listed] == ["kept.wav", "vanishes.wav"]
    s3.delete_object(Bucket=bucket, Key="calls/vanishes.wav")
    with pytest.raises(AudioNotFoundError):
        load_audio(f"{s3_bucket}/calls/vanishes.wav", storage_options=s3_options)
    with pytest.raises(AudioNotFoundError, match="no such object"):
        load_audio(f"{s3_bucket}/calls/gone before listing.wav", storage_options=s3_options)
    assert load_audio(f"{s3_bucket}/calls/kept.wav", storage_options=s3_options).duration == 1.0


def test_s3_store_failing_or_unreachable_is_a_read_error(s3_bucket: str, s3_options: dict[str, Any],
                                                          moto_endpoint: str) -> None:
    """An object that exists but whose GETs fail (500/503 after the client's retries), and a store that
    cannot be reached at all, are storage failures (``read_error``): not "missing", not "corrupt"."""
    import fsspec

    from benchmarks.s3proxy import Faults, FaultyProxy
    from diarization.audio import load_audio
    from diarization.errors import AudioReadError

    from .corpus import encode

    fsspec.filesystem("s3", **s3_options).pipe(f"{s3_bucket}/calls/a.wav", encode(np.zeros(8000, np.float32), 8000))
    quick = {"config_kwargs": {"connect_timeout": 1, "retries": {"max_attempts": 1}}}
    with FaultyProxy(moto_endpoint, Faults(error=1.0, methods=("GET",))) as proxy:
        failing = {**s3_options, **quick, "client_kwargs": {**s3_options["client_kwargs"], "endpoint_url": proxy.endpoint}}
        with pytest.raises(AudioReadError, match="calls/a.wav: read failed"):
            load_audio(f"{s3_bucket}/calls/a.wav", storage_options=failing)
        proxy.faults = Faults()
        assert load_audio(f"{s3_bucket}/calls/a.wav", storage_options=failing).duration == 1.0
    unreachable = {**s3_options, **quick, "client_kwargs": {"endpoint_url": "http://127.0.0.1:9", "region_name": "us-east-1"}}
    with pytest.raises(AudioReadError, match="calls/a.wav: storage unreachable"):
        load_audio(f"{s3_bucket}/calls/a.wav", storage_options=unreachable)

