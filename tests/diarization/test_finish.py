"""The last stage from the configuration alone: recorded community-1 segmentation and embeddings in,
community-1's RTTM out, without any network; the fast default's clustering on real features, with and
without speaker bounds."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.accuracy import collect
from benchmarks.built_sets import telephone_renderings
from diarization.config import engine_config
from diarization.finish import Finisher
from diarization.pipeline import Pipeline
from diarization.windows import SlidingWindow, Windowed

from .test_pipeline import make_community1, read_rttm, turns_of


def test_finisher_reproduces_community1(tmp_path: Path, models_dir: Path, artifacts_dir: Path) -> None:
    finisher = Finisher.from_config(engine_config(make_community1(tmp_path / "community-1", models_dir)))
    window = SlidingWindow(**json.loads((artifacts_dir / "pipeline_segmentation_window.json").read_text()))
    segmentations = Windowed(np.load(artifacts_dir / "pipeline_segmentation_data.npy"), window)
    embeddings = np.load(artifacts_dir / "pipeline_embeddings_data.npy")
    result = finisher("pipeline", 26.0, segmentations, embeddings)
    expected = read_rttm(artifacts_dir / "pipeline_expected.rttm")
    ours = turns_of(result.speaker_diarization)
    assert [s for *_, s in ours] == [s for *_, s in expected]
    np.testing.assert_allclose([t[:2] for t in ours], [t[:2] for t in expected], rtol=0, atol=1e-6)
    assert result.speaker_embeddings.shape == (2, 256)
    silent = finisher("silence", 5.0, Windowed(np.zeros_like(segmentations.data), window), None)
    assert silent.num_speakers == 0 and silent.speaker_embeddings.shape == (0, 256)


@pytest.fixture(scope="module")
def three_speakers(models_dir: Path, dev_dir: Path) -> tuple[Finisher, str, float, Windowed, np.ndarray]:
    """The fast default's finisher and real features of a LibriSpeech conversation whose third speaker
    says little (9% of the speech: one run trains the clustering)."""
    pipeline = Pipeline.from_pretrained(models_dir, device="cpu")
    audio = pipeline.load(dev_dir / "libri_conversations" / "dev_3spk_08.wav")
    [segmentations] = pipeline.segment_many([audio])
    [embeddings] = pipeline.embed_many([(audio, segmentations)])
    return pipeline.finisher, audio.uri, audio.duration, segmentations, embeddings


def test_fast_default_keeps_a_speaker_heard_once(three_speakers) -> None:
    finisher, uri, duration, segmentations, embeddings = three_speakers
    assert finisher.clustering.keep_distinct is not None
    assert finisher(uri, duration, segmentations, embeddings).num_speakers == 3
    reference_rule = dataclasses.replace(finisher.clustering, keep_distinct=None)
    merging = dataclasses.replace(finisher, clustering=reference_rule)
    assert merging(uri, duration, segmentations, embeddings).num_speakers == 2  # the reference's rule


@pytest.mark.parametrize(("bounds", "expected"), [
    ({"num_speakers": 1}, 1), ({"num_speakers": 2}, 2), ({"num_speakers": 4}, 4), ({"max_speakers": 2}, 2),
    ({"min_speakers": 3}, 3), ({"min_speakers": 4}, 4), ({"min_speakers": 2, "max_speakers": 3}, 3),
])
def test_fast_default_meets_speaker_bounds(three_speakers, bounds, expected) -> None:
    finisher, uri, duration, segmentations, embeddings = three_speakers
    assert finisher(uri, duration, segmentations, embeddings, **bounds).num_speakers == expected


def test_telephone_recordings_have_their_own_clustering(tmp_path: Path, models_dir: Path) -> None:
    """In fast mode a telephone recording's small clusters need two training embeddings to be kept, and a
    one-row telephone recording is cut at 0.45 and trains on shorter lone speech, a split call's channel
    keeps the wideband cut; the rest of the clustering is the same. Exact mode and community-1 cluster every
    file alike."""
    fast = Finisher.from_config(engine_config(models_dir))
    telephone = fast.clustering_for(True)
    assert telephone is fast.telephone_clustering
    assert (telephone.min_distinct_size, telephone.threshold, telephone.min_active_ratio,
            telephone.keep_distinct) == (2, 0.45, 0.15, 0.5)
    channel = fast.clustering_for(True, split=True)
    assert channel is fast.channel_clustering and (channel.min_distinct_size, channel.threshold) == (2, 0.55)
    wideband = dataclasses.replace(telephone, min_distinct_size=1, threshold=0.55, min_active_ratio=0.2,
                                   keep_distinct=0.6)
    assert wideband == fast.clustering
    assert dataclasses.replace(channel, min_distinct_size=1) == fast.clustering
    for split in (False, True):
        assert fast.clustering_for(False, split) is fast.clustering
    assert fast.clustering.centre == 0.25 and fast.clustering.min_distinct_size == 1
    community1 = make_community1(tmp_path / "community-1", models_dir)
    for config in (engine_config(models_dir, mode="exact"), engine_config(community1)):
        finisher = Finisher.from_config(config)
        assert finisher.telephone_clustering is None and finisher.channel_clustering is None
        assert finisher.clustering_for(True) is finisher.clustering
        assert finisher.clustering_for(8000, split=True) is finisher.clustering
    exact = Finisher.from_config(engine_config(models_dir, mode="exact")).clustering
    assert exact.centre == 0.0 and exact.keep_distinct is None  # the reference's algorithm


def test_four_voices_on_a_phone_line_stay_four(tmp_path: Path, models_dir: Path, dev_dir: Path) -> None:
    """A dev conversation of four speakers as a phone line carries it (8 kHz mu-law): the telephone
    clustering hears four; the wideband one, on the very same segmentation and embeddings, merges two of
    them (in the telephone band different voices sit closer)."""
    [item] = [one for one in collect(dev_dir / "libri_conversations") if one.uri == "dev_4spk_16"]
    telephone_renderings([item], tmp_path)
    pipeline = Pipeline(dataclasses.replace(engine_config(models_dir), device="cpu"))
    audio = pipeline.load(tmp_path / "mulaw" / "dev_4spk_16.wav")
    assert audio.source_sample_rate == 8000
    [segmentations] = pipeline.segment_many([audio])
    [embeddings] = pipeline.embed_many([(audio, segmentations)])
    finished = {}
    wideband = dataclasses.replace(pipeline.finisher, telephone_clustering=pipeline.finisher.clustering)
    for name, finisher in (("telephone", pipeline.finisher), ("wideband", wideband)):
        finished[name] = finisher(audio.uri, audio.duration, segmentations, embeddings,
                                  telephone=audio.telephone).num_speakers
    assert len(item.reference.labels()) == 4
    assert finished == {"telephone": 4, "wideband": 3}


def test_telephone_recordings_bridge_short_pauses(models_dir: Path) -> None:
    """Fast mode fills a talker's gaps under 0.3 s in telephone audio; wideband audio and
    exact mode (the reference algorithm) keep the model set's own gap filling."""
    fast = Finisher.from_config(engine_config(models_dir))
    assert fast.gap_filling(True) == 0.3
    assert fast.gap_filling(False) == fast.min_duration_off == 0.0
    exact = Finisher.from_config(engine_config(models_dir, mode="exact"))
    assert exact.gap_filling(True) == exact.min_duration_off


def test_a_mono_call_has_no_short_gaps_within_a_talker(models_dir: Path, shared_dir: Path) -> None:
    """End to end on a mu-law 8 kHz call: no talker pauses under 0.3 s in the regular diarization; the
    exclusive one is still one speaker at a time."""
    result = Pipeline(engine_config(models_dir))(shared_dir / "data" / "dev-calls" / "mono" / "devcall_05.wav")
    for speaker in result.speaker_diarization.labels():
        turns = sorted((turn.start, turn.end) for turn, label in result.speaker_diarization if label == speaker)
        assert all(b[0] - a[1] >= 0.3 - 1e-6 for a, b in zip(turns, turns[1:])), speaker
    exclusive = sorted((turn.start, turn.end) for turn, _ in result.exclusive_speaker_diarization)
    assert all(a[1] <= b[0] + 1e-6 for a, b in zip(exclusive, exclusive[1:]))
