"""The ledger: every paid request, idempotent, resumable and inside a USD budget (SQLite).

How another stage (the judge, an embedder...) uses it::

    ledger = Ledger(path, budget_usd=20.0, prices=cohere_config.prices)
    key = request_key(backend="cohere", model=m, prompt_version="judge-v1",
                      image_sha256=img.sha256, strategy="judge:<candidate id>", seed=7)
    entry = await ledger.run(key, stage="judge", backend="cohere", model=m,
                             estimate=Usage(input_tokens=2_000, output_tokens=300),
                             call=lambda: chat.complete(messages, schema))
    entry.response  # the validated JSON answer, also on a re-run (not paid again)

`run` returns the stored answer when the key is already done; otherwise it reserves the
*estimated worst-case* cost inside one SQLite write transaction (so concurrent callers, even other
processes, can never together pass the cap), makes the call, and settles the real cost from the
usage the call returns. `call` raises `BilledInvalid` for an answer that was paid for but is
unusable (its cost is recorded, the call is asked again up to `billed_attempts` times) and
`MaybeBilled` when the answer was lost after sending (its reservation stays counted); any other
exception releases the reservation and marks the key failed (a re-run tries it again).

The budget caps everything recorded in one ledger file: stages that share a file (generate and
judge do, by default) share its cap; `committed_usd()` is what they have together spent or hold.

One process per ledger file at a time: opening a ledger recovers the requests a dead process
left in flight, so a second live process would count the first one's requests as interrupted
(the generate stage holds a lock on its output folder for this reason).

A request that was in flight when the process died is `sent` in the ledger: on the next run its
reservation is kept as `interrupted_usd` (it may have been billed; the budget counts it) and the
key is asked again, because its answer never arrived. Secrets and request bodies (images) are
never stored: only keys, token counts, costs, the answer and the error message.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlcultura.config import PriceConfig

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    key TEXT PRIMARY KEY,
    stage TEXT NOT NULL,
    backend TEXT NOT NULL,
    model TEXT,
    status TEXT NOT NULL,            -- reserved | sent | done | failed
    reserved_usd REAL NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,  -- settled, summed over billed attempts
    interrupted_usd REAL NOT NULL DEFAULT 0,  -- reservations of attempts cut by a crash
    input_tokens REAL NOT NULL DEFAULT 0,
    output_tokens REAL NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    response TEXT,
    error TEXT,
    meta TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
"""

_COMMITTED_SQL = ("SELECT COALESCE(SUM(cost_usd + interrupted_usd + "
                  "CASE WHEN status IN ('reserved', 'sent') THEN reserved_usd ELSE 0 END), 0) "
                  "FROM requests")


class StopRun(RuntimeError):
    """Going on is useless or unsafe (budget, quota, rejected key): stop cleanly, keep what is paid."""


class BudgetExceeded(StopRun):
    """The next request could cost more than what is left of the USD budget."""


class QuotaExhausted(StopRun):
    """The provider says the (monthly) quota is spent: retrying is useless, stop the run."""


class MaybeBilled(Exception):
    """The request was sent but its answer was lost (read timeout, dropped connection)."""


class BilledInvalid(Exception):
    """An answer that was paid for but is unusable (malformed JSON, schema mismatch)."""

    def __init__(self, message: str, usage: "Usage") -> None:
        super().__init__(message)
        self.usage = usage


@dataclass(frozen=True)
class Usage:
    """Billed tokens of one answer (floats: Cohere sends them so)."""

    input_tokens: float = 0.0
    output_tokens: float = 0.0


@dataclass(frozen=True)
class Paid:
    """What a successful `call` returns: the JSON-able answer and its billed usage."""

    response: Any
    usage: Usage


@dataclass(frozen=True)
class Entry:
    """A ledger row as the caller sees it."""

    key: str
    status: str
    response: Any
    cost_usd: float
    error: str | None
    cached: bool  # True when the answer came from an earlier run (not paid now)


def request_key(*, backend: str, model: str | None, prompt_version: str, image_sha256: str,
                strategy: str, seed: int) -> str:
    """The idempotency key: same inputs, same key, so a re-run finds the paid answer."""
    parts = json.dumps([backend, model, prompt_version, image_sha256, strategy, seed])
    return hashlib.sha256(parts.encode()).hexdigest()[:32]


