"""Turn scored systems into one JSON-able summary: CIs, paired comparisons, breakdowns.

This is the single source the Markdown/HTML report, the plots and the Model Card's
model-index are rendered from, so every number appears once and identically everywhere.
"""
from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any, Sequence

from vlcultura.eval.metrics.base import MetricResult
from vlcultura.eval.scoring import SystemScores
from vlcultura.eval.stats import bootstrap_ci, group_indices, paired_bootstrap

BREAKDOWN_METRICS = ("chrF++", "CIDEr-D", "BLEU-4", "label coverage", "variety fidelity", "generic rate")
LOWER_IS_BETTER = frozenset({"generic rate", "stereotype rate"})


def _finite(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), 6)


def _interval(metric: MetricResult, samples: int, seed: int, subset: Sequence[int] | None = None) -> dict:
    ci = bootstrap_ci(metric, samples, seed, subset=subset)
    return {"value": _finite(ci.value), "ci_low": _finite(ci.low), "ci_high": _finite(ci.high)}


def summarize(systems: dict[str, SystemScores], countries: Sequence[str | None],
              varieties: Sequence[str | None], samples: int = 1000, seed: int = 0,
              baseline: str = "base", info: dict[str, Any] | None = None) -> dict[str, Any]:
    """Metrics with bootstrap CIs per system, paired comparisons against `baseline`, breakdowns."""
    names = list(systems)
    first = systems[names[0]]
    for name in names[1:]:
        if systems[name].ids != first.ids:
            raise ValueError(f"system {name!r} was scored on other images than {names[0]!r}")
    summary: dict[str, Any] = {
        "info": {**(info or {}), "images": len(first.ids), "bootstrap_samples": samples, "seed": seed},
        "systems": {}, "comparisons": {}, "breakdowns": {}, "notes": {},
    }
    for name, scores in systems.items():
        summary["systems"][name] = {m: _interval(r, samples, seed) for m, r in scores.metrics.items()}
        summary["notes"][name] = scores.notes
    for name in names:
        if name == baseline or baseline not in systems:
            continue
        base = systems[baseline].metrics
        summary["comparisons"][name] = {
            m: _comparison(base[m], r, samples, seed) for m, r in systems[name].metrics.items() if m in base}
    for key, values in (("country", countries), ("variety", varieties)):
        groups = group_indices(values)
        if list(groups) == ["unknown"]:
            continue  # no metadata: nothing to break down
        summary["breakdowns"][key] = {
            group: {"n": len(idx), **{name: {m: _interval(s.metrics[m], samples, seed, idx)
                                              for m in BREAKDOWN_METRICS if m in s.metrics}
                                       for name, s in systems.items()}}
            for group, idx in groups.items()}
    return summary


def _comparison(base: MetricResult, tuned: MetricResult, samples: int, seed: int) -> dict:
    c = paired_bootstrap(base, tuned, samples, seed)
    out = asdict(c)
    out["delta"] = {k: _finite(v) for k, v in out["delta"].items()}
    out = {k: (_finite(v) if isinstance(v, float) else v) for k, v in out.items()}
    if base.name in LOWER_IS_BETTER:  # a win is a lower score here
        out["win_rate"] = _finite(1 - c.win_rate) if not math.isnan(c.win_rate) else None
        out["wins"], out["losses"] = c.losses, c.wins
    out["lower_is_better"] = base.name in LOWER_IS_BETTER
    return out


def per_image_rows(systems: dict[str, SystemScores], references: Sequence[Sequence[str]],
                   countries: Sequence[str | None], varieties: Sequence[str | None]) -> list[dict]:
    """One row per image: every system's caption and per-image scores (for audit and the gallery)."""
    names = list(systems)
    rows = []
    for i, image_id in enumerate(systems[names[0]].ids):
        row: dict[str, Any] = {"id": image_id, "country": countries[i], "variety": varieties[i],
                               "references": list(references[i])}
        for name, s in systems.items():
            row[name] = {"caption": s.predictions[i],
                         "scores": {m: _finite(r.per_item[i]) for m, r in s.metrics.items()}}
            if s.cultural:
                row[name]["cultural"] = asdict(s.cultural[i])
                row[name]["cultural"]["label_coverage"] = _finite(s.cultural[i].label_coverage)
        rows.append(row)
    return rows


def merged_notes(summary: dict[str, Any]) -> list[str]:
    """Notes once each: those every system shares as they are, the others prefixed by system."""
    per_system = summary.get("notes", {})
    shared = set.intersection(*(set(n) for n in per_system.values())) if per_system else set()
    out = [n for n in next(iter(per_system.values()), []) if n in shared]
    out += [f"{name}: {n}" for name, notes in per_system.items() for n in notes if n not in shared]
    return out
