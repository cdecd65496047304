"""End to end on real parts: a local Ray cluster, a moto S3 server, real dev audio and the real models.

One 50-row job (the default, fused path on this CPU cluster) mixes good files (local and on S3), broken
files and bad manifest rows; it is rerun (nothing to do) and checked against the engine run directly on
each file. Other jobs (the staged path) have their model actors killed while they run; the fused path's
crash tests are in test_fused.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import ray

from jobs.driver import run_job
from jobs.manifest import write_manifest
from jobs.plan import JobOptions
from jobs.store import Store

from .conftest import write_excerpt

RUN_DATE = "2026-11-26"


@dataclass
class Corpus:
    """Files on disk and in S3, a manifest's rows, and what each row must end as."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    expected: dict[str, Any] = field(default_factory=dict)  # file_id -> (local path, kwargs) or error type


_baselines: dict[tuple, Any] = {}


def baseline(pipeline: Any, path: str, **kwargs: Any) -> Any:
    """The engine run directly on one file (memoised), on one thread like the job's actors: two torch
    threads on two busy cores can be a hundred times slower."""
    import torch

    key = (path, tuple(sorted(kwargs.items())))
    if key not in _baselines:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            _baselines[key] = pipeline(path, **kwargs)
        finally:
            torch.set_num_threads(threads)
    return _baselines[key]


def fifty_rows(audio_dir: Path, remote: str, s3_options: dict[str, Any]) -> Corpus:
    """50 manifest rows: 39 good (local and S3), 7 broken files, 4 bad rows."""
    import s3fs

    fs = s3fs.S3FileSystem(**s3_options)
    corpus = Corpus()

    def good(file_id: str, path: str, local: Path, **kwargs: Any) -> None:
        corpus.rows.append({"id": file_id, "path": path, **kwargs})
        corpus.expected[file_id] = (str(local), kwargs)

    locals_ = sorted(p for p in audio_dir.iterdir() if p.name.startswith(("call", "clip")))
    for n, local in enumerate(locals_):  # 12 local files
        good(f"local-{n:02d}", str(local), local)
    for n, local in enumerate(locals_):  # the same 12 in S3
        fs.put_file(str(local), f"{remote}/calls/{local.name}")
        good(f"s3-{n:02d}", f"{remote}/calls/{local.name}", local)
    for n, local in enumerate(locals_[:12]):  # 12 more rows with speaker hints
        good(f"hint-{n:02d}", str(local), local, num_speakers=2 if n % 2 else None,
             max_speakers=None if n % 2 else 3)
    good("stereo-left", str(audio_dir / "stereo.wav"), audio_dir / "stereo.wav", channel=0)
    good("stereo-mix", str(audio_dir / "stereo.wav"), audio_dir / "stereo.wav")
    good("silence", str(audio_dir / "silence.wav"), audio_dir / "silence.wav")
    broken = audio_dir / "broken"
    for name, error in (("empty.wav", "decode_error"), ("truncated.wav", "decode_error"),
                        ("notes.wav", "decode_error"), ("missing.wav", "not_found")):
        corpus.rows.append({"id": f"broken-{name}", "path": str(broken / name)})
        corpus.expected[f"broken-{name}"] = error
    fs.put_file(str(broken / "notes.wav"), f"{remote}/calls/notes.wav")
    fs.pipe(f"{remote}/calls/empty.wav", b"")
    for name, error in (("notes.wav", "decode_error"), ("empty.wav", "decode_error"), ("gone.wav", "not_found")):
        corpus.rows.append({"id": f"s3-broken-{name}", "path": f"{remote}/calls/{name}"})
        corpus.expected[f"s3-broken-{name}"] = error
    corpus.rows += [{"id": "no-path", "path": ""}, {"id": "bad-count", "path": str(locals_[0]), "num_speakers": "two"},
                    {"id": "local-00", "path": str(locals_[1])}, {"id": "bad-range", "path": str(locals_[0]),
                                                                   "min_speakers": 3, "max_speakers": 2}]
    corpus.expected.update({"no-path": "manifest_missing_path", "bad-count": "manifest_bad_value",
                            "bad-range": "manifest_bad_value"})
    assert len(corpus.rows) == 50
    return corpus


def table(output: str, name: str, options: dict[str, Any]) -> Any:
    return Store(output, RUN_DATE, options).dataset(name).to_table()


