"""PyanNet (segmentation-3.0): architecture, strict loading, frame arithmetic."""

from __future__ import annotations

import json

import pytest
import torch

from diarization.checkpoint import load_checkpoint
from diarization.errors import ModelLoadError
from diarization.models.pyannet import (
    PyanNet,
    conv_num_frames,
    conv_receptive_field_center,
    conv_receptive_field_size,
    load_segmentation_model,
)
from diarization.windows import SlidingWindow


@pytest.fixture(scope="module")
def checkpoint_path(models_dir):
    return models_dir / "segmentation-3.0" / "pytorch_model.bin"


@pytest.fixture(scope="module")
def model(checkpoint_path) -> PyanNet:
    return load_segmentation_model(checkpoint_path)


def test_attributes(model):
    assert model.sample_rate == 16000
    assert model.chunk_duration == 10.0
    assert model.num_speakers == 3
    assert model.max_speakers_per_frame == 2
    assert model.num_classes == 7
    assert model.chunk_samples == 160000
    assert not model.training
    assert sum(p.numel() for p in model.parameters()) == 1473185  # sinc cut-offs are buffers


def test_receptive_field_matches_recorded_frames(model, artifacts_dir):
    recorded = json.loads((artifacts_dir / "pipeline_speaker_counting_window.json").read_text())
    assert model.receptive_field == SlidingWindow(**recorded)
    assert model.receptive_field == SlidingWindow(start=0.0, duration=0.0619375, step=0.016875)


def test_conv_arithmetic():
    kernels, strides = [251, 3, 5, 3, 5, 3], [10, 3, 1, 3, 1, 3]
    assert conv_num_frames(160000, kernels, strides) == 589
    assert conv_receptive_field_size(1, kernels, strides) == 991
    assert conv_receptive_field_size(2, kernels, strides) - 991 == 270
    assert conv_receptive_field_center(0, kernels, strides) == 495


@pytest.mark.parametrize("num_samples", [16000, 32001, 160000])
def test_forward_shape_and_log_probabilities(model, num_samples):
    x = torch.randn(2, 1, num_samples, generator=torch.Generator().manual_seed(num_samples))
    with torch.inference_mode():
        y = model(x)
    assert y.shape == (2, model.num_frames(num_samples), 7) and y.dtype == torch.float32
    torch.testing.assert_close(y.exp().sum(-1), torch.ones(2, y.shape[1]))


def test_sinc_filters(model):
    filters = model.sincnet.conv1d[0].filterbank()
    assert filters.shape == (80, 1, 251)
    assert torch.isfinite(filters).all()
    # cosine filters are even, sine filters odd, around the centre tap
    torch.testing.assert_close(filters[:40], filters[:40].flip(-1))
    torch.testing.assert_close(filters[40:], -filters[40:].flip(-1))


def test_community1_folder_loads_the_same_weights(model, models_dir):
    other = load_segmentation_model(models_dir / "community-1" / "segmentation")
    mine, theirs = model.state_dict(), other.state_dict()
    assert mine.keys() == theirs.keys()
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)


def test_state_dict_keys_are_exactly_the_checkpoint_keys(model, checkpoint_path):
    assert set(model.state_dict()) == set(load_checkpoint(checkpoint_path)["state_dict"])


def _plain_checkpoint(checkpoint_path, tmp_path, edit):
    source = load_checkpoint(checkpoint_path)
    checkpoint = {
        "state_dict": dict(source["state_dict"]),
        "hyper_parameters": source["hyper_parameters"],
        "pyannote.audio": {"specifications": dict(source["pyannote.audio"]["specifications"].state)},
    }
    checkpoint["pyannote.audio"]["specifications"].pop("problem")
    checkpoint["pyannote.audio"]["specifications"].pop("resolution")
    edit(checkpoint)
    path = tmp_path / "pytorch_model.bin"
    torch.save(checkpoint, path)
    return path


def test_plain_dict_checkpoint_loads(checkpoint_path, tmp_path):
    path = _plain_checkpoint(checkpoint_path, tmp_path, lambda c: None)
    assert load_segmentation_model(tmp_path).num_classes == 7
    assert load_segmentation_model(path).receptive_field.step == 0.016875


@pytest.mark.parametrize(
    "edit,reason",
    [
        (lambda c: c["state_dict"].pop("classifier.bias"), "does not fit"),
        (lambda c: c["state_dict"].__setitem__("extra", torch.zeros(1)), "does not fit"),
        (lambda c: c["pyannote.audio"]["specifications"].__setitem__("powerset", False), "powerset"),
        (lambda c: c.pop("hyper_parameters"), "hyper_parameters"),
        (lambda c: c.pop("pyannote.audio"), "specifications"),
    ],
)
def test_bad_checkpoints_raise_model_load_error(checkpoint_path, tmp_path, edit, reason):
    path = _plain_checkpoint(checkpoint_path, tmp_path, edit)
    with pytest.raises(ModelLoadError, match=reason) as error:
        load_segmentation_model(path)
    assert str(path) in str(error.value)


def test_missing_file_or_folder(tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        load_segmentation_model(tmp_path / "nope.bin")
    with pytest.raises(ModelLoadError, match="pytorch_model.bin"):
        load_segmentation_model(tmp_path)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu(checkpoint_path, model):
    gpu = load_segmentation_model(checkpoint_path, device="cuda")
    x = torch.randn(2, 1, 160000, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        torch.testing.assert_close(gpu(x.cuda()).cpu(), model(x), atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("count, step, tail", [(1, 40000, 0), (7, 40000, 12345), (5, 16000, 0)])
def test_forward_windows_equals_forward_on_each_window(model, count, step, tail):
    torch.manual_seed(count)
    span = torch.randn(1, (count - 1) * step + model.chunk_samples + tail) * 0.3 + 0.05  # a DC offset too
    windows = torch.stack([span[:, i * step:i * step + model.chunk_samples] for i in range(count)])
    with torch.inference_mode():
        expected, got = model(windows), model.forward_windows(span, count, step)
    assert got.shape == expected.shape
    assert (got - expected).abs().max() < 1e-3
    assert torch.equal(got.argmax(-1), expected.argmax(-1))


def test_forward_windows_rejects_off_grid_steps_and_short_spans(model):
    with pytest.raises(ValueError, match="stride"):
        model.forward_windows(torch.zeros(1, 200000), 2, 40001)
    with pytest.raises(ValueError, match="shorter"):
        model.forward_windows(torch.zeros(1, 180000), 2, 40000)
