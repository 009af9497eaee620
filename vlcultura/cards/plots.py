"""PNG figures for the Dataset Card (matplotlib, headless Agg backend)."""
from __future__ import annotations

from pathlib import Path
from typing import Any


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path, dpi: int = 100) -> Path:
    """Lay out, write and close one figure (an unclosed figure stays in memory); returns the path.

    The Dataset Card's plots and the evaluation report's share it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    _pyplot().close(fig)
    return path


def labels_by(table: dict[str, dict[str, int]], title: str, path: Path) -> Path:
    """Stacked bars of desirable/undesirable rows per category (country, variety...)."""
    plt = _pyplot()
    names = list(table)
    d = [table[n]["desirable"] for n in names]
    u = [table[n]["undesirable"] for n in names]
    fig, ax = plt.subplots(figsize=(max(4, 0.6 * len(names) + 2), 3.2))
    ax.bar(names, d, label="desirable", color="#2a9d8f")
    ax.bar(names, u, bottom=d, label="undesirable", color="#e76f51")
    ax.set_title(title)
    ax.set_ylabel("rows")
    ax.legend()
    ax.tick_params(axis="x", rotation=45)
    return save_figure(fig, path)


def judge_histograms(dist: dict[str, dict[str, list[float]]], path: Path) -> Path:
    """One histogram per rubric criterion, desirable vs undesirable (scores 1-5)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(dist), figsize=(3 * len(dist), 2.8), squeeze=False)
    bins = [0.5, 1.5, 2.5, 3.5, 4.5, 5.5]
    for ax, (criterion, sides) in zip(axes[0], sorted(dist.items())):
        ax.hist([sides["desirable"], sides["undesirable"]], bins=bins, label=["desirable", "undesirable"],
                color=["#2a9d8f", "#e76f51"])
        ax.set_title(criterion, fontsize=9)
        ax.set_xticks([1, 2, 3, 4, 5])
    axes[0][0].legend(fontsize=7)
    return save_figure(fig, path)
