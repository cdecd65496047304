"""The README's commands, run as written: ``diarize run`` on a Ray started on the spot, ``diarize report``,
and ``ray job submit ... -- python -m jobs run`` against a fresh ``ray start --head`` cluster; what a new
user trips over (issue 15): no GPU in the cluster, an empty glob, Ray's chatter, a closed output pipe, no
Ray installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from jobs.manifest import write_manifest
from jobs.store import Store

from .ray_head import ray_head
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
    assert run.stderr == ""  # only our own lines (none here: no terminal, no progress bar); no Ray chatter

    report = subprocess.run([*diarize(), "report", "out/"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            check=False, timeout=120)
    assert report.returncode == 0, report.stderr[-3000:]
    assert "run_date=2026-11-26: 4 status rows, 3 ok, 1 failed" in report.stdout
    notes = audio_dir / "broken" / "notes.wav"
    [failed] = [line.split() for line in report.stdout.splitlines() if line.strip().startswith("failed ")]
    assert failed[1:3] == [str(notes), "decode_error"] and str(notes) in " ".join(failed[3:])  # id, type, message
    # `diarize report --json | head`: the reader goes away before the report is written
    piped = subprocess.Popen([*diarize(), "report", "out/", "--json"], cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert piped.stdout is not None and piped.stderr is not None
    piped.stdout.close()
    stderr = piped.stderr.read().decode()
    assert piped.wait(timeout=120) == 141 and stderr == ""
    as_json = subprocess.run([*diarize(), "report", "out/", "--json"], cwd=tmp_path, env=env, capture_output=True,
                             text=True, check=False, timeout=120)
    [summary] = json.loads(as_json.stdout)
    assert summary["ok"] == 3 and summary["errors"] == {"decode_error": 1} and summary["run"]["wall_seconds"] > 0
    [failed_file] = summary["failed_files"]
    assert failed_file["file_id"] == str(notes) and failed_file["error_type"] == "decode_error"

    html = subprocess.run([*diarize(), "report", "out/", "--html", "report.html"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, check=False, timeout=120)
    assert html.returncode == 0, html.stderr[-3000:]
    page = Page((tmp_path / "report.html").read_text(encoding="utf-8"))
    assert "Failed files (1)" in page.all_text and "decode_error" in page.all_text
    assert page.count("svg") == 2 + 3  # the two histograms, a timeline for each of the 3 diarized calls
    assert "calls.csv" in page.text  # the manifest that was read, as given


# The local cluster as docs/batch-jobs.md documents it: a token,
# `ray start --head`, then this command from the repository root; the models come from the user cache
# (`diarize models download`), which the job finds from its working directory.
JOB_SUBMIT = """ray job submit --address http://127.0.0.1:8265 --working-dir . \\
  --runtime-env-json '{"excludes": [".git", "tests", "benchmarks", "*.whl"]}' \\
  -- python -m jobs run /data/calls.csv --output /data/out"""


def test_the_submit_command_is_the_documented_one() -> None:
    documented = (Path(__file__).resolve().parents[2] / "docs" / "batch-jobs.md").read_text(encoding="utf-8")
    assert JOB_SUBMIT in documented  # the test below runs exactly what users are told to run


def test_ray_job_submit_on_a_fresh_head(tmp_path: Path, audio_dir: Path, models_dir: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    small_manifest(data, audio_dir)
    cache = tmp_path / "cache"
    (cache / "diarize").mkdir(parents=True)
    (cache / "diarize" / "models").symlink_to(models_dir)  # what `diarize models download` leaves there
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "DIARIZATION_MODELS")}
    env.update(RAY_AUTH_MODE="token", XDG_CACHE_HOME=str(cache))  # `export RAY_AUTH_MODE=token`
    token = subprocess.run(["ray", "get-auth-token", "--generate"], env=env, capture_output=True, text=True,
                           check=False, timeout=60)
    assert token.returncode == 0, token.stderr[-2000:]
    with ray_head(env, Path(tempfile.mkdtemp(prefix="rh-", dir="/tmp"))) as head:
        command = JOB_SUBMIT.replace(":8265", f":{head.dashboard_port}").replace("/data/", f"{data}/")
        for _ in range(20):  # the dashboard's job agent starts a while after `ray start` on a busy machine
            submitted = subprocess.run(["bash", "-c", command], cwd=REPO, env=env, capture_output=True, text=True,
                                       check=False, timeout=300)
            if "No available agent to submit job" not in submitted.stdout + submitted.stderr:
                break
            time.sleep(3)
    assert submitted.returncode == 0, (submitted.stdout + submitted.stderr)[-3000:]
    assert "files: 3 ok, 1 failed, 0 skipped" in submitted.stdout
    assert Store(str(data / "out"), "today").dataset("status").count_rows() == 4


def join(ray_cluster: dict[str, Any], argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``diarize run ARGV`` joining the session's Ray cluster (2 CPUs, no GPU)."""
    env = {**os.environ, "RAY_ADDRESS": ray_cluster["address"]}
    return subprocess.run([*diarize(), "run", *argv], cwd=cwd, env=env, capture_output=True, text=True,
                          check=False, timeout=300)


