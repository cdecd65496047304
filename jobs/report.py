"""Run reports: the driver's end-of-run summary, and ``diarize report`` over a finished output's Parquet."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .schema import PARTITION

TASK_STAGES = ("decode", "clustering", "commit")  # the others are model actor calls
from .store import Store


def format_run(report: Mapping[str, Any]) -> str:
    """The driver's run report as a few lines of text."""
    files = report["files"]
    rtf = report.get("real_time_factor")
    lines = [
        f"run {report['run_id']} ({PARTITION}={report['run_date']}) -> {report['output']}",
        f"  read: {report['manifest']}",
        (f"  files: {files['ok']} ok, {files['failed']} failed, {files['skipped']} skipped "
         f"(of {files['rows']} manifest rows)"),
        (f"  audio: {report['audio_hours']:.3f} h in {report['wall_seconds']:.1f} s wall"
         + (f", real-time factor {rtf:.4f} ({1 / rtf:.1f}x real time)" if rtf else "")),
    ]
    if report.get("errors"):
        lines.append("  errors: " + ", ".join(f"{k} {v}" for k, v in report["errors"].items()))
    stages = ", ".join(f"{name} {s['seconds']:.1f} s/{s['files']} files" for name, s in report["stages"].items())
    lines.append(f"  worker time per stage: {stages}")
    actors = report["actors"]
    lines.append(f"  actors: {actors['started']} started, {actors['restarts']} restarts seen, "
                 f"{actors.get('isolated_files', 0)} files retried one by one, "
                 f"{actors['crashed_files']} files crashed a worker")
    retried = {name: n for name, n in report.get("retried", {}).items() if n}
    if retried:
        lines.append("  retried after a worker or node died: "
                     + ", ".join(f"{name} {n} {'task' if name in TASK_STAGES else 'call'}{'s' * (n != 1)}"
                                 for name, n in retried.items()))
    nodes = report.get("nodes", {})
    if nodes:
        lines.append(f"  nodes: {len(nodes)} did work ("
                     + "; ".join(f"{node[:8]} on {totals['host']}: "
                                 + ", ".join(f"{k} {v}" for k, v in totals.items() if k != "host" and v)
                                 for node, totals in nodes.items()) + " files)")
    if report["shards"]["failed"]:
        lines.append(f"  NOT COMMITTED: {len(report['shards']['failed'])} shards; rerun the same command to finish")
    return "\n".join(lines)


def summarize(output: str, storage_options: Mapping[str, Any] | None = None, run_date: str | None = None,
              run_id: str | None = None) -> list[dict[str, Any]]:
    """One summary per (run_date, run_id) found in ``output``'s status table, oldest first."""
    store = Store(output, run_date or "", storage_options)
    dataset = store.dataset("status")
    if dataset is None:
        return []
    table = dataset.to_table(columns=[PARTITION, "run_id", "file_id", "status", "error_type", "error_message",
                                      "duration", "processing_time", "finished_at"],
                             filter=selection(run_date, run_id))
    summaries = []
    for group in _groups(table):
        ok = pc.equal(group["status"], "ok")
        errors = group.filter(pc.invert(ok))
        error_counts = {str(k): int(v) for k, v in zip(*_counts(errors["error_type"]))}
        audio = pc.sum(group.filter(ok)["duration"]).as_py() or 0.0
        processing = pc.sum(group["processing_time"]).as_py() or 0.0
        first, last = pc.min(group["finished_at"]).as_py(), pc.max(group["finished_at"]).as_py()
        key_date, key_run = group[PARTITION][0].as_py(), group["run_id"][0].as_py()
        summary = {"run_date": key_date, "run_id": key_run, "files": group.num_rows,
                   "ok": int(pc.sum(ok).as_py() or 0), "failed": errors.num_rows, "errors": error_counts,
                   "audio_hours": audio / 3600, "worker_seconds": processing,
                   "first_commit": first.isoformat() if first else None,
                   "last_commit": last.isoformat() if last else None,
                   "failed_files": _failed_files(errors)}
        summary["run"] = _run_json(store, key_date, key_run)
        summaries.append(summary)
    return summaries


