"""``diarize report OUTPUT --html report.html``: one self-contained HTML page about the runs in an output.

Built from the same data as ``diarize report`` (the status table and the ``_runs/`` JSON reports, through
:func:`jobs.report.summarize`) plus the segments and exclusive tables of a few sample files: totals (files,
hours of audio, wall time, real-time factor, worker time per stage, errors by type), the failed files with
their messages, histograms of call durations and speaker counts, and speaker timelines (regular and
exclusive). Charts are inline SVG (:mod:`jobs.svg`); the page loads nothing and runs no script, and its
Content-Security-Policy forbids both. Every string from the data is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from typing import Any

import fsspec
import numpy as np
import pyarrow.compute as pc

from .report import selection, summarize
from .schema import PARTITION
from .store import Store
from .svg import Bar, Panel, Span, bar_chart, timeline

STATUS_COLUMNS = [PARTITION, "run_id", "file_id", "path", "status", "error_type", "error_message", "duration",
                  "num_speakers"]
CSP = "default-src 'none'; style-src 'unsafe-inline'"
STYLE = """
body { font-family: sans-serif; margin: 24px; color: #222; max-width: 1100px; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ccc; }
h3 { font-size: 13px; margin: 14px 0 4px; font-family: monospace; }
table { border-collapse: collapse; font-size: 12px; margin: 6px 0; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 8px 14px; min-width: 110px; }
.card b { display: block; font-size: 20px; } .card span { font-size: 11px; color: #666; }
.charts { display: flex; flex-wrap: wrap; gap: 24px; } figure { margin: 0; } .muted { color: #666; font-size: 12px; }
.msg { font-family: monospace; white-space: pre-wrap; word-break: break-all; }
"""


@dataclass(frozen=True)
class Failure:
    """One error row of the status table."""

    run_date: str
    run_id: str
    file_id: str
    path: str
    error_type: str
    message: str


@dataclass(frozen=True)
class FileTimeline:
    """The regular and exclusive turns of one sample file."""

    file_id: str
    run_id: str
    duration: float
    speakers: tuple[str, ...]
    regular: tuple[Span, ...]
    exclusive: tuple[Span, ...]


@dataclass(frozen=True)
class ReportData:
    """Everything the page shows, read from one output."""

    output: str
    selection: str  # which partition / run, in words
    summaries: list[dict[str, Any]]  # jobs.report.summarize(), one per (run_date, run_id)
    durations: np.ndarray  # (ok files,) seconds of audio
    speaker_counts: np.ndarray  # (ok files,) speakers found
    failures: list[Failure]  # every error row, by error type then file id
    timelines: list[FileTimeline]


def collect(output: str, storage_options: Mapping[str, Any] | None = None, run_date: str | None = None,
            run_id: str | None = None, samples: int = 6) -> ReportData:
    """Read what the page needs from ``output`` (only the status rows and the sample files' turns)."""
    words = " ".join(part for part in (run_date and f"{PARTITION}={run_date}", run_id and f"run {run_id}")
                     if part) or "all runs"
    store = Store(output, run_date or "", storage_options)
    summaries = summarize(output, storage_options, run_date, run_id)
    dataset = store.dataset("status")
    if dataset is None:
        return ReportData(output, words, summaries, np.zeros(0), np.zeros(0, np.int64), [], [])
    status = dataset.to_table(columns=STATUS_COLUMNS, filter=selection(run_date, run_id))
    ok = status.filter(pc.equal(status["status"], "ok")).sort_by([("duration", "ascending"), ("file_id", "ascending")])
    errors = status.filter(pc.not_equal(status["status"], "ok")).sort_by([("error_type", "ascending"),
                                                                          ("file_id", "ascending")])
    failures = [Failure(r[PARTITION], r["run_id"], r["file_id"], r["path"], r["error_type"] or "",
                        r["error_message"] or "") for r in errors.to_pylist()]
    durations = np.asarray(ok["duration"].fill_null(0.0).to_numpy(), dtype=np.float64)
    speakers = np.asarray(ok["num_speakers"].fill_null(0).to_numpy(), dtype=np.int64)
    picked = spread(ok.num_rows, samples)
    sample = [(ok["file_id"][i].as_py(), ok["run_id"][i].as_py(), float(durations[i])) for i in picked]
    return ReportData(output, words, summaries, durations, speakers, failures, read_timelines(store, sample))


def spread(count: int, samples: int) -> list[int]:
    """Up to ``samples`` indices spread evenly over ``range(count)`` (first and last included)."""
    if count <= 0 or samples <= 0:
        return []
    return sorted({round(float(i)) for i in np.linspace(0, count - 1, min(samples, count))})


def read_timelines(store: Store, sample: Sequence[tuple[str, str, float]]) -> list[FileTimeline]:
    """The turns of each sampled (file id, run id, duration) from the segments and exclusive tables."""
    if not sample:
        return []
    ids = sorted({file_id for file_id, _, _ in sample})
    turns: dict[str, dict[tuple[str, str], list[Span]]] = {}
    for table in ("segments", "exclusive"):
        by_file: dict[tuple[str, str], list[Span]] = turns.setdefault(table, {})
        dataset = store.dataset(table)
        if dataset is None:
            continue
        rows = dataset.to_table(columns=["file_id", "run_id", "speaker", "start", "end"],
                                filter=pc.field("file_id").isin(ids))
        for r in rows.sort_by([("start", "ascending")]).to_pylist():
            by_file.setdefault((r["file_id"], r["run_id"]), []).append(Span(r["speaker"], r["start"], r["end"]))
    timelines = []
    for file_id, run_id, duration in sample:
        regular = tuple(turns["segments"].get((file_id, run_id), ()))
        exclusive = tuple(turns["exclusive"].get((file_id, run_id), ()))
        speakers = tuple(sorted({s.speaker for s in regular + exclusive}))
        timelines.append(FileTimeline(file_id, run_id, duration, speakers, regular, exclusive))
    return timelines


# -- rendering --------------------------------------------------------------------------------------------

def render(data: ReportData, max_failures: int = 500) -> str:
    """The whole page as one string."""
    title = f"Diarization report: {data.output}"
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = [f"<h1>{escape(title)}</h1>",
            f'<p class="muted">{escape(data.selection)}; generated {generated}</p>']
    if not data.summaries:
        body.append("<p>No committed results found.</p>")
    else:
        body += [_totals(data), _runs(data.summaries), _stages(data.summaries), _errors(data.summaries),
                 _distributions(data), _timelines(data.timelines), _failures(data.failures, max_failures)]
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f"<title>{escape(title)}</title><style>{STYLE}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def write_html_report(path: str, output: str, storage_options: Mapping[str, Any] | None = None,
                      run_date: str | None = None, run_id: str | None = None, samples: int = 6) -> ReportData:
    """Collect, render and write the page to ``path`` (a local path or an fsspec URL)."""
    data = collect(output, storage_options, run_date, run_id, samples)
    with fsspec.open(path, "w", encoding="utf-8", **dict(storage_options or {})) as handle:
        handle.write(render(data))
    return data


def _cell(value: Any, numeric: bool = False) -> str:
    return f'<td class="n">{escape(str(value))}</td>' if numeric else f"<td>{escape(str(value))}</td>"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    return f"<table><tr>{head}</tr>" + "".join(f"<tr>{''.join(r)}</tr>" for r in rows) + "</table>"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min" if value < 7200 else f"{value / 3600:.2f} h"


def _totals(data: ReportData) -> str:
    runs = [s.get("run") or {} for s in data.summaries]
    walls = [r["wall_seconds"] for r in runs if r.get("wall_seconds") is not None]
    audio_h = sum(s["audio_hours"] for s in data.summaries)
    wall = sum(walls) if walls else None
    rtf = wall / (audio_h * 3600) if wall and audio_h else None
    files = sum(s["files"] for s in data.summaries)
    cards = [("files", f"{files}"), ("ok", f"{sum(s['ok'] for s in data.summaries)}"),
             ("failed", f"{sum(s['failed'] for s in data.summaries)}"), ("hours of audio", f"{audio_h:.2f}"),
             ("wall time", _seconds(wall)), ("real-time factor", "-" if rtf is None else f"{rtf:.4f}"),
             ("x real time", "-" if not rtf else f"{1 / rtf:.1f}"),
             ("files per second", "-" if not wall else f"{files / wall:.2f}")]
    return "<h2>Totals</h2><div class=\"cards\">" + "".join(
        f'<div class="card"><b>{escape(v)}</b><span>{escape(k)}</span></div>' for k, v in cards) + "</div>"


def _runs(summaries: Sequence[dict[str, Any]]) -> str:
    rows = []
    for s in summaries:
        run = s.get("run") or {}
        rtf = run.get("real_time_factor")
        rows.append([_cell(s["run_date"]), _cell(s["run_id"]), _cell(run.get("manifest", "-")),
                     _cell(s["files"], True), _cell(s["ok"], True), _cell(s["failed"], True),
                     _cell(f"{s['audio_hours']:.3f}", True), _cell(_seconds(run.get("wall_seconds")), True),
                     _cell("-" if rtf is None else f"{rtf:.4f}", True)])
    return "<h2>Runs</h2>" + _table(["run date", "run id", "manifest read", "files", "ok", "failed", "audio h",
                                     "wall", "RTF"], rows)


def _stages(summaries: Sequence[dict[str, Any]]) -> str:
    seconds: dict[str, float] = {}
    files: dict[str, int] = {}
    for s in summaries:
        for name, stage in ((s.get("run") or {}).get("stages") or {}).items():
            seconds[name] = seconds.get(name, 0.0) + float(stage.get("seconds") or 0.0)
            files[name] = files.get(name, 0) + int(stage.get("files") or 0)
    if not seconds:
        return "<h2>Stages</h2><p>No run reports found (<code>_runs/</code>).</p>"
    audio = sum(s["audio_hours"] for s in summaries) * 3600
    rows = [[_cell(name), _cell(f"{seconds[name]:.1f}", True), _cell(files[name], True),
             _cell(f"{files[name] / seconds[name]:.2f}" if seconds[name] else "-", True),
             _cell(f"{audio / seconds[name]:.1f}" if seconds[name] else "-", True)]
            for name in sorted(seconds, key=lambda n: -seconds[n])]  # where the worker time goes, first
    return ("<h2>Throughput per stage</h2>"
            + _table(["stage", "worker s", "files", "files per worker s", "audio s per worker s"], rows))


def _errors(summaries: Sequence[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for s in summaries:
        for error_type, n in s["errors"].items():
            counts[error_type] = counts.get(error_type, 0) + n
    if not counts:
        return "<h2>Errors by type</h2><p>No errors.</p>"
    rows = [[_cell(k), _cell(v, True)] for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return "<h2>Errors by type</h2>" + _table(["error type", "files"], rows)


def duration_bars(durations: np.ndarray, most: int = 24) -> list[Bar]:
    """Histogram bars of call durations (seconds), with 'auto' bins, at most ``most`` of them."""
    if not len(durations):
        return []
    edges = np.histogram_bin_edges(durations, bins="auto")
    if len(edges) - 1 > most:
        edges = np.histogram_bin_edges(durations, bins=most)
    counts, edges = np.histogram(durations, bins=edges)
    return [Bar(f"{lo:.0f}-{hi:.0f}", int(n)) for lo, hi, n in zip(edges[:-1], edges[1:], counts)]


def speaker_bars(counts: np.ndarray) -> list[Bar]:
    """One bar per speaker count from 0 to the largest seen."""
    if not len(counts):
        return []
    tally = np.bincount(counts.clip(min=0))
    return [Bar(str(k), int(n)) for k, n in enumerate(tally)]


def _distributions(data: ReportData) -> str:
    if not len(data.durations):
        return "<h2>Calls</h2><p>No files were diarized.</p>"
    return ('<h2>Calls</h2><div class="charts"><figure>'
            + bar_chart(duration_bars(data.durations), "call duration (s)", "files")
            + "<figcaption class=\"muted\">call durations</figcaption></figure><figure>"
            + bar_chart(speaker_bars(data.speaker_counts), "speakers found", "files")
            + "<figcaption class=\"muted\">speakers per call</figcaption></figure></div>")


def _timelines(timelines: Sequence[FileTimeline]) -> str:
    if not timelines:
        return ""
    parts = [f"<h2>Timelines ({len(timelines)} sample files, shortest to longest)</h2>"]
    for t in timelines:
        parts.append(f"<h3>{escape(t.file_id)}</h3><p class=\"muted\">{_seconds(t.duration)}, "
                     f"{len(t.speakers)} speakers, run {escape(t.run_id)}</p>")
        if not t.speakers:
            parts.append("<p>No speech found.</p>")
            continue
        parts.append(timeline([Panel("regular", t.regular), Panel("exclusive", t.exclusive)], t.speakers,
                              t.duration))
    return "\n".join(parts)


def _failures(failures: Sequence[Failure], most: int) -> str:
    if not failures:
        return "<h2>Failed files</h2><p>None.</p>"
    rows = [[_cell(f.file_id), _cell(f.error_type), f'<td class="msg">{escape(f.message)}</td>', _cell(f.path),
             _cell(f.run_date), _cell(f.run_id)] for f in failures[:most]]
    more = len(failures) - most
    note = f'<p class="muted">{more} more not shown.</p>' if more > 0 else ""
    return (f"<h2>Failed files ({len(failures)})</h2>"
            + _table(["file id", "error type", "message", "path", "run date", "run id"], rows) + note)
