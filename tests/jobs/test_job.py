"""End to end on real parts: a local Ray cluster, a moto S3 server, real dev audio and the real models.

One 50-row job mixes good files (local and on S3), broken files and bad manifest rows; it is rerun
(nothing to do) and checked against the engine run directly on each file. Another job has its model
actor killed while it runs.
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
import pyarrow.dataset as ds
import pytest
import ray

from jobs.driver import run_job
from jobs.manifest import write_manifest
from jobs.output import Output
from jobs.plan import JobOptions

from .conftest import EXCERPTS, write_broken, write_excerpt

RUN_DATE = "2026-11-26"


@dataclass
class Corpus:
    """Files on disk and in S3, a manifest's rows, and what each row must end as."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    expected: dict[str, Any] = field(default_factory=dict)  # file_id -> (local path, kwargs) or error type


@pytest.fixture(scope="session")
def pipeline(models_dir: Path) -> Any:
    from diarization.pipeline import Pipeline

    return Pipeline.from_pretrained(models_dir, device="cpu")


@pytest.fixture(scope="session")
def audio_dir(tmp_path_factory: pytest.TempPathFactory, dev_dir: Path) -> Path:
    """Short excerpts of the dev files as 8 kHz telephone WAV and 16 kHz FLAC, one stereo, one silent."""
    folder = tmp_path_factory.mktemp("audio")
    for n, (source, start) in enumerate(EXCERPTS):
        write_excerpt(dev_dir, source, start, 5.0, folder / f"call{n:02d}.wav", rate=8000)
        write_excerpt(dev_dir, source, start + 1.0, 3.0, folder / f"clip{n:02d}.flac", rate=16000)
    write_excerpt(dev_dir, EXCERPTS[0][0], 12.0, 4.0, folder / "stereo.wav", rate=8000, stereo=True)
    import soundfile as sf

    sf.write(folder / "silence.wav", np.zeros(16000, np.float32), 8000, subtype="PCM_16")
    write_broken(folder / "broken")
    return folder


_baselines: dict[tuple, Any] = {}


def baseline(pipeline: Any, path: str, **kwargs: Any) -> Any:
    """The engine run directly on one file (memoised)."""
    key = (path, tuple(sorted(kwargs.items())))
    if key not in _baselines:
        _baselines[key] = pipeline(path, **kwargs)
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
    return Output(output, RUN_DATE, options).dataset(name).to_table()


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
    second = run_job(options)  # nothing new: the model stages do nothing, failures are re-checked
    assert second["files"] == {"rows": 50, "ok": 0, "failed": 11, "skipped": 39}
    assert second["stages"]["segmentation"]["files"] == second["stages"]["embedding"]["files"] == 0
    assert second["actors"]["started"] == 0
    assert second["resume"]["retired_error_rows"] == 11
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
                         shard_size=6, batch_files=3, progress=False)
    reports: list[Any] = []
    job = threading.Thread(target=lambda: reports.append(run_job(options)))
    job.start()
    name = "diarize-kill-test-embedding-0"
    deadline = time.monotonic() + 120
    while True:
        try:
            actor = ray.get_actor(name)
            pid = ray.get(actor.info.remote(), timeout=60)["pid"]
            break
        except ValueError:  # not created yet
            assert time.monotonic() < deadline and job.is_alive()
            time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
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
