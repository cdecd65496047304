"""Record golden files for the embedding stage from the REFERENCE implementations.

Run with the reference venv (shared/tools/reference-env.sh), from the repository root:

    /tmp/pyannote-ref/bin/python tests/golden/make_embedding_golden.py \
        --shared ../shared --speakerlab /tmp/3dspeaker

Writes tests/golden/embedding/:
  fbank.npz                torchaudio.compliance.kaldi.fbank of short real dev clips, both models' settings
  wespeaker_data.pkl       data.pkl of a checkpoint written by shared/tools/make-wespeaker-checkpoint.py
  wespeaker_manifest.json  that checkpoint's zip entries (order, small text records)
  wespeaker.npz            pyannote.audio 4.0.7 embeddings on the checkpoint rebuilt from the two files above
                           with recipe weights (tests/diarization/wespeaker_fixture.py): plain and masked
                           forward passes, and SpeakerDiarization.get_embeddings on recorded segmentations
  campplus.npz             3D-Speaker's own CAMPPlus + FBank(mean_nor=True) on the shared CAM++ weights
--speakerlab is a checkout of github.com/modelscope/3D-Speaker (its ``speakerlab`` package).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

warnings.filterwarnings("ignore")
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "diarization"))
import wespeaker_fixture

OUT = REPO / "tests" / "golden" / "embedding"

# (dev-relative path, start sample, number of samples, zeros appended)
FBANK_CLIPS = [
    ("ami_debug_train/trn01.wav", 80000, 9600, 0),
    ("libri_conversations/dev_2spk_00.wav", 32000, 9600, 0),
    ("stereo_overlap/stereo_diarization_mono.wav", 16000, 6400, 3200),
]
# 10 s chunks for the plain / masked WeSpeaker forward passes
CHUNKS = [
    ("ami_debug_train/trn01.wav", 0),
    ("libri_conversations/dev_2spk_00.wav", 160000),
    ("pyannote_sample/sample.wav", 64000),
]
# recorded community-1 segmentations (binarized) of the artifact audio: (prefix, audio, first chunk,
# number of chunks, edited). pipeline 16-17 overlap, 17 runs past the end of the audio; "edited" adds to
# the single short chunk a speaker 0 heard only in overlap plus 2 clean frames (the min_num_frames
# fallback) and NaN frames.
SEGMENTATIONS = [("pipeline", "test.wav", 16, 2, False), ("short", "test_short.wav", 0, 1, True)]
CAMPPLUS_CLIPS = [
    ("ami_debug_train/trn01.wav", 0, 160000),
    ("libri_conversations/dev_2spk_00.wav", 16000, 52800),
    ("stereo_overlap/stereo_diarization_mono.wav", 0, 24000),
]


def read(path: Path, start: int = 0, length: int | None = None) -> np.ndarray:
    audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    assert rate == 16000, path
    audio = audio[:, 0]
    return audio[start : None if length is None else start + length]


def masks_for(num_frames: int = 589) -> np.ndarray:
    """(3 chunks, 4 masks, frames) float32 masks: all, a region, a short burst, soft weights."""
    masks = np.zeros((len(CHUNKS), 4, num_frames), dtype=np.float32)
    masks[:, 0] = 1.0
    masks[0, 1, 100:350] = 1.0
    masks[1, 1, 0:200] = 1.0
    masks[2, 1, 300:589] = 1.0
    masks[:, 2, 400:412] = 1.0
    masks[:, 3] = np.linspace(0.0, 1.0, num_frames, dtype=np.float32)
    return masks


def edit_segmentation(data: np.ndarray) -> np.ndarray:
    """Speaker 0 active on 30 frames where speaker 1 speaks and on 2 silent frames; NaN at the end."""
    data = data.copy()
    assert not data[0, :, 0].any()
    speaking = np.flatnonzero(data[0, :, 1] > 0)[:30]
    silent = np.flatnonzero(data[0].sum(axis=1) == 0)[:2]
    data[0, speaking, 0] = 1.0
    data[0, silent, 0] = 1.0
    data[0, -10:, 2] = np.nan
    return data


def fbank_golden(dev: Path) -> dict[str, np.ndarray]:
    from torchaudio.compliance import kaldi

    out: dict[str, np.ndarray] = {}
    for i, (name, start, length, zeros) in enumerate(FBANK_CLIPS):
        clip = torch.from_numpy(
            np.concatenate([read(dev / name, start, length), np.zeros(zeros, np.float32)])
        )
        common = {
            "num_mel_bins": 80,
            "dither": 0.0,
            "sample_frequency": 16000,
            "frame_length": 25,
            "frame_shift": 10,
        }
        out[f"wespeaker_{i}"] = kaldi.fbank((clip * (1 << 15))[None], window_type="hamming", **common).numpy()
        out[f"campplus_{i}"] = kaldi.fbank(clip[None], **common).numpy()
    out["clips"] = np.array([json.dumps(c) for c in FBANK_CLIPS])
    return out


def wespeaker_golden(shared: Path, checkpoint: Path) -> dict[str, np.ndarray]:
    from pyannote.audio import Model
    from pyannote.audio.pipelines import SpeakerDiarization
    from pyannote.audio.pipelines.speaker_verification import PyannoteAudioPretrainedSpeakerEmbedding
    from pyannote.core import SlidingWindow, SlidingWindowFeature

    dev, artifacts = shared / "data" / "dev", shared / "reference" / "community-1-artifacts"
    model = Model.from_pretrained(str(checkpoint)).eval()
    embedding = PyannoteAudioPretrainedSpeakerEmbedding(model)
    waveforms = torch.from_numpy(np.stack([read(dev / n, s, 160000) for n, s in CHUNKS]))[:, None]
    masks = masks_for()
    out: dict[str, np.ndarray] = {
        "chunks": np.array([json.dumps(c) for c in CHUNKS]),
        "masks": masks,
        "plain": embedding(waveforms),
        "min_num_samples": np.array(embedding.min_num_samples),
    }
    out["masked"] = np.stack([embedding(waveforms, masks=torch.from_numpy(masks[:, k])) for k in range(4)], 1)

    pipeline = SpeakerDiarization(
        segmentation=str(shared / "models" / "community-1" / "segmentation" / "pytorch_model.bin"),
        embedding=model,
        plda={"checkpoint": str(shared / "models" / "community-1"), "subfolder": "plda"},
        embedding_exclude_overlap=True,
        embedding_batch_size=32,
    )
    for prefix, wav, first, count, edited in SEGMENTATIONS:
        data = np.load(artifacts / f"{prefix}_segmentation_data.npy")[first : first + count]
        if edited:
            data = edit_segmentation(data)
        window = json.loads((artifacts / f"{prefix}_segmentation_window.json").read_text())
        window["start"] += first * window["step"]
        segmentation = SlidingWindowFeature(data, SlidingWindow(**window))
        out[f"segmentation_{prefix}"] = data.astype(np.float32)
        out[f"window_{prefix}"] = np.array([window["start"], window["duration"], window["step"]])
        audio = torch.from_numpy(read(artifacts / wav))[None]
        file = {"waveform": audio, "sample_rate": 16000, "uri": prefix}
        for exclude in (True, False):
            out[f"get_embeddings_{prefix}_{int(exclude)}"] = pipeline.get_embeddings(
                file, segmentation, exclude_overlap=exclude
            )
    out["segmentations"] = np.array([json.dumps(s) for s in SEGMENTATIONS])
    return out


def campplus_golden(shared: Path, speakerlab: Path) -> dict[str, np.ndarray]:
    sys.path.insert(0, str(speakerlab))
    from speakerlab.models.campplus.DTDNN import CAMPPlus
    from speakerlab.process.processor import FBank

    weights = shared / "models" / "campplus-sv-zh-en-common" / "campplus_cn_en_common.pt"
    model = CAMPPlus(feat_dim=80, embedding_size=192).eval()
    model.load_state_dict(torch.load(weights, map_location="cpu"), strict=True)
    features = FBank(80, sample_rate=16000, mean_nor=True)
    dev = shared / "data" / "dev"
    embeddings = []
    with torch.inference_mode():
        for name, start, length in CAMPPLUS_CLIPS:
            clip = torch.from_numpy(read(dev / name, start, length))
            embeddings.append(model(features(clip).unsqueeze(0))[0].numpy())
    return {"clips": np.array([json.dumps(c) for c in CAMPPLUS_CLIPS]), "embeddings": np.stack(embeddings)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--speakerlab", type=Path, default=Path("/tmp/3dspeaker"))
    args = parser.parse_args()
    shared = args.shared.resolve()
    torch.manual_seed(0)
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT / "fbank.npz", **fbank_golden(shared / "data" / "dev"))
    with tempfile.TemporaryDirectory() as tmp:
        original = Path(tmp) / "generated.bin"
        tool = shared / "tools" / "make-wespeaker-checkpoint.py"
        subprocess.run([sys.executable, str(tool), str(original), "0"], check=True)
        wespeaker_fixture.record_format(original, OUT)
        rebuilt = wespeaker_fixture.build_checkpoint(Path(tmp) / "pytorch_model.bin", OUT)
        np.savez_compressed(OUT / "wespeaker.npz", **wespeaker_golden(shared, rebuilt))
    np.savez_compressed(OUT / "campplus.npz", **campplus_golden(shared, args.speakerlab))
    print("wrote", *sorted(p.name for p in OUT.iterdir()))


if __name__ == "__main__":
    main()
