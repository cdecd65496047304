"""Powerset <-> multi-label conversion against the tables and outputs recorded from community-1."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diarization.powerset import (
    num_powerset_classes,
    powerset_classes,
    powerset_mapping,
    to_multilabel,
    to_powerset,
)


@pytest.mark.parametrize("num_classes,max_set_size", [(n, k) for n in (2, 3, 4) for k in range(1, n + 1)])
def test_mapping_matches_recorded_tables(artifacts_dir, num_classes, max_set_size):
    expected = np.load(artifacts_dir / f"powerset_mapping_{num_classes}_{max_set_size}.npy")
    mapping = powerset_mapping(num_classes, max_set_size)
    assert mapping.dtype == np.float32
    np.testing.assert_array_equal(mapping, expected)
    assert num_powerset_classes(num_classes, max_set_size) == len(expected)


def test_class_order_three_speakers_two_per_frame():
    assert powerset_classes(3, 2) == ((), (0,), (1,), (2,), (0, 1), (0, 2), (1, 2))
    assert num_powerset_classes(3, 2) == 7
    assert num_powerset_classes(4, 3) == 15


def test_hard_conversion_matches_recorded_output(artifacts_dir):
    logits = np.load(artifacts_dir / "powerset_input_logits.npy")
    expected = np.load(artifacts_dir / "powerset_hard_output.npy")
    hard = to_multilabel(logits, 3, 2)
    assert isinstance(hard, np.ndarray) and hard.dtype == np.float32
    np.testing.assert_array_equal(hard, expected)
    hard_torch = to_multilabel(torch.from_numpy(logits), 3, 2)
    assert isinstance(hard_torch, torch.Tensor)
    np.testing.assert_array_equal(hard_torch.numpy(), expected)


def test_hard_conversion_is_argmax_row_of_mapping_first_on_ties():
    scores = torch.tensor([[0.0, 0.0, 0.0, 0.0, 5.0, 5.0, 0.0], [9.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]])
    hard = to_multilabel(scores, 3, 2)
    np.testing.assert_array_equal(hard.numpy(), [[1, 1, 0], [0, 0, 0]])


def test_soft_conversion_gives_marginals():
    logp = torch.log_softmax(torch.randn(2, 50, 7, generator=torch.Generator().manual_seed(0)), dim=-1)
    soft = to_multilabel(logp, 3, 2, soft=True)
    mapping = torch.from_numpy(powerset_mapping(3, 2))
    torch.testing.assert_close(soft, logp.exp() @ mapping)
    assert soft.shape == (2, 50, 3) and float(soft.min()) >= 0.0 and float(soft.max()) <= 1.0 + 1e-6


def test_to_powerset_round_trip(artifacts_dir):
    logits = np.load(artifacts_dir / "powerset_input_logits.npy")
    onehot = to_powerset(to_multilabel(logits, 3, 2), 2)
    assert onehot.shape == logits.shape
    np.testing.assert_array_equal(onehot.argmax(-1), logits.argmax(-1))
    np.testing.assert_array_equal(onehot.sum(-1), 1)
