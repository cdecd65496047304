"""Record end-to-end golden RTTMs from the REFERENCE community-1 pipeline (pyannote.audio 4.0.7).

Run with the reference venv (shared/tools/reference-env.sh), from the repository root:

    /tmp/pyannote-ref/bin/python tests/golden/pipeline/make_pipeline_golden.py --shared ../shared

It rebuilds the deterministic WeSpeaker ResNet34 checkpoint of ``tests/diarization/wespeaker_fixture.py``
(the same bytes the embedding golden files were made from) in a temporary folder, then runs
``shared/tools/reference-diarize.py`` (the reference pipeline configured from community-1's
``config.yaml``, with that checkpoint as its embedding model) on ``FILES``, after one warm-up file.
Writes tests/golden/pipeline/:
  <stem>.rttm          the reference's speaker_diarization of each file
  reference.json       files (dev-relative path, duration, sha256 of the audio), the reference's wall time
                       per file and per stage (warm, 2 torch threads), versions, the machine load
With random embedding weights the speaker labels say nothing about real speakers: these files check that
our engine and the reference do the same computation, stage by stage, end to end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
OUT = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO / "tests" / "diarization"))
import wespeaker_fixture

# dev-relative paths; ~2 min of real speech: phone-style, AMI meetings (3 and 4 speakers, heavy overlap),
# read speech, and a stereo file (the downmix)
FILES = [
    "pyannote_sample/sample.wav",
    "ami_debug_train/trn00.wav",
    "ami_debug_train/trn05.wav",
    "libri_conversations/dev_2spk_00.wav",
    "stereo_overlap/stereo_diarization.wav",
]
WARM_UP = "reference/community-1-artifacts/test_short.wav"  # shared-relative
LINE = re.compile(r"^(?P<stem>\S+): (?P<audio>[\d.]+) s audio in (?P<wall>[\d.]+) s \(RTF [\d.]+\);(?P<stages>.*)$")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def versions() -> dict[str, str]:
    from importlib.metadata import version

    found = {"python": platform.python_version()}
    for name in ("pyannote.audio", "torch", "torchaudio", "lightning", "numpy", "scipy", "scikit-learn",
                 "soundfile", "pyannote.core", "pyannote.pipeline"):
        found[name] = version(name)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", default=str(REPO.parent / "shared"), help="the shared/ folder")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the reference run")
    args = parser.parse_args()
    shared = Path(args.shared).resolve()
    dev = shared / "data" / "dev"
    wavs = [dev / name for name in FILES]
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = wespeaker_fixture.build_checkpoint(Path(tmp) / "pytorch_model.bin")
        out = Path(tmp) / "rttm"
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
        load_before = os.getloadavg()
        run = subprocess.run(
            [sys.executable, "-W", "ignore", str(shared / "tools" / "reference-diarize.py"),
             str(shared / "models" / "community-1"), str(checkpoint), str(out), str(shared / WARM_UP),
             *map(str, wavs)],
            capture_output=True, text=True, env=env, check=False)
        if run.returncode:
            sys.exit(f"reference-diarize.py failed:\n{run.stderr[-3000:]}")
        print(run.stdout, end="")
        times = {}
        for line in run.stdout.splitlines():
            match = LINE.match(line)
            if match:
                stages = dict(re.findall(r"(\S+) ([\d.]+)", match["stages"]))
                times[match["stem"]] = {"audio_s": float(match["audio"]), "wall_s": float(match["wall"]),
                                        "stages_s": {k: float(v) for k, v in stages.items()}}
        for wav in wavs:
            shutil.copyfile(out / f"{wav.stem}.rttm", OUT / f"{wav.stem}.rttm")
    record = {
        "generator": "tests/golden/pipeline/make_pipeline_golden.py",
        "checkpoint": {"recipe": "tests/diarization/wespeaker_fixture.py build_checkpoint",
                       "seed": wespeaker_fixture.SEED, "sha256": None},
        "pipeline": "shared/tools/reference-diarize.py on shared/models/community-1 (config.yaml params)",
        "warm_up": WARM_UP,
        "files": [{"path": name, "stem": wav.stem, "sha256": sha256(wav), **times[wav.stem]}
                  for name, wav in zip(FILES, wavs)],
        "torch_threads": args.threads,
        "cpu_count": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "versions": versions(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        record["checkpoint"]["sha256"] = sha256(wespeaker_fixture.build_checkpoint(Path(tmp) / "c.bin"))
    (OUT / "reference.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {len(wavs)} RTTMs and reference.json to {OUT}")


if __name__ == "__main__":
    main()
