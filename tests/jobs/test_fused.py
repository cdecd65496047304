"""The fused CPU path (one file actor per CPU doing a file's whole work) on real parts: a local Ray cluster, the
real models, dev-audio excerpts. Its rows equal the staged path's; a killed file actor is restarted and its
files retried; a file that keeps killing its actor ends as ``worker_crashed`` without taking others along.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import ray

from jobs.driver import run_job
from jobs.manifest import write_manifest
from jobs.plan import JobOptions

from .conftest import write_excerpt
from .test_job import RUN_DATE, baseline, engine_rows, job_rows, table

VOLATILE = ("run_id", "run_date", "finished_at", "processing_time")  # differ between any two runs


def rows_of(output: str, name: str) -> list[dict[str, Any]]:
    rows = [{k: v for k, v in r.items() if k not in VOLATILE} for r in table(output, name, {}).to_pylist()]
    return sorted(rows, key=lambda r: (r["file_id"], str(r.get("speaker")), r.get("start") or 0.0))


def busy_file_actors(run_id: str, count: int = 2) -> list[dict[str, Any]]:
    """``info()`` of the run's file actors that answer within a moment and are working on a file (asked all
    at once: one restarting actor must not hide the other)."""
    refs = []
    for i in range(count):
        try:
            refs.append(ray.get_actor(f"diarize-{run_id}-diarization-{i}").info.remote())
        except ValueError:  # not created yet
            pass
    ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0.5) if refs else ([], [])
    infos = []
    for ref in ready:
        try:
            infos.append(ray.get(ref))
        except ray.exceptions.RayError:  # restarting
            pass
    return [info for info in infos if info["current"]]


def test_fused_path_gives_the_staged_paths_rows(ray_cluster: dict, models_dir: Path, audio_dir: Path,
                                                tmp_path: Path) -> None:
    """Same files, both paths: identical status, segments and exclusive rows, embeddings equal to float
    rounding; the run reports say which path ran and count the same files per stage."""
    files = sorted(p for p in audio_dir.iterdir() if p.name.startswith(("call", "clip")))[:6]
    rows = [{"id": f"f{n}", "path": str(p)} for n, p in enumerate(files)]
    rows += [{"id": "hint", "path": str(files[0]), "num_speakers": 2},
             {"id": "bad-range", "path": str(files[1]), "min_speakers": 3, "max_speakers": 2},
             {"id": "left", "path": str(audio_dir / "stereo.wav"), "channel": 0},
             {"id": "silence", "path": str(audio_dir / "silence.wav")},
             {"id": "broken", "path": str(audio_dir / "broken" / "notes.wav")},
             {"id": "missing", "path": str(audio_dir / "broken" / "missing.wav")}]
    manifest = write_manifest(rows, str(tmp_path / "calls.csv"))
    reports = {}
    for pipeline in ("fused", "staged"):
        reports[pipeline] = run_job(JobOptions(manifest, str(tmp_path / pipeline), run_date=RUN_DATE,
                                               models=str(models_dir), shard_size=5, batch_files=3,
                                               pipeline=pipeline, progress=False))
    fused, staged = reports["fused"], reports["staged"]
    assert fused["plan"]["file_actors"] == 2 and staged["plan"]["file_actors"] == 0
    assert fused["actors"]["started"] == 2
    assert fused["files"] == staged["files"] == {"rows": 12, "ok": 9, "failed": 3, "skipped": 0}
    assert fused["errors"] == staged["errors"] == {"decode_error": 1, "manifest_bad_value": 1, "not_found": 1}
    for stage in ("decode", "segmentation", "embedding", "clustering", "commit"):
        assert fused["stages"][stage]["files"] == staged["stages"][stage]["files"], stage
        assert (fused["stages"][stage]["seconds"] > 0) == (staged["stages"][stage]["seconds"] > 0), stage
    assert (fused["stages"]["decode"]["files"], fused["stages"]["embedding"]["files"]) == (11, 8)  # silence: none

    out_fused, out_staged = str(tmp_path / "fused"), str(tmp_path / "staged")
    assert rows_of(out_fused, "status") == rows_of(out_staged, "status")
    assert rows_of(out_fused, "segments") == rows_of(out_staged, "segments")
    assert rows_of(out_fused, "exclusive") == rows_of(out_staged, "exclusive")
    vectors_fused, vectors_staged = rows_of(out_fused, "embeddings"), rows_of(out_staged, "embeddings")
    assert [(r["file_id"], r["speaker"]) for r in vectors_fused] == [(r["file_id"], r["speaker"])
                                                                     for r in vectors_staged]
    for a, b in zip(vectors_fused, vectors_staged):
        np.testing.assert_allclose(a["embedding"], b["embedding"], rtol=1e-5, atol=1e-6)
    status = {r["file_id"]: r for r in rows_of(out_fused, "status")}
    assert status["silence"]["status"] == "ok" and status["silence"]["num_speakers"] == 0


def test_killed_file_actor_still_gives_every_file_once(ray_cluster: dict, models_dir: Path, pipeline: Any,
                                                        audio_dir: Path, tmp_path: Path) -> None:
    """A file actor is killed (kill -9) inside a call: Ray restarts it and retries the call; every file ends
    ok exactly once, with the engine's rows."""
    files = sorted(p for p in audio_dir.iterdir() if p.name.startswith("call"))
    rows = [{"id": f"f{n:02d}", "path": str(p)} for n, p in enumerate(files + files)]
    manifest = write_manifest(rows, str(tmp_path / "calls.jsonl"))
    output = str(tmp_path / "out")
    options = JobOptions(manifest, output, run_date=RUN_DATE, run_id="fused-kill", models=str(models_dir),
                         shard_size=4, progress=False)
    reports: list[Any] = []
    job = threading.Thread(target=lambda: reports.append(run_job(options)))
    job.start()
    killed = None
    deadline = time.monotonic() + 240
    while job.is_alive() and killed is None and time.monotonic() < deadline:
        for info in busy_file_actors("fused-kill")[:1]:
            os.kill(info["pid"], signal.SIGKILL)
            killed = info["current"]
        time.sleep(0.01)
    job.join(timeout=300)
    assert killed, "the job ended before a file actor could be killed"
    report = reports[0]
    assert report["actors"]["restarts"] >= 1 and report["actors"]["crashed_files"] == 0
    assert report["files"] == {"rows": len(rows), "ok": len(rows), "failed": 0, "skipped": 0}
    status = table(output, "status", {})
    assert sorted(status["file_id"].to_pylist()) == sorted(r["id"] for r in rows)
    segments = table(output, "segments", {}).to_pylist()
    for row in rows:
        assert job_rows(segments, row["id"]) == engine_rows(baseline(pipeline, row["path"]).records(file=row["id"]))


