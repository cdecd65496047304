"""The DuckDB, Polars and pyarrow queries of docs/reading-output.md, run exactly as written against a real
job output (two nightly partitions), each result checked against the tables read directly."""

from __future__ import annotations

import datetime
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.driver import run_job
from jobs.manifest import write_manifest
from jobs.plan import JobOptions
from jobs.store import Store

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "reading-output.md"
NIGHT, EARLIER = "2026-11-26", "2026-11-25"
TABLES = ("status", "segments", "exclusive", "embeddings")


def code_blocks(text: str) -> list[tuple[str, str]]:
    """(language, code) of each fenced block."""
    return re.findall(r"^```(\w+)\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


@pytest.fixture(scope="module")
def output(ray_cluster: dict, models_dir: Path, audio_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``out/`` of a real job (two calls and an empty file) on NIGHT, plus an EARLIER night: the same
    files under another run id, as a rerun with --no-resume on that day would have written them."""
    folder = tmp_path_factory.mktemp("queries")
    rows = [{"id": "call-a", "path": str(audio_dir / "call00.wav")},
            {"id": "call-b", "path": str(audio_dir / "call03.wav")},
            {"id": "empty", "path": str(audio_dir / "broken" / "empty.wav")}]
    manifest = write_manifest(rows, str(folder / "calls.csv"))
    out = folder / "out"
    report = run_job(JobOptions(manifest, str(out), run_date=NIGHT, run_id="night", models=str(models_dir),
                                progress=False))
    assert report["files"] == {"rows": 3, "ok": 2, "failed": 1, "skipped": 0}, report
    for table in TABLES:
        earlier = out / table / f"run_date={EARLIER}"
        earlier.mkdir()
        for part in (out / table / f"run_date={NIGHT}").glob("part-*.parquet"):
            data = pq.read_table(part)
            data = data.set_column(data.schema.get_field_index("run_id"), "run_id",
                                   pa.array(["earlier"] * data.num_rows, pa.string()))
            pq.write_table(data, earlier / part.name.replace("night", "earlier"))
    return out


def read(out: Path, table: str) -> list[dict[str, Any]]:
    """A table's rows as the job's own reader gives them (run_date as a string)."""
    return Store(str(out), NIGHT).dataset(table).to_table().to_pylist()


@pytest.fixture
def in_output_parent(output: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(output.parent)  # the queries say 'out/...'
    return output


def test_the_page_has_the_queries_this_test_checks() -> None:
    languages = [language for language, _ in code_blocks(DOC.read_text())]
    assert languages == ["sql", "sql", "sql", "python", "python"]


def test_duckdb_queries(in_output_parent: Path) -> None:
    import duckdb

    out = in_output_parent
    one_day, failures, speaking = [code for _, code in code_blocks(DOC.read_text())][:3]
    segments = sorted((r["file_id"], r["speaker"], r["start"], r["end"], r["duration"])
                      for r in read(out, "segments") if r["run_date"] == NIGHT)
    assert len(segments) >= 2
    assert duckdb.sql(one_day).fetchall() == segments

    errors = [(datetime.date.fromisoformat(r["run_date"]), r["file_id"], r["path"], r["error_type"],
               r["error_message"]) for r in read(out, "status") if r["status"] == "error"]
    rows = duckdb.sql(failures).fetchall()
    assert rows == sorted(errors, key=lambda r: (-r[0].toordinal(), r[1]))
    assert [r[0] for r in rows] == [datetime.date(2026, 11, 26), datetime.date(2026, 11, 25)]
    assert {r[3] for r in rows} == {"decode_error"}

    ok = {(r["file_id"], r["run_id"]) for r in read(out, "status") if r["status"] == "ok"}
    seconds: dict[tuple[str, str], float] = defaultdict(float)
    for r in read(out, "exclusive"):
        if (r["file_id"], r["run_id"]) in ok:
            seconds[r["file_id"], r["speaker"]] += r["end"] - r["start"]
    result = duckdb.sql(speaking).fetchall()
    assert [key for *key, _ in result] == [list(k) for k in sorted(seconds)]
    assert [value for *_, value in result] == pytest.approx([seconds[k] for k in sorted(seconds)])

    with pytest.raises(duckdb.ParserException):  # why the page quotes it
        duckdb.sql("SELECT end FROM read_parquet('out/segments/**/*.parquet', hive_partitioning = true)")


def test_polars_query(in_output_parent: Path) -> None:
    import polars as pl

    [code] = [code for _, code in code_blocks(DOC.read_text())][3:4]
    namespace: dict[str, Any] = {}
    exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 - the documented snippet, as written
    segments = namespace["segments"]
    assert segments.schema["run_date"] == pl.Date
    expected = sorted((r["file_id"], r["speaker"], r["start"], r["end"], r["duration"], datetime.date(2026, 11, 26))
                      for r in read(in_output_parent, "segments") if r["run_date"] == NIGHT)
    assert segments.rows() == expected


def test_pyarrow_query(in_output_parent: Path) -> None:
    import pyarrow.dataset as ds

    [code] = [code for _, code in code_blocks(DOC.read_text())][4:5]
    namespace: dict[str, Any] = {}
    exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102
    table, frame = namespace["table"], namespace["frame"]
    assert table.schema.field("run_date").type == pa.date32()
    assert table.num_rows == sum(r["run_date"] == NIGHT for r in read(in_output_parent, "segments"))
    assert set(frame["run_date"]) == {datetime.date(2026, 11, 26)}
    plain = ds.dataset("out/segments", partitioning="hive")  # why the page gives the type
    assert plain.schema.field("run_date").type == pa.string()


def test_the_end_column_keeps_its_name(output: Path) -> None:
    """The schema is not renamed for SQL's sake: readers quote it (the page says how)."""
    assert "end" in read(output, "segments")[0]
