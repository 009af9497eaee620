"""The Dataset Card, rendered from the exported data and the stage reports.

Every number in it comes from the rows (`vlcultura.cards.stats`) or from a report a stage wrote
(filters, judge, Arena, review); the template (`templates/dataset_card.md`) only arranges them.
The result parses as a huggingface_hub `DatasetCard` and is checked by `validate_card`.
"""
from __future__ import annotations

import importlib.metadata
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vlcultura.cards import plots
from vlcultura.cards.stats import card_stats, judge_distributions
from vlcultura.data.report import StageReport

TEMPLATE = Path(__file__).parent / "templates" / "dataset_card.md"
PROMPTS_TEMPLATE = Path(__file__).parent / "templates" / "prompts_card.md"
LIBRARIES = {
    "vlcultura": None, "datasets": "https://github.com/huggingface/datasets",
    "huggingface_hub": "https://github.com/huggingface/huggingface_hub",
    "cohere": "https://github.com/cohere-ai/cohere-python", "argilla": "https://github.com/argilla-io/argilla",
    "datasketch": "https://github.com/ekzhu/datasketch", "pillow": "https://github.com/python-pillow/Pillow",
    "trl": "https://github.com/huggingface/trl",
}
REQUIRED_SECTIONS = ("## Motivation", "## Pipeline", "## Composition", "## Licenses", "## Bias")


class CardError(ValueError):
    """The card does not parse or lacks what the challenge asks for."""


def library_versions() -> list[dict[str, str | None]]:
    """Installed versions of the libraries the pipeline used (missing ones are left out)."""
    out = []
    for name, url in LIBRARIES.items():
        try:
            out.append({"name": name, "version": importlib.metadata.version(name), "url": url})
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def _size_category(n: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return label
    return "100K<n<1M"


def review_summary(review: Mapping[str, Any] | None, n_image_rows: int) -> dict[str, Any] | None:
    """The review numbers a card shows, from `vlcultura review pull`'s review_report.json.

    Reviewer names are left out (they are people, not statistics).
    """
    if not review:
        return None
    agreement = review.get("agreement") or {}
    reviewed = review.get("reviewed_records") or 0
    pct, kappa = agreement.get("percent_agreement"), agreement.get("fleiss_kappa")
    return {
        "records reviewed": reviewed,
        "coverage (reviewed / image rows exported)": f"{reviewed / n_image_rows:.1%}" if n_image_rows else "n/a",
        "labels flipped by reviewers": review.get("flipped", 0),
        "corrections (new desirable rows)": review.get("corrections", 0),
        "unresolved conflicts": (review.get("unresolved_excluded") or 0) + (review.get("unresolved_to_undesirable") or 0),
        "records with two or more reviews": agreement.get("records_with_several_reviews", 0),
        "percent agreement": "n/a" if pct is None else f"{pct:.1f} %",
        "Fleiss' kappa": "n/a" if kappa is None else f"{kappa:.3f}",
    }


def render_dataset_card(splits: Mapping[str, Any], *, repo_id: str, license: str = "apache-2.0",
                        weights: Mapping[str, Any] | None = None,
                        reports: Sequence[StageReport] = (), review: Mapping[str, Any] | None = None,
                        prompts_repo_id: str | None = None, code_url: str | None = None,
                        motivation: str | None = None, plots_dir: str | Path | None = None) -> str:
    """Markdown with YAML front matter; PNG plots go to `plots_dir` (linked as `plots/...`)."""
    from huggingface_hub import DatasetCard, DatasetCardData

    stats = card_stats(splits)
    rows = stats.pop("_rows")
    languages = sorted({(v or "").split("-")[0] for v in stats["by_variety"] if v != "none"}) or ["es"]
    data = DatasetCardData(
        language=languages, license=license, pretty_name=repo_id.split("/")[-1],
        task_categories=["image-to-text"], size_categories=[_size_category(stats["n_rows"])],
        tags=["kto", "preference", "vision-language", "culture", "vlcultura", "somosnlp-hackathon-2026"],
        configs=[{"config_name": "default",
                  "data_files": [{"split": s, "path": f"data/{s}-*"} for s in splits]}],
    )
    figures: dict[str, str] = {}
    if plots_dir is not None:
        folder = Path(plots_dir)
        folder.mkdir(parents=True, exist_ok=True)
        plots.labels_by(stats["by_country"], "rows by country", folder / "labels_by_country.png")
        figures["labels_by_country"] = "plots/labels_by_country.png"
        dist = judge_distributions(rows)
        if dist:
            plots.judge_histograms(dist, folder / "judge_scores.png")
            figures["judge_scores"] = "plots/judge_scores.png"
    by_stage = {r.stage: r for r in reports}
    card = DatasetCard.from_template(
        data, template_path=str(TEMPLATE), repo_id=repo_id, stats=stats, weights=weights,
        reports=by_stage, review=review_summary(review, stats["n_rows"] - stats["n_text_only"]),
        prompts_repo_id=prompts_repo_id, code_url=code_url,
        motivation=motivation, libraries=library_versions(), figures=figures,
    )
    return str(card)


def render_prompts_card(prompts: Any, *, repo_id: str, kto_repo_id: str,
                        license: str = "apache-2.0") -> str:
    """The short card of the `*_prompts` dataset: counts and the link to its KTO dataset."""
    from huggingface_hub import DatasetCard, DatasetCardData

    from vlcultura.data.names import MIN_PROMPTS

    light = prompts.select_columns([c for c in ("country", "variety", "topic") if c in prompts.column_names])
    counts = {f"by_{k}": dict(Counter(str(v or "none") for v in light[k]).most_common()) if k in
              light.column_names else {} for k in ("country", "variety", "topic")}
    languages = sorted({v.split("-")[0] for v in counts["by_variety"] if v != "none"}) or ["es"]
    data = DatasetCardData(
        language=languages, license=license, pretty_name=repo_id.split("/")[-1],
        task_categories=["image-to-text"], size_categories=[_size_category(len(prompts))],
        tags=["prompts", "vision-language", "culture", "vlcultura", "somosnlp-hackathon-2026"],
        configs=[{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}]}])
    return str(DatasetCard.from_template(data, template_path=str(PROMPTS_TEMPLATE), repo_id=repo_id,
                                         kto_repo_id=kto_repo_id, n_prompts=len(prompts),
                                         min_prompts=MIN_PROMPTS, **counts))


def validate_card(text: str, *, sections: Sequence[str] = REQUIRED_SECTIONS, remote: bool = False) -> Any:
    """Parse with huggingface_hub's `DatasetCard` and check what the challenge requires.

    `remote=True` also runs the Hub's own validator (needs the network).
    """
    from huggingface_hub import DatasetCard

    from vlcultura.cards.checks import check_card  # imports CardError from here: import late

    return check_card(text, DatasetCard, required=("license", "language", "configs"), sections=sections,
                      repo_type="dataset", remote=remote)
