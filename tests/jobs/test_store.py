"""The committing writer on a real local folder and a real S3 API (moto): layout, crash clean-up,
done set, retiring error rows. No Ray, no models."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import numpy as np
import pyarrow.dataset as ds
import pytest

from jobs.keys import id_hash
from jobs.schema import table_of
from jobs.store import Store


def status(file_id: str, state: str = "ok", fingerprint: str = "fp1", run_id: str = "r1") -> dict[str, Any]:
    return {"file_id": file_id, "path": f"/a/{file_id}.wav", "status": state,
            "error_type": None if state == "ok" else "decode_error", "error_message": None, "duration": 3.0,
            "fingerprint": fingerprint, "run_id": run_id, "finished_at": datetime.now(timezone.utc)}


def shard_tables(ids: list[str], errors: tuple[str, ...] = (), fingerprint: str = "fp1") -> dict:
    ok = [i for i in ids if i not in errors]
    segments = [{"file_id": i, "speaker": "SPEAKER_00", "start": 0.5, "end": 2.0, "duration": 1.5,
                 "run_id": "r1"} for i in ok]
    return {"status": table_of("status", [status(i, "error" if i in errors else "ok", fingerprint) for i in ids]),
            "segments": table_of("segments", segments), "exclusive": table_of("exclusive", segments),
            "embeddings": table_of("embeddings", [{"file_id": i, "speaker": "SPEAKER_00",
                                                   "embedding": np.ones(4, np.float32), "run_id": "r1"}
                                                  for i in ok])}


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Any) -> tuple[str, dict]:
    if request.param == "local":
        return str(tmp_path / "out"), {}
    bucket = request.getfixturevalue("s3_bucket")
    return f"{bucket}/out", request.getfixturevalue("s3_options")


def test_commit_layout_is_a_clean_hive_dataset(store: tuple[str, dict]) -> None:
    url, options = store
    output = Store(url, "2026-11-26", options)
    output.commit_shard("r1-000000", shard_tables(["a", "b", "c"], errors=("c",)))
    output.commit_shard("r1-000001", shard_tables(["d"], errors=("d",)))  # errors only: no data files
    files = sorted(p.split("/out/", 1)[1] for p in output.fs.find(output.root))
    assert files == ["embeddings/run_date=2026-11-26/part-r1-000000.parquet",
                     "exclusive/run_date=2026-11-26/part-r1-000000.parquet",
                     "segments/run_date=2026-11-26/part-r1-000000.parquet",
                     "status/run_date=2026-11-26/part-r1-000000.parquet",
                     "status/run_date=2026-11-26/part-r1-000001.parquet"]
    table = ds.dataset(f"{output.root}/status", filesystem=output.fs, partitioning="hive").to_table()
    assert sorted(table["file_id"].to_pylist()) == ["a", "b", "c", "d"]
    assert set(table["run_date"].to_pylist()) == {"2026-11-26"}


def test_crash_leftovers_are_removed_and_commits_kept(store: tuple[str, dict]) -> None:
    url, options = store
    output = Store(url, "2026-11-26", options)
    output.commit_shard("r1-000000", shard_tables(["a", "b"]))
    crashed = shard_tables(["c"])  # a shard whose writer died after its data files, before its status
    for name in ("segments", "exclusive"):
        output._put(output.shard_path(name, "r1-000001"), crashed[name], name)
    with output.fs.open(f"{output.table_dir('embeddings')}/.tmp-123-part-r1-000001.parquet.partial", "wb") as f:
        f.write(b"half a file")
    assert output.clean_partition() == {"temporary": 1, "orphans": 2}
    assert output.clean_partition() == {"temporary": 0, "orphans": 0}
    segments = ds.dataset(f"{output.root}/segments", filesystem=output.fs, partitioning="hive").to_table()
    assert sorted(segments["file_id"].to_pylist()) == ["a", "b"]


def test_done_set_and_retiring_errors(store: tuple[str, dict]) -> None:
    url, options = store
    yesterday = Store(url, "2026-11-25", options)
    yesterday.commit_shard("r0-000000", shard_tables(["old-ok", "old-error"], errors=("old-error",)))
    yesterday.commit_shard("r0-000001", shard_tables(["other-models"], fingerprint="fp0"))
    today = Store(url, "2026-11-26", options)
    today.commit_shard("r1-000000", shard_tables(["a", "b", "c"], errors=("b",)))
    today.commit_shard("r1-000001", shard_tables(["d"], errors=("d",)))

    previous = today.read_previous("fp1")
    assert previous.status_rows == 7
    assert previous.done.contains([id_hash(i) for i in ("old-ok", "a", "c", "b", "old-error", "other-models")]
                                  ).tolist() == [True, True, True, False, False, False]
    assert set(previous.errors_here) == {id_hash("b"), id_hash("d")}  # only this partition's errors

    assert today.retire_errors([id_hash("b"), id_hash("d")], previous.errors_here) == 2
    after = today.read_previous("fp1")
    assert after.status_rows == 5 and not after.errors_here
    assert len(today.status_files(this_partition_only=True)) == 1  # the all-error shard is gone
    assert today.clean_partition() == {"temporary": 0, "orphans": 0}  # its data files were kept


def test_drop_partition_only_touches_its_date(store: tuple[str, dict]) -> None:
    url, options = store
    Store(url, "2026-11-25", options).commit_shard("r0-000000", shard_tables(["x"]))
    today = Store(url, "2026-11-26", options)
    today.commit_shard("r1-000000", shard_tables(["y"]))
    today.drop_partition()
    assert [p.rsplit("/", 2)[-2] for p in today.status_files()] == ["run_date=2026-11-25"]


def test_other_readers_see_only_committed_rows(tmp_path: Any) -> None:
    output = Store(str(tmp_path / "out"), "2026-11-26")
    output.commit_shard("r1-000000", shard_tables(["a", "b"]))
    (tmp_path / "out/segments/run_date=2026-11-26/.tmp-x-part-r2.parquet.partial").write_bytes(b"junk")
    (tmp_path / "out/segments/run_date=2026-11-26/_tmp-y.parquet").write_bytes(b"junk")
    table = ds.dataset(tmp_path / "out/segments", partitioning="hive").to_table()  # pyarrow's own discovery
    assert sorted(table["file_id"].to_pylist()) == ["a", "b"]
    (tmp_path / "out/segments/run_date=2026-11-26/_tmp-y.parquet").unlink()  # glob readers would match it
    duckdb = pytest.importorskip("duckdb")
    rows = duckdb.sql(f"select file_id, run_date from read_parquet('{tmp_path}/out/segments/**/*.parquet', "
                      "hive_partitioning=true) order by file_id").fetchall()
    assert [r[0] for r in rows] == ["a", "b"] and str(rows[0][1]) == "2026-11-26"
    polars = pytest.importorskip("polars")
    frame = polars.scan_parquet(f"{tmp_path}/out/embeddings/**/*.parquet", hive_partitioning=True).collect()
    assert frame.height == 2 and frame["embedding"].to_list()[0] == [1.0] * 4
