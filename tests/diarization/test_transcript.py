"""Speakers for WhisperX-shaped transcripts: segments and words get the speaker they overlap most."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from diarization import assign_speakers
from diarization.annotation import Diarization, Turn
from diarization.result import DiarizationResult

EXCLUSIVE = Diarization("call", [(Turn(0.0, 2.0), "SPEAKER_00"), (Turn(2.0, 5.0), "SPEAKER_01"),
                                 (Turn(5.5, 7.0), "SPEAKER_00"), (Turn(9.0, 10.0), "SPEAKER_02")])


def whisperx_result() -> dict:
    """What ``whisperx.align`` returns: segments with words; a word without timestamps (a number)."""
    return {"language": "en", "segments": [
        {"start": 0.1, "end": 2.6, "text": " Hello, thanks for calling.", "words": [
            {"word": "Hello,", "start": 0.1, "end": 0.6, "score": 0.91},
            {"word": "thanks", "start": 0.7, "end": 1.1, "score": 0.88},
            {"word": "for", "start": 1.9, "end": 2.3, "score": 0.7},  # 0.1 s of 00, 0.3 s of 01
            {"word": "calling.", "start": 2.3, "end": 2.6, "score": 0.8}]},
        {"start": 2.7, "end": 6.2, "text": " My order 1990 is late.", "words": [
            {"word": "My", "start": 2.7, "end": 2.9, "score": 0.9},
            {"word": "1990"},
            {"word": "late.", "start": 5.6, "end": 6.2, "score": 0.9}]},
        {"start": 7.6, "end": 8.6, "text": " Hm.", "words": [{"word": "Hm.", "start": 7.6, "end": 8.6}]},
    ]}


def test_segments_and_words_get_the_most_overlapping_speaker() -> None:
    transcript = whisperx_result()
    before = copy.deepcopy(transcript)
    out = assign_speakers(transcript, EXCLUSIVE)
    assert transcript == before  # the input is left alone
    assert out["language"] == "en"
    first, second, third = out["segments"]
    assert first["speaker"] == "SPEAKER_00"  # 1.9 s of SPEAKER_00 against 0.6 s of SPEAKER_01
    assert [w.get("speaker") for w in first["words"]] == ["SPEAKER_00", "SPEAKER_00", "SPEAKER_01", "SPEAKER_01"]
    assert second["speaker"] == "SPEAKER_01"  # 2.3 s against 0.7 s
    assert [w.get("speaker") for w in second["words"]] == ["SPEAKER_01", None, "SPEAKER_00"]
    assert "speaker" not in second["words"][1]  # no timestamps: left as it was
    assert "speaker" not in third and "speaker" not in third["words"][0]  # in a pause: nobody
    assert first["text"] == " Hello, thanks for calling." and first["words"][0]["score"] == 0.91


def test_fill_nearest_gives_pauses_the_closest_speaker() -> None:
    out = assign_speakers(whisperx_result(), EXCLUSIVE, fill_nearest=True)
    third = out["segments"][2]
    assert third["speaker"] == third["words"][0]["speaker"] == "SPEAKER_02"  # 0.4 s before 9.0, 0.6 s after 7.0
    assert "speaker" not in out["segments"][1]["words"][1]


def test_a_list_of_segments_and_a_pipeline_result() -> None:
    segments = [{"start": 0.5, "end": 1.5}, {"start": 9.2, "end": 9.4}]
    regular = Diarization("call", [(Turn(0.0, 10.0), "SPEAKER_03")])  # would win on the regular diarization
    result = DiarizationResult(regular, EXCLUSIVE, np.zeros((4, 2)), duration=10.0)
    out = assign_speakers(segments, result)  # a DiarizationResult: its exclusive diarization
    assert [s["speaker"] for s in out] == ["SPEAKER_00", "SPEAKER_02"]
    assert assign_speakers(segments, Diarization("empty")) == segments


def whisperx_oracle(frame: pd.DataFrame, start: float, end: float) -> str | None:
    """WhisperX's rule written with pandas: sum the positive intersections per speaker, take the largest."""
    intersection = np.minimum(frame["end"], end) - np.maximum(frame["start"], start)
    hits = frame[intersection > 0].assign(intersection=intersection[intersection > 0])
    if hits.empty:
        return None
    return hits.groupby("speaker")["intersection"].sum().sort_values(ascending=False).index[0]


def test_random_transcripts_agree_with_the_pandas_rule() -> None:
    rng = np.random.default_rng(7)
    edges = np.cumsum(rng.uniform(0.2, 3.0, 201))
    turns = [(Turn(float(a), float(b - rng.uniform(0, 0.3))), f"SPEAKER_{rng.integers(0, 4):02d}")
             for a, b in zip(edges[:-1], edges[1:])]
    diarization = Diarization("random", turns)
    frame = pd.DataFrame(diarization.itertracks(yield_label=True), columns=["segment", "label", "speaker"])
    frame["start"] = frame["segment"].apply(lambda x: x.start)
    frame["end"] = frame["segment"].apply(lambda x: x.end)
    starts = np.sort(rng.uniform(0, edges[-1], 300))
    segments = [{"start": float(s), "end": float(s + rng.uniform(0.05, 6.0))} for s in starts]
    out = assign_speakers(segments, diarization)
    for segment, labelled in zip(segments, out):
        assert labelled.get("speaker") == whisperx_oracle(frame, segment["start"], segment["end"]), segment


@pytest.mark.parametrize("word", [{"word": "x", "start": None, "end": None}, {"word": "x", "start": 1.0}])
def test_odd_words(word: dict) -> None:
    [segment] = assign_speakers([{"start": 0.0, "end": 2.0, "words": [word]}], EXCLUSIVE)
    assert "speaker" not in segment["words"][0]  # no time, or no length: nothing overlaps it
