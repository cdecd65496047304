"""What a finished job's output must look like after any fault, and how to find the processes to kill.

:func:`audit` lists everything under an output (local or S3) and reads its status table;
:func:`assert_exactly_once` checks that every input has exactly one status row and that every data row
lives in the one committed shard of its file (no temporary files, no data file without a status file, no
row written twice); :func:`outputs` gives the per-file results to compare with a clean run's.
Used by ``benchmarks.soak`` and the fault tests in ``tests/reliability``.
"""

from __future__ import annotations

import os
import posixpath
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import fsspec
import numpy as np

from jobs.schema import TABLES
from jobs.store import Store


@dataclass
class Audit:
    """Everything found under an output's tables."""

    parts: dict[str, list[str]] = field(default_factory=dict)  # table -> committed-looking part files
    temporary: list[str] = field(default_factory=list)  # hidden .tmp-* files (any table)
    orphans: list[str] = field(default_factory=list)  # data part files whose shard has no status file
    status: list[dict[str, Any]] = field(default_factory=list)  # status rows, with their file


def _key(path: str) -> str:
    return posixpath.basename(path)[len("part-"):-len(".parquet")]


def audit(output: str, storage_options: dict[str, Any] | None = None) -> Audit:
    """List ``output``'s tables (all partitions) and read its status rows."""
    fs, root = fsspec.core.url_to_fs(output, **(storage_options or {}))
    root = root.rstrip("/")
    result = Audit()
    for table in TABLES:
        folder = f"{root}/{table}"
        fs.invalidate_cache()  # all of it: s3fs keeps stale listings of sub-folders otherwise
        found = sorted(fs.find(folder)) if fs.exists(folder) else []
        result.temporary += [p for p in found if posixpath.basename(p).startswith(".tmp-")]
        result.parts[table] = [p for p in found if posixpath.basename(p).startswith("part-")
                               and p.endswith(".parquet")]
    committed = {_key(p) for p in result.parts["status"]}
    result.orphans = [p for t in TABLES[1:] for p in result.parts[t] if _key(p) not in committed]
    dataset = Store(output, "", storage_options).dataset("status", result.parts["status"])
    if dataset is not None:
        columns = ["file_id", "status", "error_type", "error_message", "run_id", "__filename"]
        rows = dataset.to_table(columns=columns).to_pylist()
        result.status = rows
    return result


def count_against(found: Audit, expected_ids: Iterable[str]) -> tuple[int, int]:
    """(lost, duplicated): inputs with no status row, and status rows beyond one per input (or for ids
    that were never input)."""
    expected = set(expected_ids)
    counts = Counter(r["file_id"] for r in found.status)
    lost = sum(1 for i in expected if counts[i] == 0)
    duplicated = sum(n - 1 for i, n in counts.items() if i in expected and n > 1)
    duplicated += sum(n for i, n in counts.items() if i not in expected)
    return lost, duplicated


def data_rows(output: str, storage_options: dict[str, Any] | None, table: str) -> list[dict[str, Any]]:
    """Every row of a data table with the file it came from (``__filename``)."""
    store = Store(output, "", storage_options)
    dataset = store.dataset(table)
    if dataset is None:
        return []
    names = [f.name for f in dataset.schema if f.name != "run_date"] + ["__filename"]
    return dataset.to_table(columns=names).to_pylist()


def assert_exactly_once(output: str, storage_options: dict[str, Any] | None, expected_ids: Iterable[str],
                        all_ok: bool = True) -> Audit:
    """One status row per input (all ``ok`` when ``all_ok``); no temporary or orphan files; each table at
    most one part file per shard; every data row in the shard that holds its file's status row."""
    expected = sorted(set(expected_ids))
    found = audit(output, storage_options)
    assert not found.temporary, f"temporary files left: {found.temporary}"
    assert not found.orphans, f"data files of uncommitted shards: {found.orphans}"
    lost, duplicated = count_against(found, expected)
    assert (lost, duplicated) == (0, 0), f"{lost} inputs lost, {duplicated} status rows duplicated"
    if all_ok:
        bad = [r for r in found.status if r["status"] != "ok"]
        assert not bad, f"error rows: {bad[:5]}"
    for table, parts in found.parts.items():
        keys = Counter(_key(p) for p in parts)
        assert max(keys.values(), default=1) == 1, f"{table}: a shard written twice: {keys.most_common(3)}"
    home = {r["file_id"]: _key(r["__filename"]) for r in found.status}
    for table in TABLES[1:]:
        for row in data_rows(output, storage_options, table):
            assert _key(row["__filename"]) == home.get(row["file_id"]), \
                f"{table} row of {row['file_id']} in {row['__filename']}, status in shard {home.get(row['file_id'])}"
    return found


