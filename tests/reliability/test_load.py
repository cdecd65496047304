"""Load: a 2 000-file manifest through ``python -m jobs run`` (as ``diarize run``, with its own local
Ray of 2 CPUs, so that its thousands of tasks do not weigh on the session's cluster) and the real models,
then a short soak of reruns of the finished job.

The files are 1-3 s long, written under tmp_path: every 20th is real speech cut from the dev set, the
others are generated low-level noise (a quiet line), which the segmentation model must still look at but
which needs no embeddings, so that 2 000 files fit in a CI budget on two cores. Checked: exactly one
status row per file and nothing duplicated (see ``benchmarks.jobcheck.assert_exactly_once``), speech found only in
the speech files, and the driver process's resident memory: it must not grow with the number of files
once the first shard is committed. The soak reruns the finished job (in this process, on the session's
cluster): no model work, no actor started, and flat wall time and memory from rerun to rerun.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from benchmarks.jobcheck import assert_exactly_once, outputs
from jobs.driver import run_job
from jobs.manifest import write_manifest
from jobs.plan import JobOptions

FILES, SPEECH_EVERY = 2000, 20
RUN_DATE = "2026-12-02"
REPO = Path(__file__).resolve().parents[2]
SOURCES = ("pyannote_sample/sample.wav", "libri_conversations/dev_2spk_00.wav", "ami_debug_train/trn00.wav",
           "libri_conversations/dev_3spk_08.wav", "espeak_conversation/espeak_conv01.wav")
pytestmark = pytest.mark.slow


def rss_mib(pid: int | str = "self") -> float:
    """Resident memory of a process now, in MiB (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * 4096 / 2**20
    except (OSError, IndexError):
        return 0.0


class MemoryWatch:
    """Samples a driver process's RSS every 50 ms; notes it when the first shard commits."""

    def __init__(self, pid: int, status_dir: Path) -> None:
        self.pid = pid
        self.status_dir = status_dir
        self.at_first_commit: float | None = None
        self.peak_after_first_commit = 0.0
        self.peak = 0.0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            rss = rss_mib(self.pid)
            if not rss:
                continue
            self.samples += 1
            self.peak = max(self.peak, rss)
            if self.at_first_commit is None and any(self.status_dir.glob("*/part-*.parquet")):
                self.at_first_commit = rss
            if self.at_first_commit is not None:
                self.peak_after_first_commit = max(self.peak_after_first_commit, rss)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory, dev_dir: Path) -> tuple[str, set[str]]:
    """(manifest path, ids of the speech files) for FILES short files written under a tmp folder."""
    folder = tmp_path_factory.mktemp("load")
    rng = np.random.default_rng(2000)
    sources = [sf.read(dev_dir / s, dtype="float32", always_2d=True) for s in SOURCES]
    rows, speech = [], set()
    for n in range(FILES):
        seconds = 1.0 + 2.0 * rng.random()
        file_id = f"load-{n:05d}"
        if n % SPEECH_EVERY == 0:
            data, rate = sources[(n // SPEECH_EVERY) % len(sources)]
            start = int(rng.random() * (len(data) - 4 * rate))
            piece = soxr.resample(data[start:start + int(seconds * rate)].mean(axis=1), rate, 8000)
            speech.add(file_id)
        else:
            piece = 3e-4 * rng.standard_normal(int(seconds * 8000))
        path = folder / "audio" / f"{n // 500:02d}" / f"{file_id}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, piece.astype(np.float32), 8000, subtype="PCM_16")
        rows.append({"id": file_id, "path": str(path)})
    return write_manifest(rows, str(folder / "calls.csv")), speech


def test_two_thousand_files_then_reruns(ray_cluster: dict, models_dir: Path, manifest: tuple[str, set[str]],
                                        tmp_path: Path) -> None:
    """The job runs as ``diarize run`` would (``python -m jobs run`` with its own local Ray, so that its
    thousands of tasks do not weigh on the session's cluster); its process's memory is watched."""
    path, speech = manifest
    output = tmp_path / "out"
    report_path = tmp_path / "report.json"
    command = [sys.executable, "-m", "jobs", "run", path, "--output", str(output), "--run-date", RUN_DATE,
               "--models", str(models_dir), "--num-cpus", "2", "--shard-size", "250", "--batch-files", "32",
               "--segmentation-actors", "2", "--embedding-actors", "1", "--no-progress",
               "--report-json", str(report_path)]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    log = tmp_path / "driver.log"
    with log.open("w") as handle:
        driver = subprocess.Popen(command, cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT)
        watch = MemoryWatch(driver.pid, output / "status")
        started = time.monotonic()
        try:
            code = driver.wait(timeout=1800)
        finally:
            watch.stop()
            if driver.poll() is None:
                driver.kill()
    wall = time.monotonic() - started
    assert code == 0, log.read_text()[-3000:]
    report = json.loads(report_path.read_text())
    growth = watch.peak_after_first_commit - (watch.at_first_commit or 0.0)
    print(f"\n{FILES} files in {wall:.1f} s; driver RSS {watch.at_first_commit:.0f} MiB at the first commit, "
          f"peak {watch.peak:.0f} MiB (+{growth:.1f} MiB after the first commit), {watch.samples} samples")

    assert report["files"] == {"rows": FILES, "ok": FILES, "failed": 0, "skipped": 0}
    assert report["stages"]["segmentation"]["files"] == FILES
    ids = [f"load-{n:05d}" for n in range(FILES)]
    found = assert_exactly_once(str(output), None, ids)
    assert len(found.status) == FILES and len(found.parts["status"]) == FILES // 250
    results = outputs(str(output))
    assert {i for i, r in results.items() if r["segments"]} <= speech  # no speech found in the noise
    assert len([i for i in speech if results.get(i, {}).get("segments")]) >= 0.8 * len(speech)
    assert watch.at_first_commit is not None and watch.samples > 10
    assert growth < 150, f"driver memory grew by {growth:.0f} MiB while committing {FILES} files"

    # the soak: reruns of the finished job, in this process on the session's cluster
    options = JobOptions(path, str(output), run_date=RUN_DATE, models=str(models_dir), progress=False)
    walls, memory = [], []
    for _ in range(4):  # the first rerun warms this process up (imports, the models for the fingerprint)
        started = time.monotonic()
        again = run_job(options)
        walls.append(time.monotonic() - started)
        memory.append(rss_mib())
        assert again["files"] == {"rows": FILES, "ok": 0, "failed": 0, "skipped": FILES}
        assert again["actors"]["started"] == 0
        assert all(stage["files"] == 0 for stage in again["stages"].values())
    print(f"reruns: {[round(w, 2) for w in walls]} s, driver RSS {[round(m) for m in memory]} MiB")
    assert max(walls[1:]) < 3 * min(walls[1:]) + 2.0, walls
    assert memory[-1] - memory[1] < 40, memory
    assert_exactly_once(str(output), None, ids)
