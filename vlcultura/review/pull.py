"""`vlcultura review pull`: submitted reviews back into a reviewed dataset, with an agreement report.

Only SUBMITTED responses count (drafts and discards are ignored). Per record, the reviewers'
labels go through the conflict policy (`policy.py`); the original row follows the resolved
label, and every distinct correction becomes a new desirable row (strategy "review") on the same
image, whatever the policy decided about the original. The reviewed rows are joined to the local
candidates dataset by the stable record id, so the images come from disk, not from the server.
"""
from __future__ import annotations

import hashlib
import warnings
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import mean
from typing import Any

import argilla as rg

from vlcultura.config import ReviewConfig
from vlcultura.review.client import api_url, connect, reachable
from vlcultura.review.policy import Vote, agreement, resolve
from vlcultura.review.report import write_report
from vlcultura.review.schema import (ACCURACY, CORRECTION, DESIRABLE, FLAG_TYPES, FLAGS, LABEL, load_candidates,
                                     record_id)


@dataclass
class PullReport:
    """Counts of what the pull did, the agreement statistics and the policy that was applied."""

    dataset: str
    api_url: str
    policy: dict[str, Any]
    reviewed_records: int = 0
    rows_written: int = 0
    kept_desirable: int = 0
    kept_undesirable: int = 0
    flipped: int = 0
    corrections: int = 0
    unresolved_excluded: int = 0
    unresolved_to_undesirable: int = 0
    too_few_reviews: int = 0
    unknown_records: int = 0
    reviews_per_reviewer: dict[str, int] = field(default_factory=dict)
    agreement: dict[str, Any] = field(default_factory=dict)
    message: str = ""


def fetch_votes(client: rg.Argilla, config: ReviewConfig) -> dict[str, list[Vote]]:
    """{record id: submitted votes} for every record with at least one submitted response."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "not found" and per-response "user_id not provided" notices
        dataset = _review_dataset(client, config)
        usernames = {u.id: u.username for u in client.users}
        query = rg.Query(filter=rg.Filter([("response.status", "==", "submitted")]))
        votes: dict[str, list[Vote]] = {}
        for record in dataset.records(query=query, with_responses=True, with_suggestions=False):
            answers: dict[Any, dict[str, Any]] = defaultdict(dict)
            for response in record.responses:
                if getattr(response.status, "value", response.status) == "submitted":
                    answers[response.user_id][response.question_name] = response.value
            found = [Vote(reviewer=usernames.get(uid, str(uid)), label=a[LABEL], rating=a.get(ACCURACY),
                          correction=(a.get(CORRECTION) or "").strip() or None, flags=tuple(a.get(FLAGS) or ()))
                     for uid, a in answers.items() if LABEL in a]
            if found:
                votes[str(record.id)] = found
    return votes


def _review_dataset(client: rg.Argilla, config: ReviewConfig) -> rg.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the SDK warns on "not found"
        dataset = client.datasets(config.dataset_name, workspace=config.workspace)
    if dataset is None:
        raise ValueError(f"no dataset {config.dataset_name!r} in workspace {config.workspace!r} at "
                         f"{api_url(config)}: run `vlcultura review push` first")
    return dataset


def review_progress(config: ReviewConfig) -> dict[str, int]:
    """{"total", "completed", "pending"}: records with `min_submitted` submitted reviews, and the rest."""
    client = connect(config)
    with reachable(api_url(config)):
        progress = _review_dataset(client, config).progress()
    return {k: int(progress.get(k, 0)) for k in ("total", "completed", "pending")}


def correction_row(reviewed: dict[str, Any], text: str) -> dict[str, Any]:
    """A reviewer's corrected description: a new desirable row on the same image."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    return {**reviewed, "id": f"{reviewed['id']}~review~{digest}", "completion": text, "label": True,
            "negative_type": None, "strategy": "review", "backend": "argilla", "model": None, "ledger_key": None,
            "review_cultural_accuracy": None, "review_flags": [],
            **{c: None for c in reviewed if c.startswith("judge_")}}


