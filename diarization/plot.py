"""A timeline picture of a diarization (needs matplotlib: ``pip install "diarize-batch[plot]"``)."""

from __future__ import annotations

from pathlib import Path

from .result import Diarization


def plot_timeline(diarization: Diarization, path: str | Path, duration: float | None = None,
                  title: str | None = None) -> Path:
    """Draw one row per speaker, a bar per turn, and save it as an image (PNG by extension)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = diarization.labels()
    end = duration or max((turn.end for turn, _ in diarization), default=1.0)
    figure, axes = plt.subplots(figsize=(min(24.0, 4.0 + end / 10.0), 0.6 * max(len(labels), 1) + 1.2))
    colors = plt.get_cmap("tab10")
    for row, label in enumerate(labels):
        spans = [(turn.start, turn.duration) for turn, speaker in diarization if speaker == label]
        axes.broken_barh(spans, (row - 0.4, 0.8), color=colors(row % 10))
    axes.set_yticks(range(len(labels)), labels)
    axes.set_ylim(-0.8, max(len(labels), 1) - 0.2)
    axes.set_xlim(0, end)
    axes.set_xlabel("time (s)")
    axes.invert_yaxis()
    axes.set_title(title or diarization.uri)
    axes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
