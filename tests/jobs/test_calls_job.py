"""Stereo and mono telephone calls through a real job (local Ray, local disk and the moto S3 server): stereo
calls are split by channel (``auto``), mono ones mixed, a manifest column overrides the mode, and the
tables carry each speaker's channel; a mono call's key presses are nobody, also when the call comes as a 16 kHz
file (told as telephone audio by its band, and said so in the status table)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import soundfile as sf
import soxr

from jobs.driver import run_job
from jobs.manifest import write_manifest
from jobs.plan import JobOptions
from jobs.store import Store

from .test_job import baseline

RUN_DATE = "2026-12-02"


def test_stereo_and_mono_calls_job(ray_cluster: dict, models_dir: Path, pipeline: Any, shared_dir: Path,
                                   s3_bucket: str, s3_options: dict[str, Any], tmp_path: Path) -> None:
    import s3fs

    calls = shared_dir / "data" / "dev-calls"
    remote = f"{s3_bucket}/calls/devcall_12.wav"
    samples, rate = sf.read(calls / "mono" / "devcall_06.wav")
    sf.write(tmp_path / "devcall_06_16k.wav", soxr.resample(samples, rate, 16000), 16000, subtype="PCM_16")
    s3fs.S3FileSystem(**s3_options).put_file(str(calls / "stereo" / "devcall_12.wav"), remote)
    rows = [
        {"id": "stereo-local", "path": str(calls / "stereo" / "devcall_02.wav")},
        {"id": "stereo-s3", "path": remote},
        {"id": "mono-local", "path": str(calls / "mono" / "devcall_02.wav")},
        {"id": "mono-tones", "path": str(calls / "mono" / "devcall_06.wav")},  # seven key presses
        {"id": "mono-tones-16k", "path": str(tmp_path / "devcall_06_16k.wav")},  # the same call at 16 kHz
        {"id": "stereo-mixed", "path": str(calls / "stereo" / "devcall_02.wav"), "channels": "mix"},
        {"id": "bad-mode", "path": str(calls / "stereo" / "devcall_02.wav"), "channels": "both"},
    ]
    write_manifest(rows, str(tmp_path / "calls.csv"))
    report = run_job(JobOptions(str(tmp_path / "calls.csv"), str(tmp_path / "out"), run_date=RUN_DATE,
                                models=str(models_dir), storage_options=s3_options, progress=False))
    assert report["files"]["ok"] == 6, report
    store = Store(str(tmp_path / "out"), RUN_DATE)
    status = {row["file_id"]: row for row in store.dataset("status").to_table().to_pylist()}
    assert {k: v["channel_mode"] for k, v in status.items()} == {
        "stereo-local": "split", "stereo-s3": "split", "mono-local": "mix", "mono-tones": "mix",
        "mono-tones-16k": "mix", "stereo-mixed": "mix", "bad-mode": None}
    assert {k: v["telephone"] for k, v in status.items()} == {**dict.fromkeys(status, True), "bad-mode": None}
    assert status["mono-tones-16k"]["source_sample_rate"] == 16000
    assert status["bad-mode"]["status"] == "error" and "channel mode" in status["bad-mode"]["error_message"]
    segments = store.dataset("segments").to_table().to_pylist()
    by_file: dict[str, list[dict]] = {}
    for row in segments:
        by_file.setdefault(row["file_id"], []).append(row)
    for file_id in ("stereo-local", "stereo-s3"):
        assert {row["channel"] for row in by_file[file_id]} == {0, 1}
        assert all(row["speaker"].startswith(f"CH{row['channel']}_") for row in by_file[file_id])
    assert {row["channel"] for row in by_file["mono-local"] + by_file["stereo-mixed"]} == {None}
    assert status["stereo-s3"]["num_speakers"] == 3  # agent, supervisor (agent's line), customer
    expected = baseline(pipeline, str(calls / "stereo" / "devcall_02.wav"))
    assert sorted((r["speaker"], r["start"], r["end"]) for r in by_file["stereo-local"]) == sorted(
        (speaker, turn.start, turn.end) for turn, speaker in expected.speaker_diarization)
    # a mono call's key presses are nobody in the job as in the engine (tones found in the decode task)
    expected = baseline(pipeline, str(calls / "mono" / "devcall_06.wav"))
    assert sorted((r["speaker"], r["start"], r["end"]) for r in by_file["mono-tones"]) == sorted(
        (speaker, turn.start, turn.end) for turn, speaker in expected.speaker_diarization)
    info = json.loads((calls / "calls.json").read_text())["devcall_06"]
    for file_id in ("mono-tones", "mono-tones-16k"):
        in_tones = sum(max(0.0, min(end, r["end"]) - max(start, r["start"]))
                       for start, end in info["dtmf"] for r in by_file[file_id])
        assert in_tones < 0.05, (file_id, in_tones)
    exclusive = sorted((r["start"], r["end"]) for r in store.dataset("exclusive").to_table().to_pylist()
                       if r["file_id"] == "stereo-s3")
    assert all(a[1] <= b[0] + 1e-6 for a, b in zip(exclusive, exclusive[1:]))  # one speaker at a time
