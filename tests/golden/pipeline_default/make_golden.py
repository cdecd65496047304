"""Record end-to-end golden RTTMs of the REFERENCE pipeline on our DEFAULT model set (real weights).

Run with the reference venv (shared/tools/reference-env.sh), from the repository root:

    /tmp/pyannote-ref/bin/python tests/golden/pipeline_default/make_golden.py --shared ../shared

pyannote.audio 4.0.7's ``SpeakerDiarization`` on segmentation-3.0 + CAM++ with agglomerative clustering
(``benchmarks/reference_pipelines.default_set_pipeline``: our CAM++ module handed to pyannote as a
``Model``). Unlike tests/golden/pipeline (random WeSpeaker weights), every weight here is real, so these
speaker turns are meaningful. Writes tests/golden/pipeline_default/:
  <stem>.rttm       the reference's speaker_diarization of each file
  reference.json    files (dev-relative path, duration, sha256), the hyper-parameters, versions
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
OUT = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO))

# dev-relative paths, ~5 min: phone-style, AMI meetings (2-4 speakers, heavy overlap in trn05), read
# speech with 2, 3, 4 and 5 speakers, synthetic voices, and a stereo file (the downmix)
FILES = [
    "pyannote_sample/sample.wav",
    "ami_debug_train/trn00.wav",
    "ami_debug_train/trn03.wav",
    "ami_debug_train/trn05.wav",
    "libri_conversations/dev_2spk_00.wav",
    "libri_conversations/dev_3spk_08.wav",
    "libri_conversations/dev_4spk_14.wav",
    "libri_conversations/dev_5spk_18.wav",
    "espeak_conversation/espeak_conv01.wav",
    "stereo_overlap/stereo_diarization.wav",
]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def versions() -> dict[str, str]:
    from importlib.metadata import version

    found = {"python": platform.python_version()}
    for name in ("pyannote.audio", "pyannote.core", "torch", "numpy", "scipy", "soundfile"):
        found[name] = version(name)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", default=str(REPO.parent / "shared"), help="the shared/ folder")
    args = parser.parse_args()
    import soundfile as sf
    import torch

    from benchmarks.reference_pipelines import DEFAULT_SET_PARAMS, default_set_pipeline

    shared = Path(args.shared).resolve()
    pipeline = default_set_pipeline(shared / "models", shared / "models" / "community-1")
    files = []
    for name in FILES:
        wav = shared / "data" / "dev" / name
        data, rate = sf.read(wav, dtype="float32", always_2d=True)
        start = time.perf_counter()
        output = pipeline({"waveform": torch.from_numpy(data.T.copy()), "sample_rate": rate, "uri": wav.stem})
        wall = time.perf_counter() - start
        with open(OUT / f"{wav.stem}.rttm", "w", encoding="utf-8") as rttm:
            output.speaker_diarization.write_rttm(rttm)
        files.append({"path": name, "stem": wav.stem, "sha256": sha256(wav),
                      "audio_s": round(data.shape[0] / rate, 3), "wall_s": round(wall, 2),
                      "speakers": len(output.speaker_diarization.labels())})
        print(f"{wav.stem}: {files[-1]['audio_s']} s in {wall:.2f} s, {files[-1]['speakers']} speakers", flush=True)
    record = {
        "generator": "tests/golden/pipeline_default/make_golden.py",
        "pipeline": "benchmarks/reference_pipelines.py default_set_pipeline (pyannote SpeakerDiarization, "
                    "segmentation-3.0 + CAM++, AgglomerativeClustering, constrained assignment, "
                    "embedding_exclude_overlap, batch sizes 32, segmentation step 0.1 x 10 s)",
        "params": DEFAULT_SET_PARAMS,
        "assignment": "constrained",
        "files": files,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "versions": versions(),
    }
    (OUT / "reference.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {len(files)} RTTMs and reference.json to {OUT}")


if __name__ == "__main__":
    main()
