"""Numbers a Dataset Card states, computed from the exported rows themselves (never typed in).

Counts by country, variety, topic, label and negative type; licenses (share-alike flagged);
lengths by label; judge score distributions; and a bias section: label and country imbalance,
registered varieties and countries with no rows, the desirable-longer length bias.
"""
from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping
from typing import Any

from vlcultura.cultures import COUNTRIES, VARIETIES

_META = ("country", "variety", "topic", "negative_type", "license", "source", "strategy", "backend", "model")


def completion_text(completion: Any) -> str:
    """The assistant text of a conversational or plain completion."""
    if isinstance(completion, str):
        return completion
    return " ".join(part.get("text") or "" for turn in completion for part in turn["content"])


def _rows(splits: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Light rows (no image decoding) from every split, tagged with their split."""
    out = []
    for name, ds in splits.items():
        cols = [c for c in (*_META, "label", "completion", "image_id", "judge_scores") if c in ds.column_names]
        for row in ds.select_columns(cols):
            row["split"] = name
            out.append(row)
    return out


def _count(rows: list[dict[str, Any]], key: str, missing: str = "none") -> dict[str, int]:
    return dict(Counter(str(r.get(key) or missing) for r in rows).most_common())


def _by_label(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for r in rows:
        cell = table.setdefault(str(r.get(key) or "none"), {"desirable": 0, "undesirable": 0})
        cell["desirable" if r["label"] else "undesirable"] += 1
    return dict(sorted(table.items(), key=lambda kv: -sum(kv[1].values())))


def _length(rows: list[dict[str, Any]], label: bool) -> float:
    lens = [len(completion_text(r["completion"]).split()) for r in rows if bool(r["label"]) == label]
    return round(statistics.mean(lens), 1) if lens else 0.0


def judge_distributions(rows: list[dict[str, Any]]) -> dict[str, dict[str, list[float]]]:
    """criterion -> {'desirable': scores, 'undesirable': scores} for rows the judge scored."""
    out: dict[str, dict[str, list[float]]] = {}
    for r in rows:
        for criterion, score in (r.get("judge_scores") or {}).items():
            if score is not None:
                side = "desirable" if r["label"] else "undesirable"
                out.setdefault(criterion, {"desirable": [], "undesirable": []})[side].append(float(score))
    return out


def bias_section(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Imbalances, missing varieties/countries and length bias, each as plain numbers."""
    countries = Counter(r.get("country") for r in rows if r.get("country"))
    varieties = Counter(r.get("variety") for r in rows if r.get("variety"))
    n_d = sum(bool(r["label"]) for r in rows)
    len_d, len_u = _length(rows, True), _length(rows, False)
    top = countries.most_common(1)[0] if countries else None
    return {
        "desirable_share": round(n_d / len(rows), 3) if rows else 0.0,
        "top_country": top[0] if top else None,
        "top_country_share": round(top[1] / sum(countries.values()), 3) if top else 0.0,
        "country_imbalance": round(max(countries.values()) / min(countries.values()), 2) if countries else None,
        "rows_without_country": sum(1 for r in rows if not r.get("country")),
        "missing_varieties": sorted(t for t, v in VARIETIES.items()
                                    if v.language in ("es", "pt") and t not in varieties and t != "es-419"),
        "missing_countries": sorted(COUNTRIES[c] for c in COUNTRIES if c not in countries),
        "mean_words_desirable": len_d,
        "mean_words_undesirable": len_u,
        "length_ratio": round(len_d / len_u, 3) if len_u else None,
    }


def card_stats(splits: Mapping[str, Any]) -> dict[str, Any]:
    """Everything the card template shows about the data."""
    rows = _rows(splits)
    licenses = _count(rows, "license", "not recorded")
    share_alike = {k: v for k, v in licenses.items() if "SA" in k.upper().replace("-", " ").split()}
    return {
        "n_rows": len(rows),
        "splits": {name: len(ds) for name, ds in splits.items()},
        "n_images": len({r["image_id"] for r in rows if r.get("image_id")}),
        "n_text_only": sum(1 for r in rows if not r.get("image_id")),
        "label": {"desirable": sum(bool(r["label"]) for r in rows),
                  "undesirable": sum(not r["label"] for r in rows)},
        "by_country": _by_label(rows, "country"),
        "by_variety": _by_label(rows, "variety"),
        "by_topic": _by_label(rows, "topic"),
        "by_negative_type": _count([r for r in rows if not r["label"]], "negative_type", "untyped"),
        "by_generator": _count([r for r in rows if r.get("image_id")], "model", "no model (offline backend)"),
        "by_backend": _count([r for r in rows if r.get("image_id")], "backend"),
        "licenses": licenses,
        "share_alike": share_alike,
        "judge": {c: {side: ({"n": len(v), "mean": round(statistics.mean(v), 2),
                              "min": min(v), "max": max(v)} if v else {"n": 0})
                      for side, v in sides.items()}
                  for c, sides in judge_distributions(rows).items()},
        "bias": bias_section(rows),
        "_rows": rows,
    }
