"""The peer (senko 0.2.2) on a CPU without AVX-512: its bundled C++ fbank extractor
(libfbank_extractor.so) is compiled for AVX-512 and dies with SIGILL elsewhere, so this runs senko with
that one step replaced by an equivalent Kaldi fbank in torch (our diarization.features, senko's own
options: 80 bins, 25/10 ms, povey, dither 0, per-segment mean removal). Everything else is senko's.
Run with senko's environment (../shared/tools/scorecard.sh builds it in /tmp/senko-venv):

    /tmp/senko-venv/bin/python -m benchmarks.senko_here AUDIO [RTTM_OUT]

Prints the diarization time (model load excluded) and writes RTTM like ../shared/tools/senko-file.py.
"""

from __future__ import annotations

import pathlib
import sys
import time

import soundfile as sf
import torch

import senko
from diarization.features import CAMPPLUS_FBANK, Fbank

_fbank = Fbank(CAMPPLUS_FBANK.__class__(**{**CAMPPLUS_FBANK.__dict__, "subtract_mean": False}))


def _fbank_list(segments: list[torch.Tensor]) -> list[torch.Tensor]:
    with torch.inference_mode():
        return [_fbank(segment[None])[0] for segment in segments]


def main() -> int:
    x, rate = sf.read(sys.argv[1], dtype="float32", always_2d=True)
    diarizer = senko.Diarizer(device="cpu", warmup=False, quiet=True)
    diarizer.use_gpu_fbank, diarizer.torch_device, diarizer.kaldifeat_fbank = True, torch.device("cpu"), _fbank_list
    start = time.perf_counter()
    result = diarizer.diarize_samples(x.mean(1), sample_rate=rate) or {}
    elapsed = time.perf_counter() - start
    if len(sys.argv) > 2:
        uri = pathlib.Path(sys.argv[1]).stem
        with open(sys.argv[2], "w") as out:
            for s in result.get("merged_segments", []):
                out.write(f"SPEAKER {uri} 1 {s['start']:.3f} {s['end'] - s['start']:.3f} <NA> <NA> "
                          f"{s['speaker']} <NA> <NA>\n")
    print(f"senko: {x.shape[0] / rate:.1f} s of audio in {elapsed:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
