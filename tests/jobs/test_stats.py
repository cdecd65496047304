"""The run's accounting of where work ran and what was retried (fast, no Ray), and how the report says it."""

from __future__ import annotations

from datetime import datetime, timezone

from jobs.records import CommitSummary, Worker
from jobs.report import format_run
from jobs.stats import STAGES, ActorTotals, RunStats


def report_of(stats: RunStats) -> dict:
    identity = {"run_id": "r", "run_date": "2026-12-02", "manifest": "m.csv", "output": "out"}
    return stats.report(identity, datetime.now(timezone.utc), 10.0, ActorTotals(2, 1.0, 1), {}, {})


def test_work_is_counted_per_node_and_finished_retries_per_stage() -> None:
    stats = RunStats(max_crashed_files=10)
    a, b = Worker("node-a", "host-a"), Worker("node-b", "host-b")
    stats.ran("decode", a)
    stats.ran("decode", Worker("node-b", "host-b", attempt=1))  # its first try died with node a, say
    stats.ran("segmentation", b, files=3)
    stats.ran("clustering", None)  # an error row the driver made: no worker, nothing counted
    stats.committed(CommitSummary(files=4, ok=4, audio_seconds=160.0, errors=[], seconds=0.1,
                                  worker=Worker("node-b", "host-b", attempt=2)))
    report = report_of(stats)
    assert report["nodes"] == {
        "node-a": {"host": "host-a", "decode": 1, "segmentation": 0, "embedding": 0, "clustering": 0, "commit": 0},
        "node-b": {"host": "host-b", "decode": 1, "segmentation": 3, "embedding": 0, "clustering": 0, "commit": 4},
    }
    assert report["retried"] == {"decode": 1, "segmentation": 0, "embedding": 0, "clustering": 0, "commit": 1}
    assert list(report["retried"]) == list(STAGES)


def test_text_report_says_what_was_retried_and_where_work_ran() -> None:
    stats = RunStats(max_crashed_files=10)
    stats.ran("segmentation", Worker("0123456789abcdef", "pod-1", attempt=1), files=2)
    stats.ran("commit", Worker("fedcba9876543210", "pod-2", attempt=1), files=2)
    stats.ran("commit", Worker("fedcba9876543210", "pod-2", attempt=1), files=2)
    stats.isolated_files = 1
    text = format_run(report_of(stats))
    assert "retried after a worker or node died: segmentation 1 call, commit 2 tasks" in text
    assert "nodes: 2 did work (01234567 on pod-1: segmentation 2; fedcba98 on pod-2: commit 4 files)" in text
    assert "1 restarts seen, 1 files retried one by one" in text


def test_a_run_without_retries_says_nothing_about_them() -> None:
    stats = RunStats(max_crashed_files=10)
    stats.ran("decode", Worker("n", "h"))
    text = format_run(report_of(stats))
    assert "retried after" not in text and "nodes: 1 did work" in text
