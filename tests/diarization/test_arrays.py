"""In-memory waveforms: (channel, time) as documented, (time, channel) as soundfile.read returns it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from diarization.arrays import MAX_GUESSED_CHANNELS, channels_first
from diarization.audio import load_audio
from diarization.errors import InvalidAudioError


@pytest.fixture(scope="module")
def stereo(tmp_path_factory: pytest.TempPathFactory, dev_dir: Path) -> Path:
    data, rate = sf.read(dev_dir / "pyannote_sample" / "sample.wav", dtype="float32")
    path = tmp_path_factory.mktemp("arrays") / "stereo.wav"
    sf.write(path, np.stack([data[:5 * rate], 0.5 * data[5 * rate:10 * rate]], axis=1), rate, subtype="FLOAT")
    return path


def test_soundfile_read_output_gives_the_files_waveform(stereo: Path) -> None:
    data, rate = sf.read(stereo, dtype="float32")  # (time, channel)
    assert data.shape == (5 * rate, 2)
    from_file = load_audio(stereo)
    for waveform in (data, torch.from_numpy(data), data.T):
        audio = load_audio({"waveform": waveform, "sample_rate": rate})
        assert audio.source_channels == 2 and audio.duration == 5.0
        np.testing.assert_array_equal(audio.waveform.numpy(), from_file.waveform.numpy())
    left = load_audio({"waveform": data, "sample_rate": rate}, channel=0)
    np.testing.assert_array_equal(left.waveform.numpy(), load_audio(stereo, channel=0).waveform.numpy())


def test_a_single_column_is_mono() -> None:
    column = np.linspace(-0.5, 0.5, 16000, dtype=np.float32)[:, None]  # sf.read(..., always_2d=True), mono
    audio = load_audio({"waveform": column, "sample_rate": 16000})
    assert audio.source_channels == 1 and audio.num_samples == 16000
    np.testing.assert_array_equal(audio.waveform[0].numpy(), column[:, 0])


def test_many_channels_first_keep_working() -> None:
    array = np.zeros((16, 8000), np.float32)  # a 16-microphone array, (channel, time)
    assert channels_first(array, "mics").shape == (16, 8000)
    assert load_audio({"waveform": array, "sample_rate": 8000}).source_channels == 16


def test_ambiguous_shapes_are_refused_with_a_way_out() -> None:
    tall = np.zeros((16000, MAX_GUESSED_CHANNELS + 1), np.float32)
    with pytest.raises(InvalidAudioError, match=r"^call: waveform of shape \(16000, 9\) is ambiguous: pass it as "
                                                r"\(channel, time\)"):
        load_audio({"waveform": tall, "sample_rate": 16000, "uri": "call"})
    assert channels_first(np.zeros((16000, MAX_GUESSED_CHANNELS)), "x").shape == (MAX_GUESSED_CHANNELS, 16000)
    assert channels_first(np.zeros((9, 9)), "x").shape == (9, 9)  # square: the documented layout
