"""Channel modes and crosstalk on arrays and on the real dev calls (stereo: one party per channel, the
other leaking in 30 dB down and 20 ms late; DTMF key presses; hold music)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from diarization.channels import (
    ChannelMode,
    SplitSettings,
    carries_different_talkers,
    frame_levels,
    keep_own_runs,
    own_speech,
)
from diarization.windows import SlidingWindow

RATE = 16000
SETTINGS = SplitSettings()


@pytest.fixture(scope="module")
def calls_dir(shared_dir: Path) -> Path:
    return shared_dir / "data" / "dev-calls"


def read16k(path: Path) -> np.ndarray:
    """(channels, samples) at 16 kHz."""
    data, rate = sf.read(path, dtype="float32", always_2d=True)
    return soxr.resample(data, rate, RATE).T.astype(np.float32)


def test_mode_names() -> None:
    assert ChannelMode.named("split") is ChannelMode.SPLIT
    with pytest.raises(ValueError, match="mix, split, auto"):
        ChannelMode.named("stereo")


def test_frame_levels_of_a_sine_and_of_silence() -> None:
    t = np.arange(RATE) / RATE
    sine = 0.1 * np.sin(2 * np.pi * 440 * t)  # power 0.005: -23 dB
    levels = frame_levels(np.stack([sine, np.zeros_like(sine)]), RATE)
    assert levels.shape == (2, 1 + (RATE - 400) // 160)
    assert np.allclose(levels[0], 10 * np.log10(0.005), atol=0.2)
    assert np.all(levels[1] < -100)


def test_stereo_calls_carry_different_talkers_and_copies_do_not(calls_dir: Path) -> None:
    stereo = read16k(calls_dir / "stereo" / "devcall_08.wav")
    assert carries_different_talkers(stereo, RATE, SETTINGS)
    mono = read16k(calls_dir / "mono" / "devcall_08.wav")
    assert not carries_different_talkers(mono, RATE, SETTINGS)  # one channel
    assert not carries_different_talkers(np.concatenate([mono, mono]), RATE, SETTINGS)  # a copied channel
    assert not carries_different_talkers(np.concatenate([mono, 0.7 * mono]), RATE, SETTINGS)  # a room pair
    silent = np.concatenate([stereo[:1], 1e-4 * np.random.default_rng(1).standard_normal(stereo[:1].shape)])
    assert not carries_different_talkers(silent.astype(np.float32), RATE, SETTINGS)  # one party only


def test_leaked_speech_is_not_own_speech(calls_dir: Path) -> None:
    """Where only the customer speaks (ch1), the agent's channel carries a -30 dB copy: not own speech."""
    calls = json.loads((calls_dir / "calls.json").read_text())["devcall_02"]
    stereo = read16k(calls_dir / "stereo" / "devcall_02.wav")
    own = own_speech(stereo, RATE, SETTINGS)
    agent = np.zeros(own.shape[1], bool)
    customer = np.zeros(own.shape[1], bool)
    for phrase in calls["phrases"] + calls["backchannel_segments"]:
        (agent if phrase["role"] == "agent" else customer)[int(phrase["start"] * 100):int(phrase["end"] * 100)] = True
    customer_alone = customer & ~agent
    assert own[1][customer_alone].mean() > 0.4  # the customer's own channel: speech (phrases hold pauses)
    assert own[0][customer_alone].mean() < 0.02  # the leak on the agent's channel: never


def test_keep_own_runs_drops_columns_without_own_speech() -> None:
    chunks = SlidingWindow(start=0.0, duration=10.0, step=2.5)
    frames = SlidingWindow(start=0.0, duration=0.0619375, step=0.016875)
    binarized = np.zeros((2, 589, 3), dtype=np.float32)
    binarized[0, 100:200, 0] = 1  # 1.7 s to 3.4 s in chunk 0
    binarized[0, 300:400, 1] = 1  # 5.1 s to 6.8 s
    binarized[1, 0:100, 2] = 1  # 2.5 s to 4.2 s in chunk 1
    own = np.zeros(1100, bool)
    own[200:300] = True  # 2.0-3.0 s: 1.0 s under column 0 (chunk 0), 0.5 s under column 2 (chunk 1)
    kept = keep_own_runs(binarized, chunks, frames, own, min_own_seconds=0.2)
    assert kept[0, :, 0].sum() == 100 and kept[1, :, 2].sum() == 100
    assert kept[0, :, 1].sum() == 0
    only_first = keep_own_runs(binarized, chunks, frames, own, min_own_seconds=0.7)
    assert only_first[0, :, 0].sum() == 100 and only_first.sum() == 100
    assert keep_own_runs(binarized, chunks, frames, own, min_own_seconds=1.1).sum() == 0