def engine_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The engine's ``records()`` with the segments table's column names."""
    return [{"file_id": r["file"], **{k: v for k, v in r.items() if k != "file"}} for r in records]


def job_rows(rows: list[dict[str, Any]], file_id: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k not in ("run_id", "run_date")} for r in rows if r["file_id"] == file_id]


def check_against_engine(pipeline: Any, corpus: Corpus, output: str, options: dict[str, Any]) -> None:
    """Every good row's segments, exclusive segments and embeddings equal the engine run directly."""
    segments = table(output, "segments", options).to_pylist()
    exclusive = table(output, "exclusive", options).to_pylist()
    embeddings = table(output, "embeddings", options).to_pylist()
    for file_id, expected in corpus.expected.items():
        if isinstance(expected, str):
            continue
        local, kwargs = expected
        result = baseline(pipeline, local, **kwargs)
        assert job_rows(segments, file_id) == engine_rows(result.records(file=file_id)), file_id
        assert job_rows(exclusive, file_id) == engine_rows(result.records(exclusive=True, file=file_id)), file_id
        vectors = {r["speaker"]: r["embedding"] for r in embeddings if r["file_id"] == file_id}
        reference = result.embeddings_by_speaker()
        assert vectors.keys() == reference.keys(), file_id
        for speaker, vector in reference.items():
            np.testing.assert_allclose(vectors[speaker], vector, rtol=1e-4, atol=1e-4)  # thread count, batching


def test_fifty_file_job_on_s3_then_rerun(ray_cluster: dict, models_dir: Path, pipeline: Any, audio_dir: Path,
                                         s3_bucket: str, s3_options: dict[str, Any]) -> None:
    corpus = fifty_rows(audio_dir, s3_bucket, s3_options)
    manifest = write_manifest(corpus.rows, f"{s3_bucket}/manifests/calls.csv", s3_options)
    output = f"{s3_bucket}/diarization"
    options = JobOptions(manifest, output, run_date=RUN_DATE, models=str(models_dir), storage_options=s3_options,
                         shard_size=12, batch_files=4, progress=False)
    first = run_job(options)

    status = table(output, "status", s3_options).to_pylist()
    assert len(status) == 50
    assert first["files"] == {"rows": 50, "ok": 39, "failed": 11, "skipped": 0}
    by_id = Counter(r["file_id"] for r in status)
    assert by_id["local-00"] == 2 and max(n for i, n in by_id.items() if i != "local-00") == 1
    for row in status:
        expected = corpus.expected.get(row["file_id"])
        if row["file_id"] == "local-00" and row["status"] == "error":
            assert row["error_type"] == "manifest_duplicate_id" and row["manifest_row"] == 49
        elif isinstance(expected, str):
            assert (row["status"], row["error_type"]) == ("error", expected), row
            assert row["error_message"]
        else:
            assert (row["status"], row["error_type"]) == ("ok", None), row
            assert row["duration"] > 0 and row["processing_time"] > 0
        assert row["fingerprint"] == pipeline.fingerprint and row["run_id"] == first["run_id"]
    check_against_engine(pipeline, corpus, output, s3_options)
    assert first["stages"]["segmentation"]["files"] == 39
    assert first["stages"]["embedding"]["files"] == 38  # the silent file needs no embeddings

    counts = {name: table(output, name, s3_options).num_rows for name in ("segments", "exclusive", "embeddings")}
    store = Store(output, RUN_DATE, s3_options)  # what a crash between a shard's tables leaves behind:
    committed = store.shard_path("segments", f"{first['run_id']}-000000")
    store.fs.copy(committed, store.shard_path("segments", "crashed-000000"))  # data without its status file
    store.fs.pipe(f"{store.table_dir('exclusive')}/.tmp-0-part-crashed-000000.parquet.partial", b"partial")
    second = run_job(options)  # nothing new: the model stages do nothing, failures are re-checked
    assert second["files"] == {"rows": 50, "ok": 0, "failed": 11, "skipped": 39}
    assert second["stages"]["segmentation"]["files"] == second["stages"]["embedding"]["files"] == 0
    assert second["plan"]["file_actors"] == 2  # the fused path: the file actors decode the 11 retried files
    assert second["actors"]["started"] == 2  # (on the staged path, decode tasks would fail them with no actor)
    assert second["resume"]["retired_error_rows"] == 11
    assert second["resume"]["cleanup"] == {"temporary": 1, "orphans": 1}
    status = table(output, "status", s3_options)
    assert status.num_rows == 50
    assert Counter(status["run_id"].to_pylist()) == {first["run_id"]: 39, second["run_id"]: 11}
    assert {name: table(output, name, s3_options).num_rows for name in counts} == counts


