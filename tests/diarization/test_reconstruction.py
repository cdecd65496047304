"""Reconstruction and turns: recorded community-1 segmentations/counts/embeddings -> our clustering ->
our reconstruction must give community-1's discrete diarization and RTTM."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from diarization.clustering import VBxClustering, load_plda
from diarization.reconstruction import (
    clustered_activations,
    diarize_from_clusters,
    frame_middles,
    leading_clusters,
    to_diarization,
    to_turns,
)
from diarization.result_builder import speaker_labels
from diarization.windows import SlidingWindow, Windowed, aggregate

PREFIXES = ("pipeline", "3speakers", "single_speaker", "short")


def cluster_segmentations(segmentations: np.ndarray, hard_clusters: np.ndarray) -> np.ndarray:
    """The reference's (num_chunks, num_frames, K) float64 array: per chunk and cluster, the max over its
    local speakers; NaN where no local speaker of the chunk is in the cluster; clusters < 0 skipped."""
    num_chunks, num_frames, _ = segmentations.shape
    out = np.full((num_chunks, num_frames, max(int(np.max(hard_clusters, initial=-1)) + 1, 0)), np.nan)
    for c in range(num_chunks):
        seen: set[int] = set()
        for s, k in enumerate(int(k) for k in hard_clusters[c]):
            if k >= 0:
                column = segmentations[c, :, s]
                out[c, :, k] = np.maximum(out[c, :, k], column) if k in seen else column
                seen.add(k)
    return out


def reconstruct(segmentations: Windowed, hard_clusters: np.ndarray, count: Windowed) -> Windowed:
    """Discrete (0/1) diarization (num_frames, K) from chunk segmentations, their clusters (-2 = ignored)
    and the frame counts: the two steps community-1 runs before its turns."""
    activations = clustered_activations(segmentations, np.asarray(hard_clusters), count.window)
    return to_diarization(activations, count)


def _window(artifacts: Path, prefix: str, what: str) -> SlidingWindow:
    return SlidingWindow(**json.loads((artifacts / f"{prefix}_{what}_window.json").read_text()))


def _load(artifacts: Path, prefix: str) -> tuple[np.ndarray, Windowed, Windowed]:
    emb = np.load(artifacts / f"{prefix}_embeddings_data.npy")
    seg = Windowed(
        np.load(artifacts / f"{prefix}_segmentation_data.npy"), _window(artifacts, prefix, "segmentation")
    )
    count = Windowed(
        np.load(artifacts / f"{prefix}_speaker_counting_data.npy"),
        _window(artifacts, prefix, "speaker_counting"),
    )
    return emb, seg, count


def _rttm(turns, uri: str) -> list[str]:
    names = speaker_labels({k for *_, k in turns})
    return [f"SPEAKER {uri} 1 {a:.6f} {b - a:.6f} <NA> <NA> {names[k]} <NA> <NA>" for a, b, k in turns]


@pytest.fixture(scope="module")
def vbx(models_dir: Path) -> VBxClustering:
    return VBxClustering(load_plda(models_dir / "community-1" / "plda"), threshold=0.6, Fa=0.07, Fb=0.8)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_end_to_end_matches_community1(prefix: str, artifacts_dir: Path, vbx: VBxClustering) -> None:
    emb, seg, count = _load(artifacts_dir, prefix)
    hard, _, _ = vbx.cluster(emb, seg.data)
    turns, exclusive = diarize_from_clusters(seg, hard, count)
    expected = (artifacts_dir / f"{prefix}_expected.rttm").read_text().splitlines()
    assert _rttm(turns, prefix) == expected

    hard = hard.copy()
    hard[seg.data.sum(axis=1) == 0] = -2
    discrete = reconstruct(seg, hard, count)
    np.testing.assert_array_equal(
        discrete.data, np.load(artifacts_dir / f"{prefix}_discrete_diarization_data.npy")
    )
    assert discrete.window == _window(artifacts_dir, prefix, "discrete_diarization")
    assert discrete.data.dtype == np.float32

    # exclusive: at most one speaker at a time, never a speaker the regular output lacks
    for (a0, a1, _), (b0, _, _) in itertools.pairwise(exclusive):
        assert a1 <= b0 + 1e-9
    assert {k for *_, k in exclusive} <= {k for *_, k in turns}
    assert sum(b - a for a, b, _ in exclusive) <= sum(b - a for a, b, _ in turns) + 1e-9


def test_streaming_aggregation_equals_aggregate() -> None:
    rng = np.random.default_rng(0)
    data = rng.random((12, 40, 3)).astype(np.float32)
    data[3, 5:9, 1] = np.nan
    seg = Windowed(data, SlidingWindow(start=0.25, duration=4.0, step=0.5))
    hard = rng.integers(-1, 4, size=(12, 3)) * 1
    hard[hard == -1] = -2
    hard[0] = [2, 2, 0]  # two local speakers in one cluster
    frames = SlidingWindow(start=0.0, duration=0.12, step=0.1)
    ours = clustered_activations(seg, hard, frames)
    ref = aggregate(
        Windowed(cluster_segmentations(data, hard), seg.window), frames, missing=0.0, skip_average=True
    )
    np.testing.assert_array_equal(ours.data, ref.data)
    assert ours.window == ref.window


def test_top_count_selection_and_ties() -> None:
    act = np.array([[3.0, 3.0, 1.0], [0.0, 2.0, 2.0], [1.0, 0.0, 0.0], [5.0, 4.0, 6.0]], dtype=np.float32)
    count = np.array([[1], [2], [0], [3]], dtype=np.int8)
    w = SlidingWindow(0.0, 0.1, 0.1)
    out = to_diarization(Windowed(act, w), Windowed(count, w))
    # what the reference's loop does, written out
    expected = np.zeros_like(act)
    for t, order in enumerate(np.argsort(-act, axis=-1)):
        expected[t, order[: count[t, 0]]] = 1
    np.testing.assert_array_equal(out.data, expected)
    assert out.data.sum(axis=1).tolist() == [1, 2, 0, 3]


@pytest.mark.parametrize("num_clusters", [1, 3, 7, 40])
def test_leading_clusters_are_argsort_prefixes_ties_included(num_clusters) -> None:
    rng = np.random.default_rng(num_clusters)
    act = rng.integers(0, 4, size=(5000, num_clusters)).astype(np.float32)  # small integers: many ties
    act[rng.random(act.shape) < 0.6] = 0.0
    counts = rng.integers(0, 4, size=5000)
    order = leading_clusters(act, counts)
    full = np.argsort(-act, axis=-1)
    assert order.shape == (5000, 3)
    for t in range(5000):
        k = min(int(counts[t]), num_clusters)
        assert order[t, :k].tolist() == full[t, :k].tolist(), t
        assert (order[t, k:] == -1).all() or k == counts[t], t
    assert leading_clusters(act, np.zeros(5000, dtype=np.int64)).shape == (5000, 0)


def test_count_above_number_of_clusters_pads() -> None:
    w = SlidingWindow(0.0, 0.1, 0.1)
    out = to_diarization(
        Windowed(np.ones((3, 1), np.float32), w), Windowed(np.array([[2], [1], [0]], np.int8), w)
    )
    assert out.data.shape == (3, 2) and out.data.sum(axis=1).tolist() == [2, 1, 0]


def test_turns_at_frame_middles_with_hysteresis() -> None:
    w = SlidingWindow(start=0.0, duration=2.0, step=1.0)  # middles 1, 2, 3, ...
    scores = np.array([[1, 0], [0.5, 0], [0.5, 1], [0, 1], [0.5, 0], [1, 0], [1, 0]], dtype=np.float32)
    assert frame_middles(w, 3).tolist() == [1.0, 2.0, 3.0]
    turns = to_turns(Windowed(scores, w))
    # speaker 0: active frames 0-2 (0.5 keeps the state) then 5-6 (ends at the last middle)
    assert turns == [(1.0, 4.0, 0), (3.0, 5.0, 1), (6.0, 7.0, 0)]


def test_binary_regions_equal_column_by_column() -> None:
    from diarization.reconstruction import _binary_regions, _regions

    rng = np.random.default_rng(3)
    active = rng.random((400, 6)) < 0.3
    active[:, 1] = np.repeat(rng.random(40) < 0.5, 10)  # long runs
    active[0, 2] = active[-1, 2] = True  # active at both ends
    active[:, 3] = False  # never active
    active[:, 4] = True  # always active
    middles = frame_middles(SlidingWindow(0.0, 0.02, 0.01), 400)
    assert _binary_regions(active, middles) == [_regions(column, middles) for column in active.T]


def test_gap_filling_and_short_turns() -> None:
    w = SlidingWindow(start=0.0, duration=1.0, step=1.0)  # middles 0.5, 1.5, ...
    y = np.array([1, 1, 0, 1, 0, 0, 0, 1, 1, 0], dtype=np.float32)[:, None]
    assert to_turns(Windowed(y, w)) == [(0.5, 2.5, 0), (3.5, 4.5, 0), (7.5, 9.5, 0)]
    assert to_turns(Windowed(y, w), min_duration_off=1.5) == [(0.5, 4.5, 0), (7.5, 9.5, 0)]
    assert to_turns(Windowed(y, w), min_duration_off=3.5) == [(0.5, 9.5, 0)]
    assert to_turns(Windowed(y, w), min_duration_on=1.5) == [(0.5, 2.5, 0), (7.5, 9.5, 0)]
    assert to_turns(Windowed(np.zeros((1, 2)), w)) == []


def test_speaker_labels_sort_as_strings() -> None:
    turns = [(0.0, 1.0, 10), (0.5, 2.0, 2), (1.0, 3.0, 0), (2.0, 4.0, 1)]
    assert speaker_labels({k for *_, k in turns}) == {0: "SPEAKER_00", 1: "SPEAKER_01", 10: "SPEAKER_02", 2: "SPEAKER_03"}


def test_diarize_from_clusters_caps_and_silence() -> None:
    chunks = SlidingWindow(start=0.0, duration=1.0, step=0.5)
    frames = SlidingWindow(start=0.0, duration=0.1, step=0.1)
    seg = np.zeros((3, 10, 2), dtype=np.float32)
    seg[:, :, 0] = 1.0
    seg[:, 5:, 1] = 1.0
    count = aggregate(Windowed(seg.sum(axis=2, keepdims=True), chunks), frames, missing=0.0)
    count = Windowed(np.rint(count.data).astype(np.uint8), count.window)
    hard = np.array([[0, 1], [0, 1], [0, 1]])
    turns, exclusive = diarize_from_clusters(Windowed(seg, chunks), hard, count)
    assert {k for *_, k in turns} == {0, 1} and {k for *_, k in exclusive} == {0}
    capped, _ = diarize_from_clusters(Windowed(seg, chunks), hard, count, max_speakers=1)
    assert capped == exclusive
    silent = Windowed(np.zeros_like(count.data), count.window)
    assert diarize_from_clusters(Windowed(seg, chunks), hard, silent) == ([], [])
    # a local speaker silent in its chunk is ignored whatever its cluster; the input is not modified
    seg[:, :, 1] = 0.0
    count = Windowed(np.minimum(count.data, 1), count.window)
    hard = np.array([[0, 1]] * 3)
    turns, _ = diarize_from_clusters(Windowed(seg, chunks), hard, count)
    assert {k for *_, k in turns} == {0} and hard.tolist() == [[0, 1]] * 3


def test_speaker_labels_of_a_split_call_are_numbered_per_channel() -> None:
    owners = [1, 0, 0, 1]  # the channel of clusters 0..3
    assert speaker_labels({0, 1, 2, 3}, owners) == {
        0: "CH1_SPEAKER_00", 1: "CH0_SPEAKER_00", 2: "CH0_SPEAKER_01", 3: "CH1_SPEAKER_01"}
    taken = speaker_labels({1, 3}, owners)
    assert speaker_labels({0, 1, 3}, owners, taken=taken)[0] == "CH1_SPEAKER_01"
