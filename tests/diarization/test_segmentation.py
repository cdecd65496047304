"""Sliding-window segmentation and speaker counting, against outputs recorded from community-1."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from diarization.models.pyannet import load_segmentation_model
from diarization.segmentation import Segmenter, chunk_parts, num_chunks, speaker_count, trim
from diarization.windows import SlidingWindow, Windowed

RECORDINGS = {
    "pipeline": "test.wav",
    "3speakers": "test_3speakers.wav",
    "single_speaker": "test_single_speaker.wav",
    "short": "test_short.wav",
}


def chunk_waveform(waveform: torch.Tensor, window_samples: int, step_samples: int) -> torch.Tensor:
    """(num_chunks, 1, window_samples): every chunk of ``chunk_parts`` in one tensor."""
    return torch.cat(chunk_parts(waveform, window_samples, step_samples), dim=0)


@pytest.fixture(scope="module")
def segmenter(models_dir) -> Segmenter:
    return Segmenter(load_segmentation_model(models_dir / "segmentation-3.0" / "pytorch_model.bin"))


@pytest.fixture(scope="module")
def segmentations(segmenter, artifacts_dir):
    """Our segmentation of each recorded file, computed once."""
    cache: dict[str, Windowed] = {}

    def get(prefix: str) -> Windowed:
        if prefix not in cache:
            audio, rate = sf.read(artifacts_dir / RECORDINGS[prefix], dtype="float32")
            assert rate == 16000 and audio.ndim == 1
            cache[prefix] = segmenter(torch.from_numpy(audio)[None])
        return cache[prefix]

    return get


def _window(path) -> SlidingWindow:
    return SlidingWindow(**json.loads(path.read_text()))


# ---------------------------------------------------------------- chunking


@pytest.mark.parametrize(
    "num_samples,expected",
    [
        (0, 1),
        (1, 1),
        (159999, 1),
        (160000, 1),
        (160001, 2),
        (176000, 2),
        (176001, 3),
        (960000, 51),
        (960001, 52),
    ],
)
def test_num_chunks(num_samples, expected):
    assert num_chunks(num_samples, 160000, 16000) == expected


def test_chunk_waveform_layout():
    window, step = 10, 3
    waveform = torch.arange(1, 18, dtype=torch.float32)[None]  # 17 samples: complete at 0, 3, 6; rest 9..16
    chunks = chunk_waveform(waveform, window, step)
    assert chunks.shape == (4, 1, window)
    for c in range(3):
        np.testing.assert_array_equal(chunks[c, 0], np.arange(1 + c * step, 11 + c * step))
    np.testing.assert_array_equal(chunks[3, 0], [10, 11, 12, 13, 14, 15, 16, 17, 0, 0])
    exact = chunk_waveform(torch.ones(1, 16), window, step)  # 16 = 10 + 2*3: no leftover chunk
    assert exact.shape == (3, 1, window) and bool((exact == 1).all())
    short = chunk_waveform(torch.ones(4), window, step)
    assert short.shape == (1, 1, window)
    np.testing.assert_array_equal(short[0, 0], [1, 1, 1, 1, 0, 0, 0, 0, 0, 0])


def test_chunk_waveform_pads_the_leftover():
    chunks = chunk_waveform(torch.ones(1, 15), 10, 3)  # complete at 0, 3; leftover starts at 6 (9 samples)
    assert chunks.shape == (3, 1, 10)
    np.testing.assert_array_equal(chunks[2, 0], [1] * 9 + [0])


def test_chunk_waveform_rejects_multichannel():
    with pytest.raises(ValueError, match="mono"):
        chunk_waveform(torch.zeros(2, 100), 10, 3)


# ---------------------------------------------------------------- parity with community-1


@pytest.mark.parametrize("prefix", list(RECORDINGS))
def test_segmentation_matches_community1(segmentations, artifacts_dir, prefix):
    ours = segmentations(prefix)
    expected = np.load(artifacts_dir / f"{prefix}_segmentation_data.npy")
    assert ours.data.dtype == np.float32
    assert ours.data.shape == expected.shape
    assert float(np.abs(ours.data - expected).max()) <= 1e-4
    assert ours.window == _window(artifacts_dir / f"{prefix}_segmentation_window.json")


@pytest.mark.parametrize("prefix", list(RECORDINGS))
def test_speaker_count_matches_community1(segmentations, segmenter, artifacts_dir, prefix):
    count = speaker_count(segmentations(prefix), segmenter.frames)
    expected = np.load(artifacts_dir / f"{prefix}_speaker_counting_data.npy")
    assert count.data.dtype == np.uint8 and count.data.shape == expected.shape
    np.testing.assert_array_equal(count.data, expected)
    assert count.window == _window(artifacts_dir / f"{prefix}_speaker_counting_window.json")


def test_speaker_count_on_recorded_segmentation(artifacts_dir):
    """The counting alone, fed the recorded segmentation (independent of the model)."""
    scores = Windowed(
        np.load(artifacts_dir / "3speakers_segmentation_data.npy"), SlidingWindow(0.0, 10.0, 1.0)
    )
    frames = _window(artifacts_dir / "3speakers_speaker_counting_window.json")
    count = speaker_count(scores, frames)
    np.testing.assert_array_equal(count.data, np.load(artifacts_dir / "3speakers_speaker_counting_data.npy"))


def test_community1_segmentation_folder(models_dir, artifacts_dir):
    segmenter = Segmenter(load_segmentation_model(models_dir / "community-1" / "segmentation"))
    audio, _ = sf.read(artifacts_dir / "test_short.wav", dtype="float32")
    ours = segmenter(torch.from_numpy(audio))  # 1-D input is accepted too
    np.testing.assert_array_equal(ours.data, np.load(artifacts_dir / "short_segmentation_data.npy"))


# ---------------------------------------------------------------- batched entry point


def test_batched_infer_mixing_files_equals_per_file(segmenter, segmentations, artifacts_dir):
    short, _ = sf.read(artifacts_dir / "test_short.wav", dtype="float32")
    single, _ = sf.read(artifacts_dir / "test_single_speaker.wav", dtype="float32")
    a = chunk_waveform(torch.from_numpy(short)[None], segmenter.window_samples, segmenter.step_samples)
    b = chunk_waveform(torch.from_numpy(single)[None], segmenter.window_samples, segmenter.step_samples)
    assert (
        len(a) == segmenter.num_chunks(len(short)) == 1 and len(b) == segmenter.num_chunks(len(single)) == 7
    )
    segmenter_small = Segmenter(segmenter.model, batch_size=3)
    out = segmenter_small.infer(torch.cat([a, b]))
    assert out.shape == (8, segmenter.num_frames, 3)
    np.testing.assert_array_equal(out[:1], segmentations("short").data)
    np.testing.assert_array_equal(out[1:], segmentations("single_speaker").data)


def test_infer_empty_batch(segmenter):
    assert segmenter.infer(torch.zeros(0, 1, 160000)).shape == (0, 589, 3)


def test_segmenter_settings(segmenter):
    assert segmenter.chunks_window == SlidingWindow(0.0, 10.0, 1.0)
    assert (segmenter.window_samples, segmenter.step_samples, segmenter.num_frames) == (160000, 16000, 589)
    with pytest.raises(ValueError):
        Segmenter(segmenter.model, batch_size=0)
    with pytest.raises(ValueError):
        Segmenter(segmenter.model, step=11.0)


# ---------------------------------------------------------------- counting arithmetic


def test_trim():
    scores = Windowed(
        np.arange(2 * 10 * 1, dtype=np.float32).reshape(2, 10, 1), SlidingWindow(0.0, 10.0, 1.0)
    )
    trimmed = trim(scores, (0.1, 0.2))
    assert trimmed.data.shape == (2, 7, 1)
    np.testing.assert_array_equal(trimmed.data[0, :, 0], np.arange(1, 8))
    assert trimmed.window == SlidingWindow(start=1.0, duration=(1 - 0.1 - 0.2) * 10.0, step=1.0)
    assert trim(scores, (0.0, 0.0)).window == scores.window


def test_speaker_count_averages_and_rounds_half_to_even():
    frames = SlidingWindow(0.0, 1.0, 1.0)
    chunks = SlidingWindow(0.0, 4.0, 1.0)
    data = np.zeros((2, 4, 3), dtype=np.float32)
    data[0, :, 0] = 1  # chunk 0 covers frames 0-3: one speaker
    data[1, :, :2] = 1  # chunk 1 covers frames 1-4: two speakers
    data[1, 3, :] = 1  # frame 4: three speakers
    count = speaker_count(Windowed(data, chunks), frames)
    # pyannote's frame count runs half a frame past the last chunk: one extra, uncovered frame (0)
    assert count.data.dtype == np.uint8 and count.data.shape == (6, 1)
    # frames 1-3 average 1.5 -> 2 (half to even); frame 0 -> 1; frame 4 -> 3
    np.testing.assert_array_equal(count.data[:, 0], [1, 2, 2, 2, 3, 0])
    data[1, 0, :] = 0  # frame 1 averages 0.5 -> 0 (half to even)
    assert speaker_count(Windowed(data, chunks), frames).data[1, 0] == 0


def test_shared_sinc_segmentation_equals_per_chunk(models_dir, dev_dir):
    """Sharing the sinc convolution across chunks (fast mode) gives the same hard scores, tail included."""
    model = load_segmentation_model(models_dir / "segmentation-3.0" / "pytorch_model.bin")
    plain = Segmenter(model, step=2.5)
    shared = Segmenter(model, step=2.5, share_sinc=True, batch_size=4)
    assert shared.share_sinc and not Segmenter(model, step=2.5001, share_sinc=True).share_sinc
    audio, rate = sf.read(dev_dir / "pyannote_sample" / "sample.wav", dtype="float32")
    waveforms = [torch.from_numpy(audio)[None, :rate * 37 + 4321], torch.from_numpy(audio)[None, :rate * 3]]
    expected = plain.segment_many(waveforms)
    got = shared.segment_many(waveforms)
    for a, b in zip(expected, got):
        assert a.data.shape == b.data.shape
        assert np.mean(a.data != b.data) < 1e-3
    np.testing.assert_array_equal(shared.infer_range(waveforms[0], 2, 9), got[0].data[2:9])


def test_infer_range_equals_segment_many_without_shared_sinc(segmenter, artifacts_dir):
    """A range of chunks, the zero-padded last one included, scores as the whole file does."""
    audio, _ = sf.read(artifacts_dir / "test.wav", dtype="float32")
    waveform = torch.from_numpy(audio)[None]
    [whole] = segmenter.segment_many([waveform])
    assert not segmenter.share_sinc and len(whole) > 12
    np.testing.assert_array_equal(segmenter.infer_range(waveform, 3, 9), whole.data[3:9])
    last = len(whole)
    np.testing.assert_array_equal(segmenter.infer_range(waveform, last - 4, last), whole.data[-4:])
