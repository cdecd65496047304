"""Inline SVG charts for the HTML run report: a bar chart and a speaker timeline.

Pure functions from typed records to SVG text (no JavaScript, no external resources). Every string that
comes from data (file ids, speaker labels, bar labels) is escaped here, so a caller can paste the result
into HTML as it is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")
FONT = 'font-family="sans-serif" font-size="11"'


@dataclass(frozen=True)
class Bar:
    """One bar of a bar chart: its label under the axis and its height."""

    label: str
    count: int


@dataclass(frozen=True)
class Span:
    """One speaker turn of a timeline, in seconds."""

    speaker: str
    start: float
    end: float


@dataclass(frozen=True)
class Panel:
    """One block of a timeline: a title and its turns (one row per speaker of the timeline)."""

    title: str
    spans: Sequence[Span]


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def nice_step(extent: float, most_ticks: int = 8) -> float:
    """A round tick spacing (1, 2 or 5 times a power of ten) giving at most ``most_ticks`` ticks."""
    if extent <= 0:
        return 1.0
    raw = extent / most_ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _number(value: float) -> str:
    return f"{value:g}"


def bar_chart(bars: Sequence[Bar], x_label: str, y_label: str, width: int = 460, height: int = 220) -> str:
    """Vertical bars with a count axis; at most ~10 bar labels are written (every k-th one)."""
    left, right, top, bottom = 44, 10, 10, 42
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((b.count for b in bars), default=0) or 1
    step = nice_step(peak, 5)
    parts = [_opening(width, height, x_label)]
    for tick in _ticks(peak, step):
        y = top + plot_h - plot_h * tick / peak
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
                     f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{_number(tick)}</text>')
    slot = plot_w / max(len(bars), 1)
    every = max(1, math.ceil(len(bars) / 10))
    for i, bar in enumerate(bars):
        h = plot_h * bar.count / peak
        x = left + i * slot
        label = escape(bar.label)
        parts.append(f'<rect x="{x + 1:.1f}" y="{top + plot_h - h:.1f}" width="{max(slot - 2, 1):.1f}" '
                     f'height="{h:.1f}" fill="{color(0)}"><title>{label}: {bar.count}</title></rect>')
        if i % every == 0:
            parts.append(f'<text x="{x + slot / 2:.1f}" y="{top + plot_h + 14}" text-anchor="middle">{label}</text>')
    parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#333"/>'
                 f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle">{escape(x_label)}</text>'
                 f'<text x="12" y="{top + plot_h / 2:.1f}" text-anchor="middle" '
                 f'transform="rotate(-90 12 {top + plot_h / 2:.1f})">{escape(y_label)}</text></svg>')
    return "".join(parts)


def timeline(panels: Sequence[Panel], speakers: Sequence[str], duration: float, width: int = 900) -> str:
    """Stacked panels (e.g. the regular and the exclusive diarization) with one row per speaker and a
    shared time axis in seconds; each turn is a bar in its speaker's colour."""
    row_h, head_h, left, right, axis_h = 16, 18, 110, 12, 26
    rows = max(len(speakers), 1)
    panel_h = head_h + rows * row_h
    height = len(panels) * panel_h + axis_h
    plot_w = width - left - right
    end = duration if duration > 0 else max((s.end for p in panels for s in p.spans), default=1.0) or 1.0
    scale = plot_w / end
    index = {speaker: i for i, speaker in enumerate(speakers)}
    parts = [_opening(width, height, "speaker timeline")]
    for tick in _ticks(end, nice_step(end, 10)):
        x = left + tick * scale
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{height - axis_h}" stroke="#eee"/>'
                     f'<text x="{x:.1f}" y="{height - axis_h + 14}" text-anchor="middle">{_number(tick)}</text>')
    for p, panel in enumerate(panels):
        y0 = p * panel_h
        parts.append(f'<text x="4" y="{y0 + 13}" font-weight="bold">{escape(panel.title)}</text>')
        for speaker, row in index.items():
            y = y0 + head_h + row * row_h
            parts.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end">{escape(speaker)}</text>'
                         f'<rect x="{left}" y="{y + 1}" width="{plot_w}" height="{row_h - 2}" fill="#f6f6f6"/>')
        for span in panel.spans:
            row = index.get(span.speaker)
            if row is None:
                continue
            y = y0 + head_h + row * row_h
            tip = escape(f"{span.speaker} {span.start:.2f}-{span.end:.2f} s")
            parts.append(f'<rect x="{left + span.start * scale:.2f}" y="{y + 2}" '
                         f'width="{max((span.end - span.start) * scale, 0.5):.2f}" height="{row_h - 4}" '
                         f'fill="{color(row)}"><title>{tip}</title></rect>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 2}" text-anchor="middle">time (s)</text></svg>')
    return "".join(parts)


def _opening(width: int, height: int, label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}" {FONT}>')


def _ticks(extent: float, step: float) -> list[float]:
    return [i * step for i in range(int(extent / step + 1e-9) + 1)]
