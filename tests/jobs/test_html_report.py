"""The HTML run report, built from an output written with the real Store class (hand-written rows, one
hostile file id) and read back with an HTML parser. A real job's output is covered in test_cli.py."""

from __future__ import annotations

from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from jobs.html_report import collect, duration_bars, render, speaker_bars, spread, write_html_report
from jobs.schema import table_of
from jobs.store import Store
from jobs.svg import Bar, Panel, Span, bar_chart, nice_step, timeline

RUN_DATE = "2026-11-25"
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>&amp;'


class Page(HTMLParser):
    """Tags, attributes, text and the text of each ``<svg>`` of a page."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.open: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in ("meta", "br", "line", "rect") or tag == "svg":
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if self.open and self.open[-1] == tag:
            self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def count(self, tag: str) -> int:
        return sum(1 for t, _ in self.tags if t == tag)

    @property
    def all_text(self) -> str:
        return " ".join(self.text)


def status_row(file_id: str, run_id: str, ok: bool, duration: float | None = None, speakers: int | None = None,
               error_type: str | None = None, message: str | None = None) -> dict[str, Any]:
    return {"file_id": file_id, "path": f"/calls/{file_id}.wav", "status": "ok" if ok else "error",
            "error_type": error_type, "error_message": message, "duration": duration, "num_speakers": speakers,
            "num_segments": 2 if ok else None, "processing_time": 1.0, "fingerprint": "fp", "run_id": run_id,
            "finished_at": datetime(2026, 11, 26, 2, 30, tzinfo=timezone.utc)}


def turn(file_id: str, run_id: str, speaker: str, start: float, end: float) -> dict[str, Any]:
    return {"file_id": file_id, "speaker": speaker, "start": start, "end": end, "duration": end - start,
            "run_id": run_id}


@pytest.fixture
def output(tmp_path: Path) -> str:
    """One run of 5 rows: 3 ok files (one with a hostile id), 2 errors (one with a hostile message)."""
    store = Store(str(tmp_path / "out"), RUN_DATE)
    run_id = "nightly-1"
    status = [status_row("short", run_id, True, 12.0, 1), status_row(HOSTILE, run_id, True, 30.0, 2),
              status_row("long", run_id, True, 300.0, 3),
              status_row("gone", run_id, False, error_type="not_found", message="/calls/gone.wav: no such file"),
              status_row("bad", run_id, False, error_type="decode_error", message=f"cannot decode {HOSTILE}")]
    segments = [turn("short", run_id, "SPEAKER_00", 0.5, 11.0), turn(HOSTILE, run_id, "SPEAKER_00", 0.0, 16.0),
                turn(HOSTILE, run_id, "SPEAKER_01", 14.0, 29.0), turn("long", run_id, "SPEAKER_02", 200.0, 290.0),
                turn("long", run_id, "SPEAKER_00", 0.0, 120.0), turn("long", run_id, "SPEAKER_01", 100.0, 210.0)]
    exclusive = [turn(HOSTILE, run_id, "SPEAKER_00", 0.0, 15.0), turn(HOSTILE, run_id, "SPEAKER_01", 15.0, 29.0)]
    store.commit_shard(f"{run_id}-000000", {"status": table_of("status", status),
                                            "segments": table_of("segments", segments),
                                            "exclusive": table_of("exclusive", exclusive)})
    store.write_run_report(run_id, {
        "run_id": run_id, "run_date": RUN_DATE, "manifest": "s3://calls/2026-11-25/*.wav", "wall_seconds": 20.0,
        "real_time_factor": 20.0 / 342.0, "stages": {"decode": {"seconds": 2.0, "files": 5},
                                                     "segmentation": {"seconds": 4.0, "files": 3}}})
    return store.url


def test_page_shows_totals_runs_errors_and_failures(output: str) -> None:
    page = Page(render(collect(output)))
    text = page.all_text
    assert "s3://calls/2026-11-25/*.wav" in text  # the prefix that was read
    for number, label in (("5", "files"), ("3", "ok"), ("2", "failed"), ("0.10", "hours of audio"),
                          ("20.0 s", "wall time"), ("0.0585", "real-time factor")):
        assert f"{number} {label}" in text, label
    assert "not_found" in text and "decode_error" in text and "/calls/gone.wav: no such file" in text
    assert "Failed files (2)" in text
    assert "segmentation 4.0 3 0.75 85.5" in text  # worker s, files, files per worker s, audio s per worker s


def test_every_string_from_the_data_is_escaped(output: str) -> None:
    html = render(collect(output))
    page = Page(html)
    assert page.count("script") == page.count("img") == 0 and "<script>" not in html and "<img" not in html
    assert HOSTILE in page.text  # the file id, as its timeline's heading
    assert f"cannot decode {HOSTILE}" in page.text  # the error message


def test_page_is_self_contained(output: str) -> None:
    page = Page(render(collect(output)))
    for _, attributes in page.tags:
        assert not {"src", "href"} & attributes.keys()
    [csp] = [a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert not page.open  # every element that was opened was closed


def test_histograms_and_timelines(output: str) -> None:
    data = collect(output, samples=2)
    assert sorted(data.durations.tolist()) == [12.0, 30.0, 300.0] and sorted(data.speaker_counts) == [1, 2, 3]
    assert [t.file_id for t in data.timelines] == ["short", "long"]  # the shortest and the longest
    long = data.timelines[1]
    assert long.speakers == ("SPEAKER_00", "SPEAKER_01", "SPEAKER_02") and len(long.regular) == 3
    assert long.exclusive == ()
    page = Page(render(collect(output, samples=3)))
    assert page.count("svg") == 2 + 3  # two histograms, three timelines
    assert "regular" in page.all_text and "exclusive" in page.all_text
    hostile = next(t for t in collect(output, samples=3).timelines if t.file_id == HOSTILE)
    assert [s.speaker for s in hostile.exclusive] == ["SPEAKER_00", "SPEAKER_01"]


def test_write_to_a_file_and_an_empty_output(output: str, tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    write_html_report(str(target), output, run_date=RUN_DATE)
    assert Page(target.read_text()).count("svg") == 5
    empty = Page(render(collect(str(tmp_path / "nothing"))))
    assert "No committed results found." in empty.all_text


def test_report_command_fills_the_run_date_into_the_html_path(output: str, tmp_path: Path) -> None:
    from jobs.cli import main

    assert main(["report", output, "--run-date", RUN_DATE, "--html", str(tmp_path / "{run_date}.html")]) == 0
    assert "Failed files (2)" in Page((tmp_path / f"{RUN_DATE}.html").read_text()).all_text


def test_chart_helpers() -> None:
    assert spread(0, 3) == [] and spread(1, 3) == [0] and spread(10, 3) == [0, 4, 9] and spread(3, 9) == [0, 1, 2]
    assert [nice_step(e) for e in (7, 60, 999, 3600)] == [1, 10, 200, 500]
    bars = duration_bars(np.array([1.0, 2.0, 2.5, 100.0]))
    assert sum(b.count for b in bars) == 4 and len(bars) <= 24
    assert speaker_bars(np.array([2, 2, 0, 4])) == [Bar("0", 1), Bar("1", 0), Bar("2", 2), Bar("3", 0), Bar("4", 1)]
    chart = Page(bar_chart([Bar("<a>", 3), Bar("b", 0)], "x <axis>", "files"))
    assert chart.count("rect") == 2 and "<a>: 3" in chart.all_text and "x <axis>" in chart.all_text
    picture = Page(timeline([Panel("regular", [Span("A", 0.0, 5.0), Span("B", 4.0, 9.0)])], ["A", "B"], 10.0))
    bars = [a for t, a in picture.tags if t == "rect" and a.get("fill") not in ("#f6f6f6",)]
    assert len(bars) == 2 and float(bars[1]["x"]) > float(bars[0]["x"])