def test_killed_actor_still_gives_every_file_once(ray_cluster: dict, models_dir: Path, pipeline: Any,
                                                  audio_dir: Path, tmp_path: Path) -> None:
    files = sorted(p for p in audio_dir.iterdir() if p.name.startswith(("call", "clip")))
    rows = [{"id": f"f{n:02d}", "path": str(p)} for n, p in enumerate(files + files[:6])]
    manifest = write_manifest(rows, str(tmp_path / "calls.jsonl"))
    output = str(tmp_path / "out")
    options = JobOptions(manifest, output, run_date=RUN_DATE, run_id="kill-test", models=str(models_dir),
                         shard_size=6, batch_files=3, progress=False, pipeline="staged")
    reports: list[Any] = []
    job = threading.Thread(target=lambda: reports.append(run_job(options)))
    job.start()
    deadline = time.monotonic() + 180
    while not list(Path(output).glob("status/*/part-*.parquet")):  # mid-job: a first shard is committed
        assert time.monotonic() < deadline and job.is_alive()
        time.sleep(0.1)
    actor = ray.get_actor("diarize-kill-test-embedding-0")
    os.kill(ray.get(actor.info.remote(), timeout=60)["pid"], signal.SIGKILL)
    job.join(timeout=300)
    assert reports, "the job did not finish"
    report = reports[0]
    assert report["actors"]["restarts"] >= 1
    assert report["files"] == {"rows": 18, "ok": 18, "failed": 0, "skipped": 0}
    status = table(output, "status", {})
    assert sorted(status["file_id"].to_pylist()) == sorted(r["id"] for r in rows)
    assert set(status["status"].to_pylist()) == {"ok"}
    segments = table(output, "segments", {}).to_pylist()
    for row in rows:
        expected = engine_rows(baseline(pipeline, row["path"]).records(file=row["id"]))
        assert job_rows(segments, row["id"]) == expected
    leftovers = [p for p in Path(output).rglob("*") if p.is_file() and p.name.startswith(".")]
    assert not leftovers
    shutil.rmtree(output)


def test_file_that_keeps_killing_its_worker_is_marked_failed(ray_cluster: dict, models_dir: Path, dev_dir: Path,
                                                             audio_dir: Path, tmp_path: Path) -> None:
    """A 'poison' file: its embedding worker is killed whenever it works on it. After the retries the file
    is an error row; every other file is ok, once. A rerun (without the killer) retries just that file."""
    poison = write_excerpt(dev_dir, "libri_conversations/dev_2spk_01.wav", 0.0, 15.0, tmp_path / "poison.wav")
    files = sorted(p for p in audio_dir.iterdir() if p.name.startswith("call"))
    rows = [{"id": f"f{n}", "path": str(p)} for n, p in enumerate(files)]
    rows.insert(1, {"id": "poison", "path": str(poison)})
    manifest = write_manifest(rows, str(tmp_path / "calls.csv"))
    output = str(tmp_path / "out")
    options = JobOptions(manifest, output, run_date=RUN_DATE, run_id="poison-test", models=str(models_dir),
                         shard_size=4, batch_files=3, max_task_retries=1, progress=False, pipeline="staged")
    reports: list[Any] = []
    job = threading.Thread(target=lambda: reports.append(run_job(options)))
    job.start()
    kills = 0
    while job.is_alive():
        try:
            actor = ray.get_actor("diarize-poison-test-embedding-0")
            info = ray.get(actor.info.remote(), timeout=5)
        except (ValueError, ray.exceptions.RayError):  # not created yet, or restarting
            time.sleep(0.05)
            continue
        if "poison" in info["current"]:
            os.kill(info["pid"], signal.SIGKILL)
            kills += 1
        time.sleep(0.02)
    job.join()
    report = reports[0]
    assert kills == 4  # the batch and the file alone, each tried twice
    assert report["actors"]["crashed_files"] == 1 and report["actors"]["isolated_files"] >= 3
    status = {r["file_id"]: r for r in table(output, "status", {}).to_pylist()}
    assert len(status) == len(rows)
    assert (status["poison"]["status"], status["poison"]["error_type"]) == ("error", "worker_crashed")
    assert all(r["status"] == "ok" for i, r in status.items() if i != "poison")

    second = run_job(JobOptions(manifest, output, run_date=RUN_DATE, run_id="poison-rerun",
                                models=str(models_dir), progress=False))
    assert second["files"] == {"rows": len(rows), "ok": 1, "failed": 0, "skipped": len(rows) - 1}
    status = table(output, "status", {})
    assert status.num_rows == len(rows) and set(status["status"].to_pylist()) == {"ok"}


def test_mode_option_reaches_every_worker(ray_cluster: dict, models_dir: Path, audio_dir: Path,
                                          tmp_path: Path) -> None:
    """``mode="exact"`` on our default set: the workers build that pipeline (same fingerprint as the driver's)
    and the status rows say so; the segments equal the exact engine's on the same file."""
    from diarization.pipeline import Pipeline

    path = str(audio_dir / "call00.wav")
    write_manifest([{"path": path, "id": "exact-call"}], str(tmp_path / "m.csv"))
    report = run_job(JobOptions(str(tmp_path / "m.csv"), str(tmp_path / "out"), run_date=RUN_DATE,
                                models=str(models_dir), mode="exact", progress=False))
    assert report["files"]["ok"] == 1, report
    exact = Pipeline.from_pretrained(models_dir, device="cpu", mode="exact")
    output = Store(str(tmp_path / "out"), RUN_DATE)
    [status] = output.dataset("status").to_table().to_pylist()
    assert status["fingerprint"] == exact.fingerprint and '"mode": "exact"' in status["model_versions"]
    segments = output.dataset("segments").to_table().to_pylist()
    expected = baseline(exact, path)
    assert sorted((s["start"], s["end"]) for s in segments) == sorted(
        (turn.start, turn.end) for turn, _ in expected.speaker_diarization)
