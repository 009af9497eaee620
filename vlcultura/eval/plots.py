"""Report figures with matplotlib (Agg backend, no display): distributions, per-country bars,
win rates. Each function writes one PNG and returns its path."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from vlcultura.cards.plots import save_figure  # noqa: E402

DISTRIBUTION_METRICS = ("chrF++", "CIDEr-D", "ROUGE-L", "label coverage")


def _save(fig: Any, path: Path) -> Path:
    return save_figure(fig, path, dpi=110)


def distributions(per_image: list[dict], systems: list[str], path: Path) -> Path | None:
    """Histograms of per-image scores, one panel per metric, systems overlaid."""
    metrics = [m for m in DISTRIBUTION_METRICS if m in per_image[0][systems[0]]["scores"]]
    if not metrics:
        return None
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        values = {name: [r[name]["scores"][metric] for r in per_image if r[name]["scores"][metric] is not None]
                  for name in systems}
        edges = np.histogram_bin_edges([v for vs in values.values() for v in vs] or [0.0], bins=20)
        for name in systems:  # shared bins, so the systems' bars line up
            ax.hist(values[name], bins=edges, alpha=0.55, label=name)
        ax.set_title(metric)
        ax.set_xlabel("per-image score")
    axes[0][0].set_ylabel("images")
    axes[0][0].legend()
    return _save(fig, path)


def country_bars(breakdown: dict[str, Any], systems: list[str], metric: str, path: Path) -> Path | None:
    """One group of bars per country (system side by side) with 95% CI whiskers."""
    groups = [g for g, v in breakdown.items() if metric in v[systems[0]]]
    if not groups:
        return None
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(groups) * len(systems)), 3.4))
    width = 0.8 / len(systems)
    for k, name in enumerate(systems):
        cells = [breakdown[g][name][metric] for g in groups]
        values = [c["value"] or 0.0 for c in cells]
        errors = [[max(0.0, v - (c["ci_low"] if c["ci_low"] is not None else v)) for v, c in zip(values, cells)],
                  [max(0.0, (c["ci_high"] if c["ci_high"] is not None else v) - v) for v, c in zip(values, cells)]]
        ax.bar([i + k * width for i in range(len(groups))], values, width, yerr=errors, capsize=3, label=name)
    ax.set_xticks([i + width * (len(systems) - 1) / 2 for i in range(len(groups))],
                  [f"{g}\n(n={breakdown[g]['n']})" for g in groups])
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} by country (95% bootstrap CI)")
    ax.legend()
    return _save(fig, path)


def win_rates(comparison: dict[str, Any], name: str, path: Path) -> Path | None:
    """Share of images where `name` beats the base, per metric, with the 0.5 line of no effect."""
    items = [(m, c["win_rate"]) for m, c in comparison.items() if c["win_rate"] is not None]
    if not items:
        return None
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(items) + 1.2))
    ax.barh([m for m, _ in items], [v for _, v in items], color="tab:green")
    ax.axvline(0.5, color="black", linestyle="--", linewidth=1)
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"win rate of {name} over base (ties count half)")
    ax.invert_yaxis()
    return _save(fig, path)
