"""benchmarks/gpu.py in a tiny CPU configuration: the long-file and many-short-files cases run and report."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_cpu_smoke_run_reports_both_cases_per_hour(models_dir: Path) -> None:
    command = [sys.executable, "-m", "benchmarks.gpu", "--device", "cpu", "--minutes", "1", "--short-files", "3",
               "--short-minutes", "0.5", "--batch-files", "2", "--repeat", "1", "--modes", "fast",
               "--check-minutes", "0", "--models", str(models_dir)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    out = run.stdout
    assert "short files run 1:" in out and "GPU n/a (no NVML)" in out, out
    assert re.search(r"decode [\d.]+, segmentation [\d.]+, embeddings [\d.]+, clustering [\d.]+", out), out
    assert re.search(r"\d+ trunk passes, [\d.]+ tiles per pass", out), out
    assert re.search(r"seconds per hour of audio: long file [\d.]+, 3 x 0.5 min [\d.]+ \(ratio [\d.]+\)", out), out
