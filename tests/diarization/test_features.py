"""Kaldi fbank parity with torchaudio.compliance.kaldi.fbank (golden files from the reference venv)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from diarization.features import (
    CAMPPLUS_FBANK,
    WESPEAKER_FBANK,
    Fbank,
    FbankOptions,
    mel_filterbank,
    num_frames,
)

from .wespeaker_fixture import GOLDEN, read_clip

# measured: 0.0 on CPU (torch 2.13); the bound leaves room for other BLAS / FFT back-ends
TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    return dict(np.load(GOLDEN / "fbank.npz"))


def clips(golden: dict[str, np.ndarray], dev_dir) -> list[torch.Tensor]:
    out = []
    for spec in golden["clips"]:
        name, start, length, zeros = json.loads(str(spec))
        audio = np.concatenate([read_clip(dev_dir / name, start, length), np.zeros(zeros, np.float32)])
        out.append(torch.from_numpy(audio))
    return out


@pytest.mark.parametrize("setting", ["wespeaker", "campplus"])
def test_matches_torchaudio_kaldi_fbank(golden, dev_dir, setting: str) -> None:
    options = {"wespeaker": WESPEAKER_FBANK, "campplus": CAMPPLUS_FBANK}[setting]
    raw = Fbank(dataclasses.replace(options, subtract_mean=False))
    for i, clip in enumerate(clips(golden, dev_dir)):
        expected = golden[f"{setting}_{i}"]
        got = raw(clip[None])[0].numpy()
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= TOLERANCE


def test_mean_subtraction_and_batching(golden, dev_dir) -> None:
    batch = torch.stack([clip[:9600] for clip in clips(golden, dev_dir)])
    centred = Fbank(WESPEAKER_FBANK)(batch).numpy()
    for i in range(len(batch)):
        expected = golden[f"wespeaker_{i}"]
        expected = expected - expected.mean(axis=0, keepdims=True)
        assert np.abs(centred[i] - expected).max() <= TOLERANCE


def test_zero_padding_hits_the_log_floor(golden, dev_dir) -> None:
    features = Fbank(dataclasses.replace(CAMPPLUS_FBANK, subtract_mean=False))(
        clips(golden, dev_dir)[2][None]
    )[0]
    assert torch.allclose(features[-1], torch.log(torch.tensor(torch.finfo(torch.float32).eps)))


def test_frame_count_and_short_input() -> None:
    fbank = Fbank(CAMPPLUS_FBANK)
    assert num_frames(160000, CAMPPLUS_FBANK) == 998 == fbank(torch.zeros(1, 160000)).shape[1]
    assert fbank.num_frames(400) == 1 and fbank.num_frames(399) == 0
    with pytest.raises(ValueError):
        fbank(torch.zeros(2, 399))


def test_no_state_dict_entries_and_filterbank_shape() -> None:
    assert Fbank(WESPEAKER_FBANK).state_dict() == {}
    filters = mel_filterbank(FbankOptions())
    assert filters.shape == (257, 80)
    assert torch.all(filters[-1] == 0) and torch.all(filters >= 0)
    with pytest.raises(ValueError):
        Fbank(dataclasses.replace(CAMPPLUS_FBANK, window_type="kaiser"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu(golden, dev_dir) -> None:
    clip = clips(golden, dev_dir)[0][None]
    cpu = Fbank(WESPEAKER_FBANK)(clip)
    gpu = Fbank(WESPEAKER_FBANK).to("cuda")(clip.cuda()).cpu()
    assert (cpu - gpu).abs().max() < 1e-2
