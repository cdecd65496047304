"""The sets built from the dev LibriSpeech voices: many-speaker clips, the joined 60-speaker file, long
repeated files, and the conversations on a phone line (also in 16 kHz files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from benchmarks.accuracy import collect
from benchmarks.built_sets import at_rate, joined_file, many_speaker_clips, repeated_files, telephone_renderings
from diarization.audio import load_audio


def test_many_speaker_clips_are_one_lone_turn_per_person_and_reproducible(tmp_path: Path, dev_dir: Path) -> None:
    items = collect(dev_dir / "libri_conversations")
    many_speaker_clips(items, tmp_path / "a", clips=8)
    many_speaker_clips(items, tmp_path / "b", clips=8)
    built = collect(tmp_path / "a")
    assert [item.uri for item in built] == [f"clip{i:02d}" for i in range(8)]
    for item in built:
        reference = item.reference
        turns = list(reference.itertracks(yield_label=True))
        assert len(reference.labels()) == len(turns) == (4, 5, 6, 7)[int(item.uri[4:]) % 4]
        assert all(2.0 <= segment.duration <= 6.0 for segment, _, _ in turns)
        assert not reference.get_overlap()  # one at a time
        info = sf.info(item.audio)
        assert info.samplerate == 16000 and info.duration >= max(s.end for s, _, _ in turns)
        assert (tmp_path / "a" / f"{item.uri}.wav").read_bytes() == (tmp_path / "b" / f"{item.uri}.wav").read_bytes()


def test_joined_file_keeps_every_voice_as_one_speaker(tmp_path: Path, dev_dir: Path) -> None:
    items = collect(dev_dir / "libri_conversations")
    joined_file(items, tmp_path / "joined")
    [item] = collect(tmp_path / "joined")
    speakers = {label for one in items for label in one.reference.labels()}
    assert set(item.reference.labels()) == speakers and len(speakers) == 60
    total = sum(sf.info(one.audio).duration for one in items)
    assert abs(sf.info(item.audio).duration - total) < 1e-3
    assert abs(item.reference.get_timeline().duration() - sum(one.reference.get_timeline().duration()
                                                           for one in items)) < 0.05


def test_repeated_files_repeat_the_turns_at_the_file_rate(tmp_path: Path, shared_dir: Path) -> None:
    [call] = [item for item in collect(shared_dir / "data" / "dev-calls" / "mono") if item.uri == "devcall_01"]
    repeated_files([call], tmp_path, copies=3)
    [item] = collect(tmp_path)
    original = sf.info(call.audio)
    info = sf.info(item.audio)
    assert item.uri == "devcall_01_x3" and info.samplerate == original.samplerate == 8000
    assert info.frames == 3 * original.frames
    turns = [(s.start, s.end, label) for s, _, label in call.reference.itertracks(yield_label=True)]
    again = sorted((s.start, s.end, label) for s, _, label in item.reference.itertracks(yield_label=True))
    shifted = sorted((start + k * original.duration, end + k * original.duration, label)
                     for k in range(3) for start, end, label in turns)
    assert len(again) == len(shifted)
    assert all(abs(a[0] - b[0]) < 2e-3 and abs(a[1] - b[1]) < 2e-3 and a[2] == b[2] for a, b in zip(again, shifted))


def test_telephone_renderings_are_the_same_speech_on_a_phone_line(tmp_path: Path, dev_dir: Path) -> None:
    [item] = [one for one in collect(dev_dir / "libri_conversations") if one.uri == "dev_2spk_00"]
    telephone_renderings([item], tmp_path / "a" / "telephone")
    telephone_renderings([item], tmp_path / "b" / "telephone")
    built = {one.subset: one for one in collect(tmp_path / "a" / "telephone")}
    assert sorted(built) == ["telephone/mp3", "telephone/mulaw"]
    wideband = sf.info(item.audio)
    for subset, codec in (("telephone/mulaw", "ULAW"), ("telephone/mp3", "MPEG_LAYER_III")):
        one = built[subset]
        info = sf.info(one.audio)
        assert (info.samplerate, info.channels, info.subtype) == (8000, 1, codec)
        assert abs(info.duration - wideband.duration) < 1e-3
        assert one.reference == item.reference and one.uem == item.uem
    samples, _ = sf.read(built["telephone/mulaw"].audio)
    decoded, _ = sf.read(built["telephone/mp3"].audio)
    assert len(decoded) == len(samples)  # sample-aligned: the gapless header trims the encoder's delay
    assert np.dot(samples, decoded) > 0.9 * np.dot(samples, samples)
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    hertz = np.fft.rfftfreq(len(samples), 1 / 8000)
    assert spectrum[(hertz > 300) & (hertz < 3400)].sum() > 100 * spectrum[hertz < 150].sum()  # band-passed
    assert (tmp_path / "a" / "telephone" / "mulaw" / "dev_2spk_00.wav").read_bytes() == \
        (tmp_path / "b" / "telephone" / "mulaw" / "dev_2spk_00.wav").read_bytes()
    at_rate([built["telephone/mulaw"]], tmp_path / "a" / "telephone-16k" / "pcm")
    [resampled] = collect(tmp_path / "a" / "telephone-16k")
    info = sf.info(resampled.audio)
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    assert abs(info.duration - wideband.duration) < 1e-3 and resampled.reference == item.reference
    assert load_audio(resampled.audio).telephone  # a phone line in a 16 kHz file: told by its band