def test_cuda_on_a_cluster_without_gpus_fails_at_once(ray_cluster: dict[str, Any], tmp_path: Path,
                                                      audio_dir: Path) -> None:
    assert not ray_cluster["resources"].get("GPU")
    small_manifest(tmp_path, audio_dir)
    run = join(ray_cluster, ["calls.csv", "--output", "out/", "--device", "cuda"], tmp_path)
    assert run.returncode == 4, run.stderr[-3000:]
    [line] = run.stderr.strip().splitlines()
    assert line.endswith(" run: error: --device cuda: the Ray cluster has no GPU; use --device cpu, or on an "
                         "autoscaling cluster --wait-for-gpus SECONDS")
    assert not (tmp_path / "out").exists()  # nothing was started


def test_wait_for_gpus_asks_then_times_out(ray_cluster: dict[str, Any]) -> None:
    from jobs.cluster import NoGpuError, require_gpus

    said: list[str] = []
    require_gpus("cpu", None, say=said.append)  # nothing to check
    require_gpus(None, None, say=said.append)
    assert said == []
    with pytest.raises(NoGpuError, match="no GPU joined the Ray cluster within 1 s"):
        require_gpus("cuda", 1.0, say=said.append, poll_seconds=0.2)
    assert said == ["diarize run: the Ray cluster has no GPU yet; asked the autoscaler for one, waiting up to 1 s "
                    "(--wait-for-gpus)"]


def test_an_empty_glob_is_an_error_unless_allowed(ray_cluster: dict[str, Any], tmp_path: Path) -> None:
    glob = str(tmp_path / "nonexistent" / "*.wav")
    run = join(ray_cluster, [glob, "--output", "out/"], tmp_path)
    assert run.returncode == 3, run.stderr[-3000:]
    [line] = run.stderr.strip().splitlines()
    assert line.endswith(f" run: error: {glob}: the glob matches no audio file; nothing to do (--allow-empty "
                         "makes that a successful run)")
    assert not (tmp_path / "out").exists()
    allowed = join(ray_cluster, [glob, "--output", "out/", "--allow-empty"], tmp_path)
    assert allowed.returncode == 0, allowed.stderr[-3000:]
    assert "files: 0 ok, 0 failed, 0 skipped (of 0 manifest rows)" in allowed.stdout


def test_run_without_ray_says_which_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    from diarization.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed: importing it fails
    assert main(["run", str(tmp_path / "calls.csv"), "--output", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == 'diarize run: error: needs ray: pip install "diarize-batch[jobs]"\n'


@pytest.mark.parametrize("argv", [["--actors", "0"], ["--shard-size", "0"], ["--gpus-per-actor", "-1"],
                                  ["--device", "gpu"], ["--max-duration", "0"], ["--report-json", "/no/dir/r.json"]])
def test_bad_run_options_are_one_line_before_ray_starts(argv: list[str], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from diarization.cli import main

    with pytest.raises(SystemExit) as stopped:
        main(["run", str(tmp_path / "calls.csv"), "--output", str(tmp_path / "out"), *argv])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and err.count("\n") == 1 and argv[0] in err
    assert err.startswith("diarize run: error: ")


def test_a_cluster_that_cannot_be_joined_is_one_line(ray_cluster: dict[str, Any], tmp_path: Path) -> None:
    """The session's cluster uses token authentication: joining it by address without RAY_AUTH_MODE fails
    (Ray never sends the token to an explicit address by itself); the error says what to set."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_AUTH_MODE"}
    env["RAY_ADDRESS"] = ray_cluster["address"]
    run = subprocess.run([*diarize(), "run", str(tmp_path / "calls.csv"), "--output", "out/"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=False, timeout=300)
    assert run.returncode == 4 and "Traceback" not in run.stderr, run.stderr[-3000:]
    last = run.stderr.strip().splitlines()[-1]  # after Ray's C++ retry warnings
    assert f"run: error: cannot join the Ray cluster at {ray_cluster['address']}" in last
    assert last.endswith("set RAY_AUTH_MODE=token (token in ~/.ray/auth_token)")
