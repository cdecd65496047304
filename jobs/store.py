"""The Parquet store of a job's output: committed shards, partitions, crash clean-up, the resume set.

Layout (``OUTPUT`` is a local folder or any fsspec URL)::

    OUTPUT/status/run_date=D/part-<run_id>-<shard>.parquet      commit marker of the shard, written last
    OUTPUT/segments/run_date=D/part-<run_id>-<shard>.parquet
    OUTPUT/exclusive/run_date=D/part-<run_id>-<shard>.parquet
    OUTPUT/embeddings/run_date=D/part-<run_id>-<shard>.parquet
    OUTPUT/_runs/run_date=D/<run_id>.json                       run report (ignored by Parquet readers)

Commit protocol of a shard: each table goes to a hidden temporary name (``.tmp-...``, skipped by
readers) and is then renamed into place; the status file is renamed last and is the shard's commit
marker. A crash can therefore leave only (a) hidden temporary files and (b) data files of a shard that
has no status file; :meth:`Store.clean_partition` deletes both before a run writes into the partition.
"""

from __future__ import annotations

import json
import os
import posixpath
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from diarization.locations import local_path

from .keys import HashSet64, id_hash, id_hashes
from .schema import PARTITION, SCHEMAS, TABLES

DATA_TABLES = tuple(t for t in TABLES if t != "status")
ROW_GROUP_ROWS = {"status": 100_000, "segments": 100_000, "exclusive": 100_000, "embeddings": 16_384}
PREFIX, SUFFIX, TMP = "part-", ".parquet", ".tmp-"


@dataclass
class Previous:
    """What earlier runs left in the output, as far as a new run needs it."""

    done: HashSet64 = field(default_factory=HashSet64)  # ids with an ok row under this fingerprint
    errors_here: dict[int, list[str]] = field(default_factory=dict)  # id hash -> status files (this partition)
    status_rows: int = 0


