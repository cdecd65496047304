"""The README's commands, run as written: ``diarize run`` on a Ray started on the spot, ``diarize report``,
and ``ray job submit ... -- python -m jobs run`` against a running cluster (the session's)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from jobs.manifest import write_manifest
from jobs.store import Store

from .test_html_report import Page

REPO = Path(__file__).resolve().parents[2]


def diarize() -> list[str]:
    """The console script when the project is installed, else the same commands through ``python -m jobs``."""
    return ["diarize"] if shutil.which("diarize") else [sys.executable, "-m", "jobs"]


def small_manifest(folder: Path, audio_dir: Path) -> Path:
    rows = [{"path": str(p)} for p in sorted(audio_dir.glob("call0[0-2].wav"))]
    rows.append({"path": str(audio_dir / "broken" / "notes.wav")})
    return Path(write_manifest(rows, str(folder / "calls.csv")))


def test_run_on_the_spot_then_report(tmp_path: Path, audio_dir: Path, models_dir: Path) -> None:
    small_manifest(tmp_path, audio_dir)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # the embedded default: no cluster
    env["DIARIZATION_MODELS"] = str(models_dir)
    run = subprocess.run([*diarize(), "run", "calls.csv", "--output", "out/", "--run-date", "2026-11-26",
                          "--num-cpus", "2"], cwd=tmp_path, env=env, capture_output=True, text=True, check=False, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "files: 3 ok, 1 failed, 0 skipped (of 4 manifest rows)" in run.stdout
    assert "errors: decode_error 1" in run.stdout

    report = subprocess.run([*diarize(), "report", "out/"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            check=False, timeout=120)
    assert report.returncode == 0, report.stderr[-3000:]
    assert "run_date=2026-11-26: 4 status rows, 3 ok, 1 failed" in report.stdout
    as_json = subprocess.run([*diarize(), "report", "out/", "--json"], cwd=tmp_path, env=env, capture_output=True,
                             text=True, check=False, timeout=120)
    [summary] = json.loads(as_json.stdout)
    assert summary["ok"] == 3 and summary["errors"] == {"decode_error": 1} and summary["run"]["wall_seconds"] > 0

    html = subprocess.run([*diarize(), "report", "out/", "--html", "report.html"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, check=False, timeout=120)
    assert html.returncode == 0, html.stderr[-3000:]
    page = Page((tmp_path / "report.html").read_text(encoding="utf-8"))
    assert "Failed files (1)" in page.all_text and "decode_error" in page.all_text
    assert page.count("svg") == 2 + 3  # the two histograms, a timeline for each of the 3 diarized calls
    assert "calls.csv" in page.text  # the manifest that was read, as given


def test_ray_job_submit(ray_cluster: dict[str, Any], tmp_path: Path, audio_dir: Path, models_dir: Path) -> None:
    manifest = small_manifest(tmp_path, audio_dir)
    output = tmp_path / "out"
    runtime_env = {"excludes": [".git", "tests", "benchmarks", "*.whl"]}
    command = ["ray", "job", "submit", "--address", ray_cluster["dashboard"], "--working-dir", ".",
               "--runtime-env-json", json.dumps(runtime_env), "--",
               "python", "-m", "jobs", "run", str(manifest), "--output", str(output), "--models", str(models_dir),
               "--run-date", "2026-11-26"]
    env = {**os.environ, "RAY_AUTH_MODE": "token"}  # local Ray clusters use token authentication
    for _ in range(20):  # the dashboard's job agent starts a while after ray.init on a busy machine
        submitted = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=300)
        if "No available agent to submit job" not in submitted.stdout + submitted.stderr:
            break
        time.sleep(3)
    assert submitted.returncode == 0, (submitted.stdout + submitted.stderr)[-3000:]
    assert "files: 3 ok, 1 failed, 0 skipped" in submitted.stdout
    assert Store(str(output), "2026-11-26").dataset("status").count_rows() == 4
