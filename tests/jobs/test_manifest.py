"""Manifest parsing: formats, globs, relative paths and bad rows (fast, no Ray, no models)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.keys import HashSet64, id_hash, id_hashes
from jobs.manifest import (
    BAD_VALUE,
    DUPLICATE_ID,
    MISSING_PATH,
    BadRow,
    FileTask,
    Manifest,
    ManifestError,
    detect_format,
    parse_row,
    write_manifest,
)


def items(manifest: Manifest) -> list:
    return [item for batch in manifest for item in batch]


ROWS = [
    {"path": "a.wav", "id": "call-a", "num_speakers": 2},
    {"path": "b.wav", "min_speakers": 1, "max_speakers": 3, "channel": 1},
    {"path": "", "id": "no-path"},
    {"path": "c.wav", "num_speakers": "two"},
    {"path": "d.wav", "id": "call-a"},
    {"path": "e.wav", "min_speakers": 3, "max_speakers": 2},
]


@pytest.mark.parametrize("name", ["m.csv", "m.tsv", "m.jsonl", "m.parquet", "m.csv.gz", "m.jsonl.gz"])
def test_formats_agree(tmp_path: Path, name: str) -> None:
    rows = [dict(r) for r in ROWS]
    if name.endswith("parquet"):  # typed int columns with nulls, as pyarrow/pandas users write them
        rows[3]["num_speakers"] = 0
        table = pa.Table.from_pylist(rows, schema=pa.schema(
            [("path", pa.string()), ("id", pa.string())]
            + [(c, pa.int64()) for c in ("num_speakers", "min_speakers", "max_speakers", "channel")]))
        pq.write_table(table, tmp_path / name)
    else:
        write_manifest(rows, str(tmp_path / name))
    got = items(Manifest(str(tmp_path / name)))
    assert len(got) == len(ROWS)
    assert got[0] == FileTask(1, "call-a", str(tmp_path / "a.wav"), num_speakers=2)
    assert got[1] == FileTask(2, str(tmp_path / "b.wav"), str(tmp_path / "b.wav"), min_speakers=1, max_speakers=3,
                              channel=1)
    assert (got[2].error_type, got[2].file_id, got[2].path) == (MISSING_PATH, "no-path", "")
    assert got[3].error_type == BAD_VALUE and "num_speakers" in got[3].message
    assert got[4].error_type == DUPLICATE_ID and got[4].file_id == "call-a"
    assert got[5].error_type == BAD_VALUE and "larger" in got[5].message


@pytest.mark.parametrize("value, ok", [("3", 3), (3, 3), (3.0, 3), ("", None), (None, None), (float("nan"), None),
                                       ("0", False), (-1, False), (2.5, False), (True, False), ("x", False)])
def test_speaker_values(value: object, ok: object) -> None:
    item = parse_row({"path": "/x.wav", "num_speakers": value}, 1)
    if ok is False:
        assert isinstance(item, BadRow) and item.error_type == BAD_VALUE
    else:
        assert isinstance(item, FileTask) and item.num_speakers == ok


def test_channel_zero_is_valid_and_negative_is_not() -> None:
    assert parse_row({"path": "/x.wav", "channel": "0"}, 1).channel == 0
    assert parse_row({"path": "/x.wav", "channel": "-1"}, 1).error_type == BAD_VALUE


def test_jsonl_bad_lines_are_rows(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text('{"path": "/a.wav"}\nnot json\n\n[1, 2]\n{"PATH": "/b.wav", "ID": "B"}\n')
    got = items(Manifest(str(path)))
    assert [type(i).__name__ for i in got] == ["FileTask", "BadRow", "BadRow", "FileTask"]
    assert got[1].file_id == "row:2" and got[1].error_type == BAD_VALUE
    assert got[3].file_id == "B"


def test_missing_path_column_fails_the_manifest(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("file,id\na.wav,1\n")
    with pytest.raises(ManifestError, match="path"):
        items(Manifest(str(tmp_path / "m.csv")))
    with pytest.raises(ManifestError, match="format"):
        Manifest(str(tmp_path / "m.txt"))
    with pytest.raises(ManifestError, match="cannot read"):
        items(Manifest(str(tmp_path / "absent.csv")))


def test_urls_and_absolute_paths_are_kept() -> None:
    assert parse_row({"path": "s3://b/k.wav"}, 1, "/base").path == "s3://b/k.wav"
    assert parse_row({"path": "/abs.wav"}, 1, "/base").path == "/abs.wav"
    assert parse_row({"path": "x/k.wav"}, 1, "s3://bucket/dir").path == "s3://bucket/dir/x/k.wav"


def test_glob_and_prefix(tmp_path: Path) -> None:
    for name in ("b.wav", "a.wav", "c.flac", "notes.txt", "sub/d.wav"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert detect_format(str(tmp_path / "*.wav")) == "glob"
    got = items(Manifest(str(tmp_path / "*.wav")))
    assert [Path(i.path).name for i in got] == ["a.wav", "b.wav"]
    assert all(i.file_id == i.path for i in got)
    prefix = items(Manifest(str(tmp_path) + "/"))
    assert sorted(Path(i.path).name for i in prefix) == ["a.wav", "b.wav", "c.flac", "d.wav"]


def test_duplicates_across_batches(tmp_path: Path) -> None:
    rows = [{"path": f"/f{i % 7}.wav"} for i in range(30)]
    write_manifest(rows, str(tmp_path / "m.csv"))
    got = items(Manifest(str(tmp_path / "m.csv"), batch_rows=4))
    assert sum(isinstance(i, FileTask) for i in got) == 7
    assert sum(isinstance(i, BadRow) and i.error_type == DUPLICATE_ID for i in got) == 23
    assert [i.row for i in got] == list(range(1, 31))


def test_hashset_matches_python_set() -> None:
    rng = np.random.default_rng(0)
    reference: set[int] = set()
    hashes = HashSet64()
    for _ in range(40):
        batch = rng.integers(0, 5000, size=rng.integers(0, 300)).astype(np.uint64)
        new = hashes.add_new(batch)
        expected = []
        for value in batch.tolist():
            expected.append(value not in reference)
            reference.add(value)
        assert new.tolist() == expected
    assert len(hashes) == len(reference)
    probe = np.arange(6000, dtype=np.uint64)
    assert hashes.contains(probe).tolist() == [int(p) in reference for p in probe]
    assert len(hashes._runs) <= 12  # logarithmic number of sorted runs


def test_id_hash_is_stable() -> None:
    assert id_hash("call-1") == id_hash("call-1") != id_hash("call-2")
    assert id_hashes(["call-1"]).dtype == np.uint64 and int(id_hashes(["call-1"])[0]) == id_hash("call-1")
    assert json.dumps(id_hash("x"))  # a plain Python int


def test_manifest_and_glob_on_s3(s3_bucket: str, s3_options: dict) -> None:
    import s3fs

    fs = s3fs.S3FileSystem(**s3_options)
    for name in ("calls/2026-11-24/a.wav", "calls/2026-11-24/b.wav", "calls/2026-11-24/c.txt", "calls/other/d.wav"):
        fs.pipe(f"{s3_bucket}/{name}", b"x")
    got = items(Manifest(f"{s3_bucket}/calls/2026-11-24/*.wav", s3_options))
    assert [i.path for i in got] == [f"{s3_bucket}/calls/2026-11-24/a.wav", f"{s3_bucket}/calls/2026-11-24/b.wav"]
    assert len(items(Manifest(f"{s3_bucket}/calls/", s3_options))) == 3  # a prefix: audio files, recursively
    write_manifest([{"path": "2026-11-24/a.wav", "num_speakers": 2}, {"path": "/local/x.wav"}],
                   f"{s3_bucket}/calls/manifest.jsonl", s3_options)
    relative, absolute = items(Manifest(f"{s3_bucket}/calls/manifest.jsonl", s3_options))
    assert relative == FileTask(1, f"{s3_bucket}/calls/2026-11-24/a.wav", f"{s3_bucket}/calls/2026-11-24/a.wav",
                                num_speakers=2)
    assert absolute.path == "/local/x.wav"
    write_manifest([{"path": "a.wav"}], f"{s3_bucket}/m.parquet", s3_options)
    assert Manifest(f"{s3_bucket}/m.parquet", s3_options).total_rows == 1


def test_rows_stream_in_bounded_memory(tmp_path: Path) -> None:
    """Reading is streamed: memory grows with the id set (8 bytes a row), not with the manifest."""
    import tracemalloc

    path = tmp_path / "big.csv"
    with path.open("w") as handle:
        handle.write("path,id\n")
        handle.writelines(f"/calls/{n}.wav,c{n}\n" for n in range(60_000))
    tracemalloc.start()
    count = sum(len(batch) for batch in Manifest(str(path), batch_rows=4096))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == 60_000
    assert peak < 8e6, peak  # keeping all the rows (as a list of batches) peaks near 20 MB