def review_row(row: dict[str, Any], votes: list[Vote], label: str) -> dict[str, Any]:
    """The original row, following the reviewers' label (a flag becomes its negative type)."""
    desirable = label == DESIRABLE
    flags = sorted({f for v in votes for f in v.flags})
    negative = None if desirable else (row.get("negative_type") or next((f for f in FLAG_TYPES if f in flags), None))
    ratings = [v.rating for v in votes if v.rating is not None]
    return {**row, "label": desirable, "negative_type": negative, "review_votes": len(votes),
            "review_unanimous": len({v.label for v in votes}) == 1,
            "review_cultural_accuracy": mean(ratings) if ratings else None, "review_flags": flags}


def apply_reviews(rows: Any, votes: dict[str, list[Vote]], config: ReviewConfig, report: PullReport) -> list[dict]:
    """Reviewed rows (originals that survived the policy + corrections), updating `report`."""
    out = []
    by_record = {record_id(cid): i for i, cid in enumerate(rows["id"])}
    report.unknown_records = len(set(votes) - set(by_record))
    per_reviewer: Counter[str] = Counter()
    for rid, record_votes in votes.items():
        if rid not in by_record:
            continue
        per_reviewer.update(v.reviewer for v in record_votes)
        if len(record_votes) < config.min_submitted:
            report.too_few_reviews += 1
            continue
        report.reviewed_records += 1
        row = rows[by_record[rid]]
        label, settled = resolve([v.label for v in record_votes], config.conflict_policy, config.unresolved)
        if not settled:
            report.unresolved_excluded += label is None
            report.unresolved_to_undesirable += label is not None
        if label is not None:
            reviewed = review_row(row, record_votes, label)
            report.flipped += reviewed["label"] != row["label"]
            report.kept_desirable += reviewed["label"]
            report.kept_undesirable += not reviewed["label"]
            out.append(reviewed)
        for text in dict.fromkeys(v.correction for v in record_votes if v.correction):
            if text != row["completion"]:
                out.append(correction_row(review_row(row, record_votes, DESIRABLE), text))
                report.corrections += 1
    report.reviews_per_reviewer = dict(sorted(per_reviewer.items()))
    report.agreement = agreement([{v.reviewer: v.label for v in vs} for vs in votes.values()])
    return out


def reviewed_dataset(rows: Any, reviewed: list[dict[str, Any]]) -> Any:
    """The reviewed rows with the candidates' schema plus the review columns (also when empty)."""
    import datasets

    features = rows.features.copy()
    features.update({"image": datasets.Image(), "review_votes": datasets.Value("int32"),
                     "review_unanimous": datasets.Value("bool"),
                     "review_cultural_accuracy": datasets.Value("float64"),
                     "review_flags": datasets.List(datasets.Value("string"))})
    return datasets.Dataset.from_dict({name: [row[name] for row in reviewed] for name in features}, features=features)


def pull(candidates: Any, output_dir: str | Path, config: ReviewConfig) -> PullReport:
    """Write `<output_dir>/reviewed` (a datasets dataset) and the report; returns the report."""
    rows = load_candidates(candidates)
    url = api_url(config)
    report = PullReport(dataset=config.dataset_name, api_url=url,
                        policy={"conflict_policy": config.conflict_policy, "unresolved": config.unresolved,
                                "min_submitted": config.min_submitted})
    client = connect(config)
    with reachable(url):
        votes = fetch_votes(client, config)
    out = reviewed_dataset(rows, apply_reviews(rows, votes, config, report))
    report.rows_written = len(out)
    if not votes:
        report.message = (f"nothing reviewed yet: no submitted responses in {config.dataset_name!r} at {url}; "
                          "reviewers must press Submit in the Argilla UI (drafts do not count)")
    output = Path(output_dir)
    # one shard even when empty: datasets writes none otherwise, and cannot load that back
    out.save_to_disk(str(output / "reviewed"), num_shards=1 if len(out) == 0 else None)
    write_report(asdict(report), output)
    return report
