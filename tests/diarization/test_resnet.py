"""WeSpeaker ResNet34: loads the community-1 checkpoint format; embeddings match pyannote.audio 4.0.7."""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from diarization.checkpoint import load_checkpoint
from diarization.errors import ModelLoadError
from diarization.models.resnet import WeSpeakerResNet34, load_wespeaker_resnet34

from .wespeaker_fixture import GOLDEN, build_checkpoint, centered_cosine, cosine, read_clip, recipe_state_dict

MIN_COSINE = 0.9999


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return build_checkpoint(tmp_path_factory.mktemp("wespeaker") / "pytorch_model.bin")


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    return dict(np.load(GOLDEN / "wespeaker.npz"))


@pytest.fixture(scope="module")
def model(checkpoint) -> WeSpeakerResNet34:
    return load_wespeaker_resnet34(checkpoint)


@pytest.fixture(scope="module")
def waveforms(golden, dev_dir) -> torch.Tensor:
    chunks = [json.loads(str(c)) for c in golden["chunks"]]
    return torch.from_numpy(np.stack([read_clip(dev_dir / n, s, 160000) for n, s in chunks]))[:, None]


@pytest.fixture(scope="module")
def frames(model, waveforms) -> torch.Tensor:
    with torch.inference_mode():
        return model.trunk(waveforms)


def test_rebuilt_file_has_the_community1_format(checkpoint) -> None:
    with zipfile.ZipFile(checkpoint) as zf:
        names = zf.namelist()
        assert names[0] == "archive/data.pkl" and "archive/version" in names
        assert all(info.compress_type == zipfile.ZIP_STORED for info in zf.infolist())
    content = load_checkpoint(checkpoint)
    assert content["pyannote.audio"]["architecture"]["class"] == "WeSpeakerResNet34"
    assert content["hyper_parameters"]["window_type"] == "hamming"
    assert len(content["state_dict"]) == 218
    recipe = recipe_state_dict()
    for name, tensor in content["state_dict"].items():
        assert np.array_equal(tensor.numpy(), recipe[name]), name


def test_strict_load_and_shapes(model, frames) -> None:
    assert sum(p.numel() for p in model.parameters()) == 6_634_336
    assert frames.shape == (3, 2560, 125)
    assert model.dimension == 256 and model.min_num_samples == 400


def test_plain_embeddings_match_reference(model, frames, golden) -> None:
    with torch.inference_mode():
        got = model.pool(frames).numpy()
    assert cosine(got, golden["plain"]).min() >= MIN_COSINE
    assert centered_cosine(got, golden["plain"]).min() >= MIN_COSINE


def test_masked_embeddings_match_reference(model, frames, golden) -> None:
    with torch.inference_mode():
        got = model.pool(frames, torch.from_numpy(golden["masks"])).numpy()
    assert got.shape == golden["masked"].shape == (3, 4, 256)
    assert cosine(got, golden["masked"]).min() >= MIN_COSINE
    assert centered_cosine(got, golden["masked"]).min() >= MIN_COSINE
    # the masks matter: embeddings of one chunk under different masks differ
    assert cosine(got[:, 0], got[:, 2]).max() < 0.999


def test_forward_with_two_dimensional_weights(model, waveforms, golden) -> None:
    with torch.inference_mode():
        got = model(waveforms[1:2], torch.from_numpy(golden["masks"][1:2, 1])).numpy()
    assert got.shape == (1, 256)
    assert cosine(got, golden["masked"][1:2, 1]).min() >= MIN_COSINE


@pytest.mark.filterwarnings("ignore:std")  # one frame: NaN std, as in the reference
def test_min_num_samples_as_reference(model, golden) -> None:
    assert model.min_num_samples == int(golden["min_num_samples"])
    with torch.inference_mode():
        assert model(torch.randn(1, 1, model.min_num_samples)).shape == (1, 256)
        with pytest.raises(ValueError):
            model(torch.randn(1, 1, model.min_num_samples - 1))


def _resave(checkpoint: Path, out: Path, edit) -> Path:
    content = load_checkpoint(checkpoint)
    edit(content)
    torch.save({"state_dict": content["state_dict"], "hyper_parameters": content["hyper_parameters"]}, out)
    return out


def test_load_errors(checkpoint, tmp_path) -> None:
    def drop_key(c):
        c["state_dict"].pop("resnet.seg_1.bias")

    with pytest.raises(ModelLoadError, match="state dict"):
        load_wespeaker_resnet34(_resave(checkpoint, tmp_path / "a.bin", drop_key))

    def centering(c):
        c["hyper_parameters"]["fbank_centering_span"] = 3.0

    with pytest.raises(ModelLoadError, match="fbank_centering_span"):
        load_wespeaker_resnet34(_resave(checkpoint, tmp_path / "b.bin", centering))
    with pytest.raises(ModelLoadError):
        load_wespeaker_resnet34(tmp_path / "missing.bin")
    (tmp_path / "junk.bin").write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(ModelLoadError):
        load_wespeaker_resnet34(tmp_path / "junk.bin")


def test_fused_batchnorm_gives_the_same_embeddings(checkpoint, waveforms, golden) -> None:
    fused = load_wespeaker_resnet34(checkpoint).fuse_batchnorm()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    with torch.inference_mode():
        got = fused.pool(fused.trunk(waveforms)).numpy()
    assert cosine(got, golden["plain"]).min() >= MIN_COSINE
    assert centered_cosine(got, golden["plain"]).min() >= MIN_COSINE
