"""Running one corpus case: its outcome through ``load_audio`` (as an unprivileged user for the permission
cases when we are root), and every way an ok result differs from what the case allows, optionally also
through the pipeline."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from .corpus import END_SLACK, NOBODY, OK, Case


@contextlib.contextmanager
def unprivileged(active: bool) -> Iterator[None]:
    """Run as user ``nobody`` (effective ids only) when ``active`` and we are root, so that file
    permissions apply; a no-op otherwise."""
    if not active or os.geteuid() != 0:
        yield
        return
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def outcome_of(case: Case, **load: Any) -> tuple[str, Any]:
    """(outcome, Audio or message): "ok", an AudioError code, or "untyped" for any other exception."""
    from diarization.audio import load_audio
    from diarization.errors import AudioError

    try:
        with unprivileged(case.locked):
            audio = load_audio(case.path, max_duration=case.max_duration, channel=case.channel, **load)
    except AudioError as error:
        return error.code, str(error)
    except Exception as error:  # noqa: BLE001 - exactly what the corpus must never see
        return "untyped", f"{type(error).__name__}: {error}"
    return OK, audio


def _decoded(path: str) -> np.ndarray:
    from diarization.audio import load_audio

    return load_audio(path).waveform.numpy()[0]


def check_audio(case: Case, audio: Any) -> list[str]:
    """Every way an ok result differs from what the case allows."""
    problems = []
    wave = audio.waveform
    if wave.dtype != np.float32 and str(wave.dtype) != "torch.float32":
        problems.append(f"dtype {wave.dtype}")
    samples = wave.numpy()
    if samples.ndim != 2 or samples.shape[0] != 1 or samples.shape[1] < 1 or audio.sample_rate != 16000:
        problems.append(f"shape {samples.shape} at {audio.sample_rate} Hz")
    if not np.isfinite(samples).all():
        problems.append("non-finite samples")
    peak = float(np.abs(samples).max()) if samples.size else 0.0
    if case.peak is not None and peak > case.peak:
        problems.append(f"peak {peak:.3g} > {case.peak}")
    if case.duration and not case.duration[0] - 1e-3 <= audio.duration <= case.duration[1] + 1e-3:
        problems.append(f"duration {audio.duration:.4f} s outside {case.duration}")
    if case.channels is not None and audio.source_channels != case.channels:
        problems.append(f"{audio.source_channels} channels, expected {case.channels}")
    if case.rate is not None and audio.source_sample_rate != case.rate:
        problems.append(f"source rate {audio.source_sample_rate}, expected {case.rate}")
    if case.same_as and not np.array_equal(samples[0], _decoded(case.same_as)):
        problems.append(f"differs from {case.same_as}")
    if case.prefix_of:
        whole = _decoded(case.prefix_of)
        if samples.shape[1] > len(whole) or not np.array_equal(samples[0], whole[:samples.shape[1]]):
            problems.append(f"not a prefix of {case.prefix_of}")
    return problems


def check_diarization(case: Case, audio: Any, pipeline: Any) -> list[str]:
    """The pipeline's result on a decoded case: well-formed segments inside the audio; none on silence."""
    result = pipeline(audio)
    problems = []
    records = result.records()
    for record in records:
        start, end = record["start"], record["end"]
        if not (np.isfinite(start) and np.isfinite(end) and 0 <= start <= end <= audio.duration + END_SLACK):
            problems.append(f"segment {start}-{end} outside 0-{audio.duration:.3f} s")
    if case.silent and records:
        problems.append(f"{len(records)} segments found in silence")
    return problems


def evaluate(case: Case, pipeline: Any = None) -> dict[str, Any]:
    """Run one case: its outcome, the message or problems, and how long it took."""
    start = time.perf_counter()
    outcome, value = outcome_of(case)
    problems: list[str] = []
    if outcome not in case.expect:
        problems.append(f"outcome {outcome} ({value if outcome != OK else 'decoded'}), "
                        f"expected {'/'.join(sorted(case.expect))}")
    elif outcome != OK and case.message is not None and case.message not in value:
        problems.append(f"message {value!r} does not say {case.message!r}")
    elif outcome == OK:
        problems += check_audio(case, value)
        if pipeline is not None and not problems:
            try:
                problems += check_diarization(case, value, pipeline)
            except Exception as error:  # noqa: BLE001
                problems.append(f"pipeline raised {type(error).__name__}: {error}")
    return {"outcome": outcome, "problems": problems, "seconds": time.perf_counter() - start,
            "message": value if outcome != OK else None}
