"""`vlcultura review push`: candidates (or judged rows) into an Argilla dataset, in resumable batches.

Each batch is an upsert keyed by the stable record id, then written to the journal. A server that
vanishes is waited for (`retry_wait_s`, with backoff); if it stays away the push stops with a
clear `ArgillaUnreachable`, and running it again sends only what the journal does not have. A
row that cannot be turned into a record (an undecodable image) is reported with its reason and
the rest goes on.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import argilla as rg
from rich.progress import Progress

from vlcultura.config import ReviewConfig
from vlcultura.records import Rejection
from vlcultura.review.client import ArgillaUnreachable, api_url, connect, reachable
from vlcultura.review.journal import PushJournal
from vlcultura.review.schema import build_record, dataset_settings, judge_columns, load_candidates, record_id

T = TypeVar("T")
MAX_BATCH_CHARS = 16_000_000  # base64 image characters per upsert request


@dataclass
class PushReport:
    """What a push did; `rejected` holds the rows left out and why."""

    dataset_id: str
    total: int
    sent: int = 0
    already_sent: int = 0
    rejected: list[Rejection] = field(default_factory=list)


def default_journal(candidates_path: str | Path) -> Path:
    return Path(candidates_path).resolve().parent / "review_push.sqlite"


def with_retry(call: Callable[[], T], url: str, wait_s: float) -> T:
    """Run `call`, waiting up to `wait_s` (exponential backoff) for an unreachable server."""
    deadline, delay = time.monotonic() + wait_s, 0.25
    while True:
        try:
            with reachable(url):
                return call()
        except ArgillaUnreachable:
            if time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 4.0)


def get_or_create_dataset(client: rg.Argilla, config: ReviewConfig, judge_cols: list[str]) -> rg.Dataset:
    """The review dataset, created with vlcultura's settings the first time."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the SDK warns on every "not found"
        workspace = client.workspaces(config.workspace)
        if workspace is None:
            raise ValueError(f"workspace {config.workspace!r} not found on {api_url(config)}: create it in "
                             "Argilla or set review.workspace")
        dataset = client.datasets(config.dataset_name, workspace=workspace)
    if dataset is not None:
        return dataset
    settings = dataset_settings(judge_cols, config.guidelines_languages, config.min_submitted)
    return rg.Dataset(name=config.dataset_name, workspace=workspace, settings=settings, client=client).create()


def push(candidates: Any, config: ReviewConfig, journal_path: str | Path,
         on_batch: Callable[[int], None] | None = None) -> PushReport:
    """Push a candidates dataset (path or `datasets.Dataset`) for review; returns what was sent.

    `on_batch(records_sent_so_far)` runs after each acknowledged batch (progress hooks).
    """
    rows = load_candidates(candidates)
    judge_cols = judge_columns(rows.column_names)
    url = api_url(config)
    client = with_retry(lambda: connect(config), url, config.retry_wait_s)
    dataset = with_retry(lambda: get_or_create_dataset(client, config, judge_cols), url, config.retry_wait_s)
    journal = PushJournal(journal_path)
    try:
        todo = _missing(rows["id"], journal.done(str(dataset.id)))
        report = PushReport(dataset_id=str(dataset.id), total=len(rows), already_sent=len(rows) - len(todo))
        with Progress(transient=True) as progress, warnings.catch_warnings():
            # the server echoes reviews already given; the SDK warns about each one it parses
            warnings.filterwarnings("ignore", message="`user_id` not provided")
            task = progress.add_task(f"push to {url}", total=len(todo))
            for records, rows_done in _batches(rows, todo, judge_cols, config.batch_size, report):
                if records:
                    with_retry(partial(dataset.records.log, records, batch_size=len(records)), url,
                               config.retry_wait_s)
                    journal.mark(report.dataset_id, [str(r.id) for r in records])
                    report.sent += len(records)
                progress.advance(task, rows_done)
                if on_batch is not None:
                    on_batch(report.sent)
    finally:
        journal.close()
    return report


def _missing(candidate_ids: list[str], done: set[str]) -> list[int]:
    """Row indices still to send: not in the journal, and each record id once."""
    todo, seen = [], set(done)
    for index, cid in enumerate(candidate_ids):
        rid = record_id(cid)
        if rid not in seen:
            seen.add(rid)
            todo.append(index)
    return todo


def _batches(rows: Any, todo: list[int], judge_cols: list[str], batch_size: int,
             report: PushReport) -> Iterator[tuple[list[rg.Record], int]]:
    """(records, rows consumed) per request: at most `batch_size` records and ~MAX_BATCH_CHARS of
    images, so a batch of large photos stays a reasonable request for a Space's proxy."""
    batch: list[rg.Record] = []
    chars = consumed = 0
    for index in todo:
        row = rows[index]
        consumed += 1
        try:
            batch.append(build_record(row, judge_cols))
        except (OSError, ValueError) as exc:  # PIL: undecodable or truncated image; pydantic: bad row
            report.rejected.append(Rejection(
                source=str(row.get("id")), reason="unreviewable_row",
                detail=f"left out of the review: {exc}; fix or re-ingest the image and push again"))
            continue
        chars += 4 * len(row["image"].get("bytes") or b"") // 3
        if len(batch) >= batch_size or chars >= MAX_BATCH_CHARS:
            yield batch, consumed
            batch, chars, consumed = [], 0, 0
    if batch or consumed:
        yield batch, consumed