@pytest.mark.parametrize("batch_files", [1, 3])
def test_file_that_keeps_killing_its_file_actor_is_marked_failed(ray_cluster: dict, models_dir: Path,
                                                                  dev_dir: Path, audio_dir: Path, tmp_path: Path,
                                                                  batch_files: int) -> None:
    """A 'poison' file kills whichever file actor works on it. Its batch is retried, then each of its files
    alone (no other call in flight): the poison file ends as ``worker_crashed``, every other file ok, once."""
    poison = write_excerpt(dev_dir, "libri_conversations/dev_2spk_01.wav", 0.0, 30.0, tmp_path / "poison.wav")
    files = sorted(p for p in audio_dir.iterdir() if p.name.startswith("call"))
    rows = [{"id": f"f{n}", "path": str(p)} for n, p in enumerate(files)]
    rows.insert(1, {"id": "poison", "path": str(poison)})
    manifest = write_manifest(rows, str(tmp_path / "calls.csv"))
    output, run_id = str(tmp_path / "out"), f"fused-poison-{batch_files}"
    options = JobOptions(manifest, output, run_date=RUN_DATE, run_id=run_id, models=str(models_dir),
                         shard_size=4, batch_files=batch_files, max_task_retries=1, progress=False)
    reports: list[Any] = []
    job = threading.Thread(target=lambda: reports.append(run_job(options)))
    job.start()
    kills = 0
    while job.is_alive():
        for info in busy_file_actors(run_id):
            if str(poison) in info["current"]:
                os.kill(info["pid"], signal.SIGKILL)
                kills += 1
        time.sleep(0.02)
    job.join()
    report = reports[0]
    # the batch and the file alone, each tried twice; a kill can use up both tries of a call (its retry sent
    # to the dead process before Ray saw it die: ActorUnavailableError), so at least one kill each
    assert 2 <= kills <= 4
    # the poison's batch is retried file by file; so is a batch queued behind it on the killed actor
    assert report["actors"]["crashed_files"] == 1
    assert report["actors"]["isolated_files"] in (batch_files, 2 * batch_files)
    status = {r["file_id"]: r for r in table(output, "status", {}).to_pylist()}
    assert len(status) == len(rows)
    assert (status["poison"]["status"], status["poison"]["error_type"]) == ("error", "worker_crashed")
    assert "crashed the diarization worker" in status["poison"]["error_message"]
    assert all(r["status"] == "ok" for i, r in status.items() if i != "poison")
