"""Stereo calls through the pipeline: split by channel, labelled by channel, exclusive across channels."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from diarization.config import engine_config
from diarization.pipeline import Pipeline
from diarization.split_calls import channel_bounds, merge_brief_talkers, talker_seconds
from diarization.windows import SlidingWindow


@pytest.fixture(scope="module")
def pipeline(models_dir: Path) -> Pipeline:
    return Pipeline(dataclasses.replace(engine_config(models_dir), device="cpu"))


@pytest.fixture(scope="module")
def calls_dir(shared_dir: Path) -> Path:
    return shared_dir / "data" / "dev-calls"


def reference_roles(path: Path) -> set[str]:
    return {line.split()[7].split("_")[0] for line in path.read_text().splitlines() if line.strip()}


@pytest.mark.parametrize("speakers, expected", [
    ((None, None, None), (None, None, None)),
    ((2, None, None), (1, None, None)),  # two parties on two channels: one each
    ((3, None, None), (None, None, 2)),  # three: at most two on either channel
    ((None, 2, 4), (None, 1, 3)),
    ((None, None, 2), (None, None, 1)),
])
def test_channel_bounds(speakers: tuple, expected: tuple) -> None:
    assert channel_bounds(*speakers, channels=2) == expected


def test_stereo_call_is_split_by_channel(pipeline: Pipeline, calls_dir: Path) -> None:
    """auto splits a stereo call: agent and customer on their own channels, no extra speaker, exclusive
    diarization without overlap across the channels, a supervisor on the agent's line a third speaker."""
    result = pipeline(calls_dir / "stereo" / "devcall_12.wav")
    assert result.speaker_channels == {"CH0_SPEAKER_00": 0, "CH0_SPEAKER_01": 0, "CH1_SPEAKER_00": 1}
    assert result.speaker_diarization.labels() == sorted(result.speaker_channels)
    assert reference_roles(calls_dir / "stereo" / "devcall_12.rttm") == {"agent", "customer", "supervisor"}
    turns = sorted(result.exclusive_speaker_diarization, key=lambda track: track[0].start)
    assert all(a.end <= b.start + 1e-6 for (a, _), (b, _) in zip(turns, turns[1:]))
    rows = result.records()
    assert {row["channel"] for row in rows} == {0, 1}
    assert all(row["speaker"].startswith(f"CH{row['channel']}_") for row in rows)


def test_two_party_call_with_known_count(pipeline: Pipeline, calls_dir: Path) -> None:
    result = pipeline(calls_dir / "stereo" / "devcall_02.wav", num_speakers=2)
    assert result.speaker_diarization.labels() == ["CH0_SPEAKER_00", "CH1_SPEAKER_00"]


def test_mix_mode_is_the_channel_average(pipeline: Pipeline, calls_dir: Path) -> None:
    path = calls_dir / "stereo" / "devcall_02.wav"
    audio = pipeline.load(path, channels="mix")
    assert audio.channel_mode == "mix" and audio.waveform.shape[0] == 1
    mixed = pipeline(path, channels="mix")
    assert mixed.speaker_channels == {}
    assert all(label.startswith("SPEAKER_") for label in mixed.speaker_diarization.labels())
    assert {row["channel"] for row in mixed.records()} == {None}


def test_auto_mixes_mono_and_copied_channels(pipeline: Pipeline, calls_dir: Path, tmp_path: Path) -> None:
    mono = calls_dir / "mono" / "devcall_02.wav"
    assert pipeline.load(mono).channel_mode == "mix"
    data, rate = sf.read(mono, dtype="float32")
    copied = tmp_path / "copied.wav"
    sf.write(copied, np.stack([data, data], axis=1), rate, subtype="PCM_16")
    audio = pipeline.load(copied)
    assert audio.channel_mode == "mix" and audio.source_channels == 2
    assert pipeline.load(copied, channels="split").channel_mode == "split"
    assert pipeline.load(copied, channel=1).channel_mode == "channel"
    with pytest.raises(ValueError, match="channel mode"):
        pipeline.load(copied, channels="both")


def test_split_waveform_input(pipeline: Pipeline, calls_dir: Path) -> None:
    """An in-memory (channel, time) stereo waveform is split like the file."""
    data, rate = sf.read(calls_dir / "stereo" / "devcall_02.wav", dtype="float32")
    audio = pipeline.load({"waveform": data.T, "sample_rate": rate})
    assert audio.channel_mode == "split" and audio.waveform.shape[0] == 2