def _failed_files(errors: pa.Table) -> list[dict[str, str]]:
    """The error rows of one run as (file id, error type, message), by error type then file id."""
    rows = errors.select(["file_id", "error_type", "error_message"]).to_pylist()
    return sorted(({key: value or "" for key, value in row.items()} for row in rows),
                  key=lambda row: (row["error_type"], row["file_id"]))


def selection(run_date: str | None = None, run_id: str | None = None) -> pc.Expression | None:
    """The dataset filter for one partition and/or one run (None: everything)."""
    condition = None
    if run_date:
        condition = pc.field(PARTITION) == run_date
    if run_id:
        by_run = pc.field("run_id") == run_id
        condition = by_run if condition is None else condition & by_run
    return condition


def format_summaries(summaries: list[dict[str, Any]], most_failed: int = 20) -> str:
    """``diarize report``'s text output: a line per run, its failed files (at most ``most_failed`` of
    each run; ``--json`` has them all), then per-partition totals."""
    if not summaries:
        return "no committed results found"
    header = (f"{'run_date':<11} {'run_id':<24} {'files':>8} {'ok':>8} {'failed':>7} {'audio h':>9} "
              f"{'wall s':>8} {'RTF':>7}  errors")
    lines = [header]
    for s in summaries:
        run = s.get("run") or {}
        wall = run.get("wall_seconds")
        rtf = run.get("real_time_factor")
        lines.append(f"{s['run_date']:<11} {s['run_id']:<24} {s['files']:>8} {s['ok']:>8} {s['failed']:>7} "
                     f"{s['audio_hours']:>9.3f} {wall if wall is None else round(wall, 1)!s:>8} "
                     f"{'-' if rtf is None else f'{rtf:.4f}':>7}  "
                     + (", ".join(f"{k} {v}" for k, v in s["errors"].items()) or "-"))
        if run.get("manifest"):
            lines.append(f"{'':<11} read {run['manifest']}")
        failed = s.get("failed_files", [])
        for row in failed[:most_failed]:
            lines.append(f"{'':<11} failed {row['file_id']}  {row['error_type']}  {row['error_message']}")
        if len(failed) > most_failed:
            lines.append(f"{'':<11} ... and {len(failed) - most_failed} more failed files (--json lists all)")
    dates: dict[str, list[int]] = {}
    for s in summaries:
        totals = dates.setdefault(s["run_date"], [0, 0, 0])
        totals[0] += s["files"]
        totals[1] += s["ok"]
        totals[2] += s["failed"]
    for date, (files, ok, failed) in dates.items():
        lines.append(f"{PARTITION}={date}: {files} status rows, {ok} ok, {failed} failed")
    return "\n".join(lines)


def _groups(table: pa.Table) -> list[pa.Table]:
    keys = table.group_by([PARTITION, "run_id"]).aggregate([]).sort_by([(PARTITION, "ascending"),
                                                                        ("run_id", "ascending")])
    return [table.filter(pc.and_(pc.equal(table[PARTITION], d), pc.equal(table["run_id"], r)))
            for d, r in zip(keys[PARTITION].to_pylist(), keys["run_id"].to_pylist())]


def _counts(values: pa.ChunkedArray) -> tuple[list, list]:
    counted = pc.value_counts(values.combine_chunks()) if len(values) else None
    if counted is None:
        return [], []
    return counted.field("values").to_pylist(), counted.field("counts").to_pylist()


def _run_json(store: Store, run_date: str, run_id: str) -> dict[str, Any] | None:
    path = f"{store.root}/_runs/{PARTITION}={run_date}/{run_id}.json"
    try:
        with store.fs.open(path, "r") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
