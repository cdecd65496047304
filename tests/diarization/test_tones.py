"""Tones on a phone line are not speech: found on synthetic tones and on the real dev calls (DTMF key
presses before the agent's greeting), and cleared from a segmentation."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from diarization.config import engine_config
from diarization.pipeline import Pipeline, load_call
from diarization.tones import Tones, find_tones, level_index, num_level_frames, silence_tones, tonal_frames
from diarization.windows import SlidingWindow

RATE = 16000


def test_tones_are_tonal_and_speech_and_noise_mostly_not(shared_dir: Path) -> None:
    t = np.arange(RATE // 2) / RATE
    dtmf = 0.2 * (np.sin(2 * np.pi * 697 * t) + np.sin(2 * np.pi * 1209 * t))
    noise = 0.01 * np.random.default_rng(0).standard_normal(len(t))
    assert tonal_frames(dtmf[None] + 0.001 * noise, RATE).mean() > 0.95
    assert tonal_frames(noise[None], RATE).mean() == 0.0
    calls_dir = shared_dir / "data" / "dev-calls"
    calls = json.loads((calls_dir / "calls.json").read_text())
    data, rate = sf.read(calls_dir / "mono" / "devcall_01.wav", dtype="float32", always_2d=True)
    mono = soxr.resample(data, rate, RATE).T.astype(np.float32)
    tonal = tonal_frames(mono, RATE)[0]
    assert len(tonal) == num_level_frames(mono.shape[-1], RATE)
    speech = np.zeros_like(tonal)
    for phrase in calls["devcall_01"]["phrases"]:
        speech[int(phrase["start"] * 100):int(phrase["end"] * 100)] = True
    tones = np.zeros_like(tonal)
    for start, end in calls["devcall_01"]["dtmf"]:
        tones[int(start * 100) + 3:int(end * 100) - 3] = True
    assert tonal[tones].mean() > 0.8  # the key presses
    assert tonal[speech & ~tones].mean() < 0.03  # speech frames rarely look like a tone


def test_a_tone_shorter_than_tone_seconds_is_not_a_tone() -> None:
    t = np.arange(RATE) / RATE
    beep = np.where(t < 0.15, 0.2 * np.sin(2 * np.pi * 1000 * t), 0.0)
    assert tonal_frames(beep[None], RATE, seconds=0.3).sum() == 0
    assert tonal_frames(beep[None], RATE, seconds=0.05).sum() > 0


def test_silence_tones_clears_runs_that_are_mostly_tones() -> None:
    chunks = SlidingWindow(start=0.0, duration=10.0, step=2.5)
    frames = SlidingWindow(start=0.0, duration=0.0619375, step=0.016875)
    binarized = np.zeros((3, 589, 2), dtype=np.float32)
    binarized[0, 59:178, 0] = 1  # 1.0-3.0 s: key presses at 1.2-1.4 and 2.0-2.2 s, the line's noise between
    binarized[0, 237:474, 1] = 1  # 4.0-8.0 s: speech with one tone-like vowel at 5.0-5.1 s
    binarized[1, 0:118, 0] = 1  # chunk 1 starts at 2.5 s: 2.5-4.5 s, the speech's start
    energy = np.full(1500, 1e-6)
    tonal = np.zeros(1500, bool)
    for start, end in ((120, 140), (200, 220)):
        energy[start:end], tonal[start:end] = 1.0, True
    energy[400:800] = 0.5
    tonal[500:510] = True
    speech = (energy > 1e-3) & ~tonal
    tones = Tones(tonal[None], energy[None], speech[None])
    cleared = silence_tones(binarized, chunks, frames, tones)
    assert cleared[0, :, 0].sum() == 0  # the key presses' run: nearly all of its energy is in tones
    assert np.array_equal(cleared[0, :, 1], binarized[0, :, 1])  # the speech keeps its tone-like frames
    assert np.array_equal(cleared[1], binarized[1])  # 2.5-4.5 s: little tone energy (2.5-3.0 s is noise)
    # a block of chunks starting at chunk 1 maps as the whole does
    assert np.array_equal(silence_tones(binarized[1:], chunks, frames, tones, first_chunk=1), cleared[1:])
    assert silence_tones(np.zeros_like(binarized), chunks, frames, tones).sum() == 0
    # someone talks over the key presses (0.4 s of speech between them, 1.5-1.9 s): a far louder tone, but
    # the run is speech
    energy[150:190], speech[150:190] = 0.2, True
    talked_over = silence_tones(binarized, chunks, frames, Tones(tonal[None], energy[None], speech[None]))
    assert np.array_equal(talked_over[0, :, 0], binarized[0, :, 0])


def test_speech_is_loud_and_away_from_tones() -> None:
    t = np.arange(RATE) / RATE
    rng = np.random.default_rng(0)
    signal = 1e-4 * rng.standard_normal(RATE)  # the line's noise
    signal[4000:6000] += 0.2 * (np.sin(2 * np.pi * 697 * t[:2000]) + np.sin(2 * np.pi * 1209 * t[:2000]))
    signal[10000:14000] += 0.05 * rng.standard_normal(4000)  # loud, not a tone
    tones = find_tones(signal[None].astype(np.float32), RATE)
    assert tones.tonal[0, 25:33].all() and not tones.speech[0, 19:40].any()  # a tone and its edges
    assert tones.speech[0, 64:84].all() and not tones.speech[0, 90:].any()


def test_find_tones_energy_is_the_frames_energy() -> None:
    t = np.arange(RATE) / RATE
    loud = np.where(t < 0.5, 0.2, 0.02) * np.sin(2 * np.pi * 440 * t)
    tones = find_tones(loud[None], RATE)
    assert tones.tonal.shape == tones.energy.shape == (1, num_level_frames(RATE, RATE))
    assert 80 < tones.energy[0, 10] / tones.energy[0, 80] < 120  # 20 dB apart
    assert np.array_equal(tones.tonal, tonal_frames(loud[None], RATE))


def test_talk_over_a_loud_key_press_stays_speech(telephone_pipelines: dict[bool, Pipeline], shared_dir: Path,
                                                 tmp_path: Path) -> None:
    """Key presses 12 dB over the talker, in the middle of six phrases of a mono call: still speech."""
    calls_dir = shared_dir / "data" / "dev-calls"
    info = json.loads((calls_dir / "calls.json").read_text())["devcall_02"]
    samples, rate = sf.read(calls_dir / "mono" / "devcall_02.wav", dtype="float32")
    level = np.sqrt(np.mean(samples[samples != 0] ** 2)) * 10 ** (12 / 20)
    t = np.arange(int(0.15 * rate)) / rate
    press = level * (np.sin(2 * np.pi * 697 * t) + np.sin(2 * np.pi * 1209 * t))
    phrases = [(p["start"], p["end"]) for p in info["phrases"] if p["end"] - p["start"] > 2.0][:6]
    for start, end in phrases:
        middle = int((start + end) / 2 * rate)
        samples[middle:middle + len(press)] += press
    sf.write(tmp_path / "pressed.wav", samples, rate, subtype="ULAW")
    result = telephone_pipelines[True](tmp_path / "pressed.wav")
    for start, end in phrases:
        heard = sum(max(0.0, min(end, turn.end) - max(start, turn.start))
                    for turn, _ in result.speaker_diarization)
        assert heard > 0.9 * (end - start), (start, end, heard)


def speech_over(spans: list[tuple[float, float]], turns: list[tuple[float, float]],
                phrases: list[tuple[float, float]]) -> float:
    """Seconds of ``turns`` over ``spans`` beyond what real speech (``phrases``) there explains."""
    def overlap(a: tuple[float, float], others: list[tuple[float, float]]) -> float:
        return sum(max(0.0, min(a[1], b[1]) - max(a[0], b[0])) for b in others)
    return sum(max(0.0, overlap(span, turns) - overlap(span, phrases)) for span in spans)


@pytest.fixture(scope="module")
def telephone_pipelines(models_dir: Path) -> dict[bool, Pipeline]:
    config = dataclasses.replace(engine_config(models_dir), device="cpu")
    assert config.silence_telephone_tones  # the fast default
    return {silenced: Pipeline(dataclasses.replace(config, silence_telephone_tones=silenced))
            for silenced in (True, False)}


@pytest.mark.parametrize("rendering", ["mono/devcall_06.wav", "mp3/devcall_06.mp3"])  # 7 key presses
def test_key_presses_on_a_mono_call_are_nobody(telephone_pipelines: dict[bool, Pipeline], shared_dir: Path,
                                               rendering: str) -> None:
    calls_dir = shared_dir / "data" / "dev-calls"
    info = json.loads((calls_dir / "calls.json").read_text())["devcall_06"]
    tones = [tuple(span) for span in info["dtmf"]]
    phrases = [(p["start"], p["end"]) for p in info["phrases"] + info["backchannel_segments"]]
    false = {}
    for silenced, pipeline in telephone_pipelines.items():
        result = pipeline(calls_dir / rendering)
        turns = [(turn.start, turn.end) for turn, _ in result.speaker_diarization]
        false[silenced] = speech_over(tones, turns, phrases)
        # the stage by stage path of batch jobs silences them too
        audio = pipeline.load(calls_dir / rendering)
        [segmentation] = pipeline.segment_many([audio])
        index = level_index(segmentation.window, pipeline.config.facts.frames, *segmentation.data.shape[:2],
                            num_level_frames(audio.waveform.shape[-1], audio.sample_rate))
        in_tones = np.zeros(index.max() + 1, bool)
        for start, end in tones:
            in_tones[round(start * 100) + 2:round(end * 100) - 2] = True
        active_in_tones = int(((segmentation.data.max(axis=-1) > 0) & in_tones[index]).sum())
        assert active_in_tones == 0 if silenced else active_in_tones > 0
    assert false[False] > 0.3  # the segmentation model hears key presses as speech ...
    assert false[True] < 0.05, false  # ... which are silenced before they are embedded


def test_tones_are_found_where_the_file_is_decoded(models_dir: Path, shared_dir: Path) -> None:
    """On CPU with the decoding (a batch job's decode tasks), not in the model actors."""
    calls_dir = shared_dir / "data" / "dev-calls"
    fast, exact = engine_config(models_dir), engine_config(models_dir, mode="exact")
    mono = load_call(calls_dir / "mono" / "devcall_06.wav", fast)
    assert mono.tones is not None and mono.tones.tonal.shape == (1, num_level_frames(mono.num_samples, 16000))
    assert mono.tones.tonal.sum() > 50  # seven key presses
    stereo = load_call(calls_dir / "stereo" / "devcall_06.wav", fast)
    assert stereo.channel_mode == "split" and stereo.tones.tonal.shape[0] == 2
    assert load_call(calls_dir / "mono" / "devcall_06.wav", exact).tones is None  # the reference's algorithm
    wideband = sorted((shared_dir / "data" / "dev" / "libri_conversations").glob("*.wav"))[0]
    assert load_call(wideband, fast).tones is None