def cost_usd(prices: Mapping[str, PriceConfig], model: str | None, usage: Usage) -> float:
    """USD for `usage` of `model`; a paid model without a price is a configuration error."""
    if model not in prices:
        raise KeyError(f"no price for model {model!r}: add it under generate.cohere.prices "
                       "(USD per million input/output tokens) so the budget can be enforced")
    price = prices[model]
    return (usage.input_tokens * price.input_per_mtok + usage.output_tokens * price.output_per_mtok) / 1e6


class Ledger:
    """SQLite ledger of paid requests with reserve-then-settle budget accounting."""

    def __init__(self, path: str | Path, *, budget_usd: float | None = None,
                 prices: Mapping[str, PriceConfig] | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.budget_usd = budget_usd
        self.prices = dict(prices or {})
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a `sent` mark survives even a power cut
        self._db.executescript(SCHEMA)
        self._recover_interrupted()
        self._key_locks: dict[str, asyncio.Lock] = {}

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- state transitions (each one its own committed transaction) --------------------------
    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE takes the write lock up front: a check-then-write cannot interleave."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _tx(self, sql: str, args: tuple[Any, ...]) -> None:
        with self._transaction():
            self._db.execute(sql, args)

    _INTERRUPT_SQL = ("UPDATE requests SET interrupted_usd = interrupted_usd + "
                      "CASE WHEN status = 'sent' THEN reserved_usd ELSE 0 END, reserved_usd = 0, "
                      "status = 'failed', error = 'interrupted: stopped while this request was in "
                      "flight (counted as possibly billed)', updated_at = ? "
                      "WHERE status IN ('sent', 'reserved')")

    def _recover_interrupted(self) -> None:
        """Rows left `sent`/`reserved` by a dead process: keep what may have been billed."""
        self._tx(self._INTERRUPT_SQL, (time.time(),))

    def interrupt(self, key: str) -> None:
        """A cancelled in-flight attempt: its reservation stays counted (it may have been billed)."""
        self._tx(self._INTERRUPT_SQL + " AND key = ?", (time.time(), key))

    def committed_usd(self) -> float:
        """Spent + reserved + possibly billed by interrupted attempts."""
        return float(self._db.execute(_COMMITTED_SQL).fetchone()[0])

    def get(self, key: str) -> Entry | None:
        row = self._db.execute("SELECT key, status, response, cost_usd, error FROM requests "
                               "WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        response = json.loads(row[2]) if row[2] is not None else None
        return Entry(row[0], row[1], response, row[3], row[4], cached=True)

    def reserve(self, key: str, *, stage: str, backend: str, model: str | None, estimate_usd: float,
                meta: Mapping[str, Any] | None = None) -> None:
        """Atomically check the budget and hold `estimate_usd` for `key` (raises BudgetExceeded)."""
        now = time.time()
        with self._transaction():
            committed = self.committed_usd()  # inside the write lock: no other writer moves it
            if self.budget_usd is not None and committed + estimate_usd > self.budget_usd + 1e-12:
                raise BudgetExceeded(
                    f"budget of {self.budget_usd:.4f} USD reached: {committed:.4f} USD spent or "
                    f"reserved, the next request could cost up to {estimate_usd:.4f} USD. Raise "
                    "generate.budget_usd and run again to continue (paid answers are kept).")
            self._db.execute(
                "INSERT INTO requests (key, stage, backend, model, status, reserved_usd, meta, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, 'reserved', ?, ?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET status = 'reserved', reserved_usd = excluded.reserved_usd, "
                "error = NULL, updated_at = excluded.updated_at",
                (key, stage, backend, model, estimate_usd, json.dumps(dict(meta or {})), now, now))

    def mark_sent(self, key: str) -> None:
        self._tx("UPDATE requests SET status = 'sent', attempts = attempts + 1, updated_at = ? "
                 "WHERE key = ?", (time.time(), key))

    def settle(self, key: str, *, usage: Usage, model: str | None, response: Any = None,
               error: str | None = None) -> float:
        """Record a billed attempt: its cost replaces the reservation; `done` when `response`."""
        cost = cost_usd(self.prices, model, usage) if usage.input_tokens or usage.output_tokens else 0.0
        status = "done" if error is None else "failed"
        self._tx("UPDATE requests SET status = ?, reserved_usd = 0, cost_usd = cost_usd + ?, "
                 "input_tokens = input_tokens + ?, output_tokens = output_tokens + ?, response = ?, "
                 "error = ?, updated_at = ? WHERE key = ?",
                 (status, cost, usage.input_tokens, usage.output_tokens,
                  None if response is None else json.dumps(response, ensure_ascii=False),
                  error, time.time(), key))
        return cost

    def release(self, key: str, error: str) -> None:
        """An attempt that was not billed (refused, 5xx, timeout...): free its reservation."""
        self._tx("UPDATE requests SET status = 'failed', reserved_usd = 0, error = ?, updated_at = ? "
                 "WHERE key = ?", (error[:2000], time.time(), key))

    def record_free(self, key: str, *, stage: str, backend: str, model: str | None,
                    response: Any, meta: Mapping[str, Any] | None = None) -> None:
        """Record an unpaid answer (template/local backends) so every row has a ledger key."""
        now = time.time()
        self._tx("INSERT OR REPLACE INTO requests (key, stage, backend, model, status, attempts, "
                 "response, meta, created_at, updated_at) VALUES (?, ?, ?, ?, 'done', 1, ?, ?, ?, ?)",
                 (key, stage, backend, model, json.dumps(response, ensure_ascii=False),
                  json.dumps(dict(meta or {})), now, now))

    # -- the primitive other stages use ---------------------------------------------------------
    async def run(self, key: str, *, stage: str, backend: str, model: str | None, estimate: Usage,
                  call: Callable[[], Awaitable[Paid]], billed_attempts: int = 1,
                  meta: Mapping[str, Any] | None = None) -> Entry:
        """Answer for `key`: from the ledger if already paid, else reserve, call and settle.

        Raises BudgetExceeded before any call that could pass the cap, QuotaExhausted as raised
        by `call`; other errors are recorded on the key and re-raised.
        """
        lock = self._key_locks.setdefault(key, asyncio.Lock())
        async with lock:  # the same key twice at once (duplicate rows) is paid once
            return await self._run(key, stage, backend, model, estimate, call, billed_attempts, meta)

    async def _run(self, key: str, stage: str, backend: str, model: str | None, estimate: Usage,
                   call: Callable[[], Awaitable[Paid]], billed_attempts: int,
                   meta: Mapping[str, Any] | None) -> Entry:
        known = self.get(key)
        if known is not None and known.status == "done":
            return known
        estimate_usd = cost_usd(self.prices, model, estimate)
        for attempt in range(1, billed_attempts + 1):
            self.reserve(key, stage=stage, backend=backend, model=model, estimate_usd=estimate_usd,
                         meta=meta)
            self.mark_sent(key)
            try:
                paid = await call()
            except BilledInvalid as exc:
                self.settle(key, usage=exc.usage, model=model, error=f"invalid answer: {exc}")
                if attempt == billed_attempts:
                    raise
                continue
            except MaybeBilled:
                self.interrupt(key)  # its reservation stays counted: the provider may bill it
                if attempt == billed_attempts:
                    raise
                continue
            except asyncio.CancelledError:
                self.interrupt(key)
                raise
            except Exception as exc:
                self.release(key, f"{type(exc).__name__}: {exc}")
                raise
            cost = self.settle(key, usage=paid.usage, model=model, response=paid.response)
            if cost > estimate_usd:  # the cap holds only while estimates are upper bounds
                log.warning("request %s cost %.6f USD, more than its reserved estimate %.6f USD: "
                            "the estimate is too low for model %s", key, cost, estimate_usd, model)
            return Entry(key, "done", paid.response, cost, None, cached=False)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- reports ----------------------------------------------------------------------------------
    def report(self) -> list[dict[str, Any]]:
        """Cost, tokens and request counts grouped by stage, backend and model."""
        rows = self._db.execute(
            "SELECT stage, backend, model, COUNT(*), SUM(status = 'done'), SUM(status = 'failed'), "
            "SUM(attempts), SUM(input_tokens), SUM(output_tokens), SUM(cost_usd), "
            "SUM(interrupted_usd) FROM requests GROUP BY stage, backend, model "
            "ORDER BY stage, backend, model").fetchall()
        names = ("stage", "backend", "model", "keys", "done", "failed", "attempts", "input_tokens",
                 "output_tokens", "cost_usd", "interrupted_usd")
        return [dict(zip(names, row)) for row in rows]

    def errors(self, limit: int = 20) -> list[tuple[str, str]]:
        """The latest failed keys and why."""
        return self._db.execute("SELECT key, error FROM requests WHERE status = 'failed' "
                                "ORDER BY updated_at DESC LIMIT ?", (limit,)).fetchall()