def tally(output: str, storage_options: dict[str, Any] | None, expected_ids: Iterable[str]) -> dict[str, int]:
    """The soak's counts of what :func:`assert_exactly_once` forbids: lost inputs (no ok row), duplicated
    status rows, temporary and orphan files, shards written twice, data rows outside their file's shard."""
    expected = set(expected_ids)
    found = audit(output, storage_options)
    ok = {r["file_id"] for r in found.status if r["status"] == "ok"}
    _, duplicated = count_against(found, expected)
    home = {r["file_id"]: _key(r["__filename"]) for r in found.status}
    misplaced = sum(1 for table in TABLES[1:] for row in data_rows(output, storage_options, table)
                    if _key(row["__filename"]) != home.get(row["file_id"]))
    twice = sum(n - 1 for parts in found.parts.values() for n in Counter(_key(p) for p in parts).values())
    return {"lost": len(expected - ok), "duplicated": duplicated + twice + misplaced,
            "temporary": len(found.temporary), "orphans": len(found.orphans)}


def outputs(output: str, storage_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Per file id: its segments and exclusive segments (sorted tuples) and speaker embeddings."""
    result: dict[str, Any] = defaultdict(lambda: {"segments": [], "exclusive": [], "embeddings": {}})
    for table in ("segments", "exclusive"):
        for row in data_rows(output, storage_options, table):
            result[row["file_id"]][table].append((row["speaker"], row["start"], row["end"], row["duration"]))
    for row in data_rows(output, storage_options, "embeddings"):
        result[row["file_id"]]["embeddings"][row["speaker"]] = np.asarray(row["embedding"], np.float32)
    for value in result.values():
        value["segments"].sort()
        value["exclusive"].sort()
    return dict(result)


def differing(got: dict[str, Any], clean: dict[str, Any], ids: dict[str, str]) -> list[str]:
    """Ids of ``got`` whose results differ from ``clean``'s file ``ids[id]`` (the soak's count)."""
    bad = []
    for mine, theirs in ids.items():
        try:
            assert_same_outputs({mine: got[mine]} if mine in got else {},
                                {theirs: clean[theirs]} if theirs in clean else {}, {mine: theirs})
        except (AssertionError, KeyError):
            bad.append(mine)
    return bad


def assert_same_outputs(got: dict[str, Any], clean: dict[str, Any], ids: dict[str, str] | None = None) -> None:
    """``got`` equals ``clean`` file by file (``ids`` maps got's ids to clean's; default: the same ids):
    identical segments, embeddings equal up to float noise."""
    ids = ids or {i: i for i in clean}
    assert set(got) <= set(ids), f"results for unknown ids: {sorted(set(got) - set(ids))[:5]}"
    for mine, theirs in ids.items():
        expected = clean.get(theirs, {"segments": [], "exclusive": [], "embeddings": {}})
        actual = got.get(mine, {"segments": [], "exclusive": [], "embeddings": {}})
        assert actual["segments"] == expected["segments"], mine
        assert actual["exclusive"] == expected["exclusive"], mine
        assert actual["embeddings"].keys() == expected["embeddings"].keys(), mine
        for speaker, vector in expected["embeddings"].items():
            np.testing.assert_allclose(actual["embeddings"][speaker], vector, rtol=1e-4, atol=1e-4)


# -- processes ---------------------------------------------------------------------------------------------

def descendants(root: int | None = None) -> set[int]:
    """Process ids below ``root`` (default: this process) in the process tree."""
    root = os.getpid() if root is None else root
    children: dict[int, list[int]] = defaultdict(list)
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        children[int(fields[1])].append(int(name))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def process_title(pid: int) -> str:
    """What a Ray worker says it does (``ray::decode``, ``ray::IDLE``, ...); '' when gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().split(b"\0", 1)[0].decode("utf-8", "replace")
    except OSError:
        return ""


def ray_workers(titles: tuple[str, ...], root: int | None = None) -> dict[int, str]:
    """Ray worker processes of the cluster started below ``root`` now running one of ``titles``."""
    found = {}
    for pid in descendants(root):
        title = process_title(pid)
        if title.startswith(titles):
            found[pid] = title
    return found