class Store:
    """One output location and the partition (``run_date``) this run writes into. Picklable."""

    def __init__(self, url: str, run_date: str, storage_options: Mapping[str, Any] | None = None) -> None:
        # a local path is made absolute here, in the driver: tasks may run in another working directory
        local = local_path(url)
        self.url = url.rstrip("/") if local is None else os.path.abspath(local)
        self.run_date = run_date
        self.storage_options = dict(storage_options or {})
        self._fs: fsspec.AbstractFileSystem | None = None
        self._root = ""

    def __getstate__(self) -> dict:
        return {"url": self.url, "run_date": self.run_date, "storage_options": self.storage_options}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["url"], state["run_date"], state["storage_options"])  # type: ignore[misc]

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        if self._fs is None:
            self._fs, self._root = fsspec.core.url_to_fs(self.url, **self.storage_options)
        return self._fs

    @property
    def root(self) -> str:
        _ = self.fs
        return self._root.rstrip("/")

    def table_dir(self, table: str, run_date: str | None = None) -> str:
        """Folder of ``table``'s partition for ``run_date`` (default: this run's)."""
        return f"{self.root}/{table}/{PARTITION}={run_date or self.run_date}"

    def shard_path(self, table: str, shard_key: str) -> str:
        return f"{self.table_dir(table)}/{PREFIX}{shard_key}{SUFFIX}"

    # -- writing ----------------------------------------------------------------------------------------

    def commit_shard(self, shard_key: str, tables: Mapping[str, pa.Table]) -> None:
        """Write one shard's tables, data tables first and the status table last (the commit).

        Idempotent: committing the same key again replaces the same files.
        """
        for name in DATA_TABLES:
            table = tables.get(name)
            if table is not None and table.num_rows:
                self._put(self.shard_path(name, shard_key), table, name)
        self._put(self.shard_path("status", shard_key), tables["status"], "status")

    def _put(self, path: str, table: pa.Table, name: str) -> None:
        folder, base = posixpath.split(path)
        self.fs.makedirs(folder, exist_ok=True)
        temporary = f"{folder}/{TMP}{uuid.uuid4().hex[:12]}-{base}.partial"
        try:
            with self.fs.open(temporary, "wb") as handle:
                pq.write_table(table.cast(SCHEMAS[name]), handle, row_group_size=ROW_GROUP_ROWS[name],
                               compression="zstd")
            self.fs.mv(temporary, path)
        except BaseException:
            if self.fs.exists(temporary):
                self.fs.rm(temporary)
            raise

    def write_run_report(self, run_id: str, report: Mapping[str, Any]) -> str:
        """Store the run report as JSON next to the tables (``_runs/`` is invisible to Parquet readers)."""
        folder = f"{self.root}/_runs/{PARTITION}={self.run_date}"
        self.fs.makedirs(folder, exist_ok=True)
        path = f"{folder}/{run_id}.json"
        with self.fs.open(path, "w") as handle:
            handle.write(json.dumps(report, indent=2, sort_keys=True, default=str))
        return path

    # -- reading ----------------------------------------------------------------------------------------

    def _list(self, folder: str) -> list[str]:
        # forget every cached listing, not just the folder's: s3fs' find() refreshes the names below a
        # folder but keeps older cached listings of its sub-folders, which then hide files committed by
        # other processes since (opening them fails with FileNotFoundError)
        self.fs.invalidate_cache()
        if not self.fs.exists(folder):
            return []
        return sorted(self.fs.find(folder))

    def status_files(self, this_partition_only: bool = False) -> list[str]:
        """Committed status files, of this partition or of all of them."""
        folder = self.table_dir("status") if this_partition_only else f"{self.root}/status"
        return [p for p in self._list(folder) if _is_part(p)]

    def drop_partition(self) -> None:
        """Delete this partition from every table (``--no-resume``: start the partition over)."""
        for table in TABLES:
            folder = self.table_dir(table)
            self.fs.invalidate_cache(folder)
            if self.fs.exists(folder):
                self.fs.rm(folder, recursive=True)

    def clean_partition(self) -> dict[str, int]:
        """Delete what a crashed run left in this partition: hidden temporary files, and data files of
        shards without a status file. Returns counts of what was removed."""
        committed = {_key_of(p) for p in self.status_files(this_partition_only=True)}
        removed = {"temporary": 0, "orphans": 0}
        for table in TABLES:
            for path in self._list(self.table_dir(table)):
                base = posixpath.basename(path)
                if base.startswith(TMP):
                    self.fs.rm(path)
                    removed["temporary"] += 1
                elif table != "status" and _is_part(path) and _key_of(path) not in committed:
                    self.fs.rm(path)
                    removed["orphans"] += 1
        return removed

    def dataset(self, table: str, files: list[str] | None = None) -> ds.Dataset | None:
        """A pyarrow dataset over the committed files of ``table`` (all partitions), or None if empty."""
        files = files if files is not None else [p for p in self._list(f"{self.root}/{table}") if _is_part(p)]
        if not files:
            return None
        return ds.dataset(files, schema=SCHEMAS[table].append(pa.field(PARTITION, pa.string())),
                          filesystem=self.fs, format="parquet",
                          partitioning=ds.partitioning(pa.schema([(PARTITION, pa.string())]), flavor="hive"),
                          partition_base_dir=f"{self.root}/{table}")

    def read_previous(self, fingerprint: str) -> Previous:
        """The done set (ids with an ok row under ``fingerprint``, any partition) and the error rows of
        this partition (which a rerun retires before retrying those files)."""
        previous = Previous()
        dataset = self.dataset("status", self.status_files())
        if dataset is None:
            return previous
        here = f"{self.table_dir('status')}/"
        for batch in dataset.to_batches(columns=["file_id", "status", "fingerprint", "__filename"],
                                        batch_size=65_536):
            previous.status_rows += batch.num_rows
            ok = pc.and_(pc.equal(batch["status"], "ok"), pc.equal(batch["fingerprint"], fingerprint))
            previous.done.add(id_hashes(batch.filter(ok)["file_id"].to_pylist()))
            errors = batch.filter(pc.and_(pc.equal(batch["status"], "error"),
                                          pc.starts_with(batch["__filename"], here)))
            for file_id, name in zip(errors["file_id"].to_pylist(), errors["__filename"].to_pylist()):
                previous.errors_here.setdefault(id_hash(file_id), []).append(name)
        return previous

    def retire_errors(self, hashes: Iterable[int], errors_here: Mapping[int, list[str]]) -> int:
        """Remove the error rows of ids ``hashes`` from this partition's status files (each file rewritten
        atomically), so the files can be retried without leaving two outcomes. Returns rows removed."""
        retire = set(hashes)
        removed = 0
        for path in sorted({name for h in retire for name in errors_here.get(h, ())}):
            table = pq.read_table(path, filesystem=self.fs, schema=SCHEMAS["status"])
            hashes_of_rows = [id_hash(i) in retire for i in table["file_id"].to_pylist()]
            drop = pc.and_(pc.equal(table["status"], "error"), pa.array(hashes_of_rows, pa.bool_()))
            kept = table.filter(pc.invert(drop))
            removed += table.num_rows - kept.num_rows
            if kept.num_rows:
                self._put(path, kept, "status")
            else:  # a shard of errors only has no data files
                self.fs.rm(path)
        return removed


def _is_part(path: str) -> bool:
    base = posixpath.basename(path)
    return base.startswith(PREFIX) and base.endswith(SUFFIX)


def _key_of(path: str) -> str:
    return posixpath.basename(path)[len(PREFIX):-len(SUFFIX)]