def test_two_runs_of_one_talker_at_once_make_no_phantom_speaker(models_dir: Path) -> None:
    """Two overlapping runs on channel 0 clustered as one talker: the count there is capped at that channel's
    one speaker, so reconstruction invents no third speaker without a channel."""
    from diarization.finish import Finisher
    from diarization.split_calls import ChannelSegmentation
    from diarization.windows import SlidingWindow

    config = engine_config(models_dir)
    finisher = Finisher.from_config(config)
    data = np.zeros((1, 589, 3), dtype=np.float32)
    data[0, 100:300, 0] = 1
    data[0, 150:250, 1] = 1  # overlaps column 0 on the same channel
    data[0, 200:450, 2] = 1  # the customer talks over both: three columns at once, two talkers
    segmentation = ChannelSegmentation(data, SlidingWindow(0.0, 10.0, 2.5), np.array([0, 0, 1]))
    rng = np.random.default_rng(0)
    agent, customer = rng.standard_normal(192), rng.standard_normal(192)
    embeddings = np.stack([agent, agent + 0.01 * rng.standard_normal(192), customer])[None].astype(np.float32)
    result = finisher("call", 10.0, segmentation, embeddings)
    assert result.speaker_diarization.labels() == ["CH0_SPEAKER_00", "CH1_SPEAKER_00"]
    assert result.speaker_channels == {"CH0_SPEAKER_00": 0, "CH1_SPEAKER_00": 1}


# 7 DTMF presses; 7 presses close together; 9.9 s of hold music; 6 presses
@pytest.mark.parametrize("call", ["devcall_01", "devcall_06", "devcall_07", "devcall_11"])
def test_tones_and_hold_music_are_nobody(pipeline: Pipeline, calls_dir: Path, call: str) -> None:
    import json

    info = json.loads((calls_dir / "calls.json").read_text())[call]
    result = pipeline(calls_dir / "stereo" / f"{call}.wav")
    assert result.speaker_channels  # split
    spans = [tuple(span) for span in info["dtmf"] + info["hold"]]
    speech = [(turn.start, turn.end) for turn, _ in result.speaker_diarization]
    phrases = [(p["start"], p["end"]) for p in info["phrases"] + info["backchannel_segments"]]

    def overlap(a: tuple, spans: list) -> float:
        return sum(max(0.0, min(a[1], b[1]) - max(a[0], b[0])) for b in spans)
    # speech found over the tones and the music, beyond what real speech there explains
    false = sum(max(0.0, overlap(span, speech) - overlap(span, phrases)) for span in spans)
    assert sum(end - start for start, end in spans) > 0.8
    assert false < 0.25, false


def test_talker_seconds_counts_each_second_once() -> None:
    """Chunks of 10 s every 2.5 s: a second of speech sits in four chunks and counts once."""
    data = np.zeros((4, 100, 2), dtype=np.float32)
    data[:, 40:50, 0] = 1  # 1 s of column 0 in each of 4 chunks (10 frames of 0.1 s)
    data[0, :, 1] = 1
    hard = np.array([[0, 1], [0, -2], [0, -2], [0, -2]])
    seconds = talker_seconds(hard, data, SlidingWindow(0.0, 10.0, 2.5), clusters=2)
    np.testing.assert_allclose(seconds, [1.0, 2.5])


def test_brief_talker_joins_the_closest_one() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(8), rng.standard_normal(8)
    centroids = np.stack([a, b, a + 0.1 * rng.standard_normal(8)])  # cluster 2: brief, close to 0
    hard = np.array([[0, 2, -2], [1, 0, 2]])
    merged, kept = merge_brief_talkers(hard, centroids, np.array([12.0, 6.0, 0.4]), min_seconds=2.0)
    assert merged.tolist() == [[0, 0, -2], [1, 0, 0]]
    np.testing.assert_array_equal(kept, centroids[:2])
    # a supervisor heard long enough stays; a lone talker is never merged away
    same, _ = merge_brief_talkers(hard, centroids, np.array([12.0, 6.0, 3.0]), min_seconds=2.0)
    assert same.tolist() == hard.tolist()
    alone, one = merge_brief_talkers(np.array([[0, -2]]), centroids[:1], np.array([0.5]), min_seconds=2.0)
    assert alone.tolist() == [[0, -2]] and len(one) == 1


def test_one_talker_channel_does_not_split(pipeline: Pipeline, calls_dir: Path) -> None:
    """devcall_03 with 1.3 s of silence before it: the agent's backchannel over the customer clustered
    apart (engine 0.5.0 labelled it CH0_SPEAKER_00 and the agent's other turns CH0_SPEAKER_01); a brief
    talker on a channel now joins the channel's talker, unless the user gives the count."""
    data, rate = sf.read(calls_dir / "stereo" / "devcall_03.wav", dtype="float32")
    waveform = np.concatenate([np.zeros((round(1.3 * rate), 2), np.float32), data]).T
    result = pipeline({"waveform": waveform, "sample_rate": rate})
    assert result.speaker_diarization.labels() == ["CH0_SPEAKER_00", "CH1_SPEAKER_00"]
    forced = pipeline({"waveform": waveform, "sample_rate": rate}, num_speakers=3)
    assert len(forced.speaker_diarization.labels()) == 3
