"""SIGKILL a real `vlcultura generate` process mid-run, run it again: no lost row, nothing paid twice."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import datasets
import yaml
from cohere_server import cohere_server_factory  # noqa: F401  (fixture)
from generate_helpers import ingested

from vlcultura.records import NegativeType

PAID_BEFORE_KILL = 12
CONCURRENCY = 4


def _done(ledger: Path) -> int:
    if not ledger.exists():
        return 0
    with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, timeout=5) as db:
        try:
            return db.execute("SELECT COUNT(*) FROM requests WHERE status = 'done'").fetchone()[0]
        except sqlite3.OperationalError:  # table not created yet
            return 0


def _wait(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_sigkill_mid_run_then_rerun_completes_without_paying_twice(tmp_path, cohere_server_factory):
    server = cohere_server_factory(latency_s=0.02, hold_after=PAID_BEFORE_KILL)
    inp = ingested(tmp_path)
    n_images = datasets.load_from_disk(str(inp / "dataset")).num_rows
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"generate": {"backend": "cohere", "cohere": {
        "base_url": server.url, "concurrency": CONCURRENCY, "requests_per_minute": 60000, "backoff_s": 0.01}}}))
    out = tmp_path / "gen"
    env = {**os.environ, "CO_API_KEY": server.key}
    cmd = [sys.executable, "-m", "vlcultura.cli", "generate", "-i", str(inp), "-o", str(out), "-c", str(recipe),
           "--no-progress"]

    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        # answers for PAID_BEFORE_KILL requests are in the ledger; every worker's next request hangs
        _wait(lambda: _done(out / "ledger.sqlite") >= PAID_BEFORE_KILL and server.in_flight() == CONCURRENCY,
              "paid answers in the ledger and every worker's request in flight")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    server.release()  # the held requests now find their client gone: not answered, not billed
    _wait(lambda: server.in_flight() == 0, "held requests to finish")
    assert sum(e.billed for e in server.log) == PAID_BEFORE_KILL
    assert not (out / "candidates").exists()  # killed before writing: nothing torn on disk

    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert server.key not in rerun.stdout + rerun.stderr

    billed = Counter(server.billed_keys())
    assert len(billed) == 2 * n_images  # every request paid ...
    assert max(billed.values()) == 1  # ... exactly once, across the kill
    ds = datasets.load_from_disk(str(out / "candidates"))
    assert ds.num_rows == n_images * (2 + len(NegativeType))  # no lost rows
    assert len(set(ds["id"])) == ds.num_rows  # no duplicated rows
    with sqlite3.connect(out / "ledger.sqlite") as db:
        statuses = dict(db.execute("SELECT status, COUNT(*) FROM requests GROUP BY status").fetchall())
        interrupted = db.execute("SELECT COUNT(*) FROM requests WHERE interrupted_usd > 0").fetchone()[0]
    assert statuses == {"done": 2 * n_images}
    assert interrupted == CONCURRENCY  # what was in flight at the kill is counted as possibly billed


def test_repeated_kills_at_arbitrary_points_lose_nothing_and_account_for_everything(tmp_path, cohere_server_factory):
    """Kills that land anywhere in the request cycle: an answer that arrived but was not yet
    committed is bought again on the re-run (no provider-side idempotency can prevent that), so
    every key paid twice must be one the ledger counted as interrupted."""
    server = cohere_server_factory(latency_s=0.03)
    inp = ingested(tmp_path)
    n_images = datasets.load_from_disk(str(inp / "dataset")).num_rows
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"generate": {"backend": "cohere", "cohere": {
        "base_url": server.url, "concurrency": 6, "requests_per_minute": 60000, "backoff_s": 0.01}}}))
    out = tmp_path / "gen"
    env = {**os.environ, "CO_API_KEY": server.key}
    cmd = [sys.executable, "-m", "vlcultura.cli", "generate", "-i", str(inp), "-o", str(out), "-c", str(recipe),
           "--no-progress"]
    for threshold in (6, 20, 34):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait(lambda: _done(out / "ledger.sqlite") >= threshold or proc.poll() is not None, "progress")
        finally:
            proc.kill()
            proc.wait(timeout=10)
    final = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stdout + final.stderr

    ds = datasets.load_from_disk(str(out / "candidates"))
    assert ds.num_rows == n_images * (2 + len(NegativeType)) and len(set(ds["id"])) == ds.num_rows
    billed = Counter(server.billed_keys())
    assert len(billed) == 2 * n_images
    with sqlite3.connect(out / "ledger.sqlite") as db:
        interrupted = {k for (k,) in db.execute("SELECT key FROM requests WHERE interrupted_usd > 0")}
        assert db.execute("SELECT COUNT(*) FROM requests WHERE status != 'done'").fetchone()[0] == 0
    assert {k for k, n in billed.items() if n > 1} <= interrupted
