"""The accuracy report of benchmarks/der.py: which files it scores, how it pools scores, and its cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pyannote.core import Annotation

from benchmarks.accuracy import FileScore, Totals, collect, count_table, grouped, hypothesis, score, table
from benchmarks.feature_cache import Features, cache_key, load, save
from diarization.config import engine_config
from diarization.result import Diarization, Turn
from diarization.windows import SlidingWindow, Windowed


def test_dev_set_is_reported_per_subfolder(dev_dir: Path) -> None:
    items = collect(dev_dir)
    subsets = {item.subset for item in items}
    assert {"dev/ami_debug_train", "dev/libri_conversations", "dev/pyannote_sample"} <= subsets
    assert {item.set_name for item in items} == {"dev"}
    assert len(items) == 33  # files with a reference only (not ami's empty.wav nor the stereo original)
    ami = [item for item in items if item.subset == "dev/ami_debug_train"]
    assert len(ami) == 10 and all(item.uem is not None for item in ami)


def test_mp3_calls_are_scored(shared_dir: Path) -> None:
    items = collect(shared_dir / "data" / "dev-calls" / "mp3")
    assert len(items) == 12 and {item.subset for item in items} == {"dev-calls/mp3"}
    assert all(item.audio.suffix == ".mp3" and len(item.reference.labels()) >= 2 for item in items)


def test_missing_set_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        collect(tmp_path / "nowhere")


def test_reference_scores_zero_and_shifted_hypothesis_is_shifted_back(dev_dir: Path) -> None:
    [item] = collect(dev_dir / "pyannote_sample")
    turns = [(Turn(s.start + 1.5, s.end + 1.5), label)
             for s, _, label in item.reference.itertracks(yield_label=True)]
    perfect = score(item, hypothesis(Diarization(item.uri, turns), item.uri, offset=1.5), offset=1.5)
    assert perfect.error == pytest.approx(0.0, abs=1e-6) and perfect.total > 20
    assert perfect.hyp_speakers == perfect.ref_speakers == 2 and not perfect.count_error
    one_speaker = Annotation(uri=item.uri)
    for segment in item.reference.get_timeline():
        one_speaker[segment] = "A"
    merged = score(item, one_speaker)
    assert merged.count_error and merged.confusion > 1.0 and merged.missed == pytest.approx(0.0, abs=1e-6)


def test_hypothesis_drops_turns_inside_the_offset() -> None:
    hyp = hypothesis(Diarization("f", [(Turn(0.0, 0.5), "A"), (Turn(0.5, 2.0), "B")]), "f", offset=1.0)
    assert [(s.start, s.end, label) for s, _, label in hyp.itertracks(yield_label=True)] == [(0.0, 1.0, "B")]


def _score(subset: str, uri: str, offset: float, miss: float, hyp: int, ref: int) -> FileScore:
    return FileScore(subset, uri, offset, miss, 1.0, 2.0, 10.0, hyp, ref)


def test_scores_are_pooled_over_alignments_and_subsets() -> None:
    scores = [_score("dev/a", "x", 0.0, 1.0, 2, 2), _score("dev/a", "x", 0.7, 3.0, 3, 2),
              _score("dev/b", "y", 0.0, 0.0, 1, 2), _score("dev/b", "y", 0.7, 0.0, 1, 2),
              _score("calls", "z", 0.0, 0.0, 2, 2), _score("calls", "z", 0.7, 0.0, 2, 2)]
    set_of = {"dev/a": "dev", "dev/b": "dev", "calls": "calls"}
    rows = dict(grouped(scores, set_of))
    assert list(rows) == ["calls", "dev/a", "dev/b", "dev (total)", "all"]
    assert rows["dev/a"].der == pytest.approx(100 * (4 + 2 + 4) / 20)
    assert rows["dev (total)"].mean_count_errors == pytest.approx(1.5) and rows["dev (total)"].files == 2
    assert rows["all"] == Totals.of(scores)
    assert any(line.startswith("dev (total)") and "1.5 of 2" in line for line in table(scores, set_of))
    lines = count_table(scores)
    assert len(lines) == 2 and "hyp 2,3" in lines[0] and "hyp 1,1" in lines[1]


def test_features_round_trip_and_key(tmp_path: Path, models_dir: Path, dev_dir: Path) -> None:
    seg = Windowed(np.random.default_rng(0).integers(0, 2, (4, 589, 5)).astype(np.float32),
                   SlidingWindow(0.0, 10.0, 2.5))
    emb = np.random.default_rng(1).normal(size=(4, 5, 192)).astype(np.float32)
    for embeddings in (emb, None):
        save(Features("f", 17.5, seg, embeddings, True), tmp_path / "f.npz")
        back = load(tmp_path / "f.npz")
        assert back.uri == "f" and back.duration == 17.5 and back.segmentations.window == seg.window
        assert back.telephone is True
        assert np.array_equal(back.segmentations.data, seg.data)
        assert (back.embeddings is None) if embeddings is None else np.array_equal(back.embeddings, emb)
    audio = dev_dir / "pyannote_sample" / "sample.wav"
    fast, exact = engine_config(models_dir, mode="fast"), engine_config(models_dir, mode="exact")
    assert cache_key(fast, audio, 0.0) == cache_key(fast, audio, 0.0)
    assert len({cache_key(fast, audio, 0.0), cache_key(fast, audio, 0.7), cache_key(exact, audio, 0.0)}) == 3
