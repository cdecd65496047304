"""Inputs that must end as typed error rows of a real job (local Ray, moto S3): WAVs cut short with
``head -c`` are ``decode_error`` rows, never ``ok`` with half the duration; an unreachable store is a
``read_error`` row (tried 3 times); S3 without credentials is a ``no_credentials`` row."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from jobs.driver import run_job
from jobs.manifest import write_manifest
from jobs.plan import JobOptions
from jobs.store import Store

RUN_DATE = "2026-11-26"


def head_c(source: Path, size: int, target: Path) -> Path:
    with open(target, "wb") as out:
        subprocess.run(["head", "-c", str(size), str(source)], stdout=out, check=True)
    return target


def refused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def status_rows(output: Path) -> dict[str, dict[str, Any]]:
    return {r["file_id"]: r for r in Store(str(output), RUN_DATE).dataset("status").to_table().to_pylist()}


def test_truncated_and_unreachable_inputs_are_error_rows(ray_cluster: dict, models_dir: Path, dev_dir: Path,
                                                         tmp_path: Path) -> None:
    full = dev_dir / "pyannote_sample" / "sample.wav"  # 30 s, 16 kHz mono PCM16; samples from byte 104
    half = head_c(full, 500_000, tmp_path / "half.wav")
    tiny = head_c(full, 1000, tmp_path / "tiny.wav")
    unreachable = f"http://127.0.0.1:{refused_port()}/x.wav"
    rows = [{"id": "whole", "path": str(full)}, {"id": "half", "path": str(half)},
            {"id": "tiny", "path": str(tiny)}, {"id": "unreachable", "path": unreachable}]
    manifest = write_manifest(rows, str(tmp_path / "calls.csv"))
    report = run_job(JobOptions(manifest, str(tmp_path / "out"), run_date=RUN_DATE, models=str(models_dir),
                                progress=False))
    assert report["files"] == {"rows": 4, "ok": 1, "failed": 3, "skipped": 0}, report
    status = status_rows(tmp_path / "out")
    assert (status["whole"]["status"], status["whole"]["duration"]) == ("ok", 30.0)
    for file_id, present in (("half", (500_000 - 104) // 2), ("tiny", (1000 - 104) // 2)):
        row = status[file_id]
        assert (row["status"], row["error_type"], row["duration"]) == ("error", "decode_error", None), row
        assert row["error_message"] == f"{row['path']}: truncated: header says 480000 samples, file has {present}"
    row = status["unreachable"]
    assert (row["status"], row["error_type"]) == ("error", "read_error"), row
    assert row["error_message"].startswith(f"{unreachable}: storage unreachable")
    assert row["error_message"].endswith("gave up after 3 tries")


def test_s3_without_credentials_is_its_own_error_row(ray_cluster: dict, models_dir: Path, dev_dir: Path,
                                                      s3_bucket: str, s3_options: dict[str, Any],
                                                      tmp_path: Path) -> None:
    import botocore.session
    import s3fs

    if botocore.session.get_session().get_credentials() is not None:
        pytest.skip("this machine has AWS credentials of its own: the workers would use them")
    s3fs.S3FileSystem(**s3_options).put_file(str(dev_dir / "pyannote_sample" / "sample.wav"), f"{s3_bucket}/a.wav")
    manifest = write_manifest([{"id": "a", "path": f"{s3_bucket}/a.wav"}], str(tmp_path / "calls.csv"))
    no_keys = {"client_kwargs": s3_options["client_kwargs"]}  # the store's address, but no credentials
    report = run_job(JobOptions(manifest, str(tmp_path / "out"), run_date=RUN_DATE, models=str(models_dir),
                                storage_options=no_keys, progress=False))
    assert report["files"] == {"rows": 1, "ok": 0, "failed": 1, "skipped": 0}, report
    row = status_rows(tmp_path / "out")["a"]
    assert (row["status"], row["error_type"]) == ("error", "no_credentials"), row
    assert row["error_message"].startswith(f"{s3_bucket}/a.wav: no credentials found for this store")
    assert "gave up" not in row["error_message"]  # not retried: no retry can find credentials
