"""A representative slice of the malformed-input corpus (every category) through ONE real job on the
session's local Ray cluster: local files and objects on a moto S3 server side by side, keys deleted before
the run, file ids that look like paths, and storage options holding recognisable credentials.

Asserted: exactly one status row per manifest row, each with the outcome the engine gives the same input
(and one the corpus allows); no file outside the output; the credentials appear in no output file, run
report, Parquet metadata, printed report, captured stdout/stderr or log record, nor in the Ray logs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
import os
import re
import shutil
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from jobs.driver import run_job
from jobs.manifest import write_manifest
from jobs.plan import JobOptions
from jobs.report import format_run
from jobs.store import Store

from .checks import outcome_of
from .corpus import DECODE, NOT_FOUND, OK, Case

RUN_DATE = "2026-11-27"
SECRET_KEY = "AKIARELIABILITY7Q2XW"
SECRET = "rel+Secret/Zq8w3e9Tb"
PER_CATEGORY = {"truncated": 14, "not_audio": 8, "paths": 8, "wrong_extension": 4}
TRAVERSAL_IDS = ("../../../escape", "a/b/../../../../c", "/absolute/id", "..", "run_date=1999-01-01/../x")
TABLE_FILE = re.compile(r"(status|segments|exclusive|embeddings)/run_date=2026-11-27/part-[A-Za-z0-9._-]+\.parquet"
                        r"|_runs/run_date=2026-11-27/[A-Za-z0-9._-]+\.json")


def representative(corpus: list[Case]) -> list[Case]:
    """Evenly spread cases of every category (all of the small ones), that a job with one 1-hour
    duration limit can run."""
    chosen: list[Case] = []
    for category in sorted({case.category for case in corpus}):
        cases = [c for c in corpus if c.category == category and c.max_duration in (None, 3600.0)]
        count = min(len(cases), PER_CATEGORY.get(category, 5))
        chosen += [cases[round(i * (len(cases) - 1) / max(count - 1, 1))] for i in range(count)]
    return list({case.name: case for case in chosen}.values())


def job_expectation(case: Case) -> str:
    """What the job must give: the engine's outcome for the same file read as the job's workers read it
    (as this user: when that is root, permissions do not bite and the locked files decode)."""
    outcome, value = outcome_of(dataclasses.replace(case, locked=False))
    allowed = case.expect | ({OK} if case.locked and os.geteuid() == 0 else set())
    assert outcome in allowed, (case.name, outcome, value)
    return outcome


@pytest.fixture(scope="module")
def corpus_job(ray_cluster: dict, models_dir: Path, corpus: list[Case], s3_options: dict[str, Any],
               tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import boto3
    import fsspec

    s3_bucket = "s3://reliability-corpus-job"
    boto3.client("s3", aws_access_key_id=s3_options["key"], aws_secret_access_key=s3_options["secret"],
                 **s3_options["client_kwargs"]).create_bucket(Bucket=s3_bucket.removeprefix("s3://"))

    root = tmp_path_factory.mktemp("corpus-job")
    options = {**s3_options, "key": SECRET_KEY, "secret": SECRET}
    fs = fsspec.filesystem("s3", **options)
    rows: list[dict[str, Any]] = []
    expected: dict[str, str] = {}
    cases = representative(corpus)
    for case in cases:
        rows.append({"id": case.name, "path": case.path, "channel": case.channel})
        expected[case.name] = job_expectation(case)
    uploads = [c for c in cases if c.category not in ("missing", "permissions") and os.path.isfile(c.path)
               and os.path.getsize(c.path) < 2**21][::2]  # not the 230 MB four-hour file
    for n, case in enumerate(uploads):
        key = f"{s3_bucket}/inputs/{case.category}/{n:02d} {Path(case.path).name.replace(chr(10), ' ')}"
        fs.put_file(case.path, key)
        rows.append({"id": f"s3:{case.name}", "path": key, "channel": case.channel})
        expected[f"s3:{case.name}"] = expected[case.name]
    fs.pipe(f"{s3_bucket}/inputs/deleted.wav", Path(uploads[0].path).read_bytes())
    fs.rm(f"{s3_bucket}/inputs/deleted.wav")
    fs.pipe(f"{s3_bucket}/inputs/empty.wav", b"")
    for file_id, path, outcome in (("s3:deleted", f"{s3_bucket}/inputs/deleted.wav", NOT_FOUND),
                                   ("s3:never", f"{s3_bucket}/inputs/never-there.wav", NOT_FOUND),
                                   ("s3:empty", f"{s3_bucket}/inputs/empty.wav", DECODE),
                                   ("s3:no-bucket", "s3://no-such-bucket-rel/x.wav", NOT_FOUND)):
        rows.append({"id": file_id, "path": path})
        expected[file_id] = outcome
    good = next(c for c in corpus if c.name == "channels-2")
    for file_id in TRAVERSAL_IDS:
        rows.append({"id": file_id, "path": good.path})
        expected[file_id] = OK
    manifest = write_manifest(rows, str(root / "manifest.jsonl"))
    output = root / "out"
    job = JobOptions(manifest, str(output), run_date=RUN_DATE, run_id="reliability-corpus", models=str(models_dir),
                     storage_options=options, max_duration=3600.0, shard_size=16, progress=False)
    with captured_output(root / "captured") as captured:
        report = run_job(job)
        print(format_run(report))
    status = Store(str(output), RUN_DATE).dataset("status").to_table().to_pylist()
    return {"root": root, "output": output, "rows": rows, "expected": expected, "report": report,
            "status": status, "captured": captured, "bucket": s3_bucket, "options": options}


@contextlib.contextmanager
def captured_output(folder: Path) -> Iterator[dict[str, bytes]]:
    """Everything written to this process's stdout/stderr (at the file-descriptor level, so native code
    and subprocesses count too) and every log record at INFO or above (what ``diarize run -v`` shows)."""
    folder.mkdir()
    found: dict[str, bytes] = {}
    records = io.StringIO()
    handler = logging.StreamHandler(records)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s %(args)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    files = {fd: open(folder / f"fd{fd}", "wb") for fd in (1, 2)}  # noqa: SIM115
    python_out, python_err = io.StringIO(), io.StringIO()  # sys.stdout/err (pytest points them elsewhere)
    try:
        for fd, handle in files.items():
            os.dup2(handle.fileno(), fd)
        with contextlib.redirect_stdout(python_out), contextlib.redirect_stderr(python_err):
            yield found
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
            files[fd].close()
        root.removeHandler(handler)
        root.setLevel(level)
        found["stdout"] = (folder / "fd1").read_bytes() + python_out.getvalue().encode()
        found["stderr"] = (folder / "fd2").read_bytes() + python_err.getvalue().encode()
        found["log records"] = records.getvalue().encode()
        shutil.rmtree(folder)


def test_one_status_row_per_input_with_the_engines_outcome(corpus_job: dict[str, Any]) -> None:
    status, expected = corpus_job["status"], corpus_job["expected"]
    assert len(corpus_job["rows"]) >= 60
    counts = Counter(row["file_id"] for row in status)
    assert len(status) == len(corpus_job["rows"]) and set(counts) == set(expected) and max(counts.values()) == 1
    wrong = [f"{row['file_id']}: {row['status']}/{row['error_type']} ({row['error_message']}), expected "
             f"{expected[row['file_id']]}" for row in status
             if (row["status"] if row["status"] == OK else row["error_type"]) != expected[row["file_id"]]]
    assert not wrong, "\n".join(wrong)
    outcomes = Counter(expected.values())
    assert outcomes[OK] >= 20 and outcomes[DECODE] >= 10 and outcomes[NOT_FOUND] >= 5, outcomes
    assert {row["error_type"] for row in status} >= {None, "decode_error", "invalid_audio", "not_found", "too_long"}
    report = corpus_job["report"]
    assert report["files"]["rows"] == len(status) and report["shards"]["failed"] == []
    assert report["actors"]["crashed_files"] == 0 and "worker_crashed" not in report["errors"]
    for row in status:
        assert row["run_id"] == "reliability-corpus"
        if row["status"] == OK:
            assert row["duration"] >= 0 and row["num_segments"] is not None
        else:
            assert row["error_message"]


def test_the_four_hour_file_is_too_long_in_the_job(corpus_job: dict[str, Any]) -> None:
    [row] = [r for r in corpus_job["status"] if r["file_id"] == "duration-sparse-4h-limit-1h"]
    assert row["error_type"] == "too_long" and "4.00 h" in row["error_message"]


def test_nothing_is_written_outside_the_output(corpus_job: dict[str, Any]) -> None:
    root, output = corpus_job["root"], corpus_job["output"]
    outside = [p for p in root.rglob("*") if p.is_file() and output not in p.parents and p.name != "manifest.jsonl"]
    assert not outside
    inside = sorted(p.relative_to(output).as_posix() for p in output.rglob("*") if p.is_file())
    assert inside and all(TABLE_FILE.fullmatch(p) for p in inside), inside
    ids = {row["file_id"] for row in corpus_job["status"]}
    assert set(TRAVERSAL_IDS) <= ids  # the path-like ids are plain values in the tables
    import fsspec

    fs = fsspec.filesystem("s3", **corpus_job["options"])
    assert all(p.split("/", 2)[1] == "inputs" for p in fs.find(corpus_job["bucket"]))


def test_credentials_appear_nowhere(corpus_job: dict[str, Any]) -> None:
    import ray

    secrets = [SECRET_KEY.encode(), SECRET.encode(), json.dumps(SECRET).encode()]
    places: dict[str, bytes] = {}
    for path in corpus_job["output"].rglob("*"):
        if path.is_file():
            places[str(path)] = path.read_bytes()
            if path.suffix == ".parquet":
                metadata = pq.read_metadata(path).metadata or {}
                places[f"{path} (metadata)"] = b"".join(k + v for k, v in metadata.items())
    assert any("_runs" in name for name in places)
    places["report"] = json.dumps(corpus_job["report"], default=str).encode()
    places.update(corpus_job["captured"])
    assert b"files:" in places["stdout"]  # the printed run report
    logs = Path(ray._private.worker._global_node.get_logs_dir_path())
    for path in logs.rglob("*"):
        if path.is_file() and path.stat().st_size < 64 * 2**20:
            places[f"ray log {path.name}"] = path.read_bytes()
    assert len(places) > 10
    leaks = [name for name, content in places.items() if any(secret in content for secret in secrets)]
    assert not leaks, leaks


def test_input_root_in_a_job(ray_cluster: dict, models_dir: Path, corpus: list[Case], tmp_path: Path) -> None:
    """With ``input_root``, rows that leave it become ``outside_input_root`` error rows (one each) and
    nothing outside it is read; the rows inside run as usual."""
    root = tmp_path / "calls"
    root.mkdir()
    good = next(c for c in corpus if c.name == "channels-2")
    shutil.copy(good.path, root / "inside.wav")
    private = tmp_path / "private"
    private.mkdir()
    shutil.copy(good.path, private / "secret.wav")
    (root / "link-out.wav").symlink_to(private / "secret.wav")
    rows = [{"id": "inside", "path": "inside.wav"}, {"id": "dotdot", "path": "../private/secret.wav"},
            {"id": "absolute", "path": str(private / "secret.wav")}, {"id": "symlink", "path": "link-out.wav"},
            {"id": "s3", "path": "s3://bucket/calls/x.wav"}]
    manifest = write_manifest(rows, str(root / "manifest.csv"))
    output = tmp_path / "out"
    report = run_job(JobOptions(manifest, str(output), run_date=RUN_DATE, run_id="input-root", models=str(models_dir),
                                input_root=str(root), progress=False))
    status = {r["file_id"]: r for r in Store(str(output), RUN_DATE).dataset("status").to_table().to_pylist()}
    assert {i: (r["status"], r["error_type"]) for i, r in status.items()} == {
        "inside": ("ok", None), **{i: ("error", "outside_input_root") for i in ("dotdot", "absolute", "symlink", "s3")}}
    assert report["stages"]["decode"]["files"] == 1  # the others were never opened
