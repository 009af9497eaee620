"""The ledger on its own: idempotency, crash recovery, and a budget that holds under concurrency."""
from __future__ import annotations

import asyncio
import json
from collections import Counter

import cohere
import pytest
from cohere_server import cohere_server_factory  # noqa: F401  (fixture)
from typer.testing import CliRunner

from vlcultura.cli import app
from vlcultura.config import CohereConfig, PriceConfig
from vlcultura.data.generators.cohere import CohereChat
from vlcultura.data.ledger import BudgetExceeded, Ledger, Paid, Usage, cost_usd, request_key

PRICES = {"m": PriceConfig(input_per_mtok=1000.0, output_per_mtok=2000.0)}
SCHEMA = {"type": "object", "properties": {"caption": {"type": "string"}}, "required": ["caption"]}


def _key(i: int) -> str:
    return request_key(backend="cohere", model="m", prompt_version="v1", image_sha256=f"{i:064x}",
                       strategy="describe:2", seed=0)


def test_same_key_is_paid_once_and_a_crash_keeps_the_reservation_counted(tmp_path):
    calls = []

    async def call() -> Paid:
        calls.append(1)
        return Paid({"caption": "hola"}, Usage(100, 50))

    path = tmp_path / "ledger.sqlite"
    with Ledger(path, budget_usd=10.0, prices=PRICES) as ledger:
        first = asyncio.run(ledger.run(_key(1), stage="generate", backend="cohere", model="m",
                                       estimate=Usage(200, 100), call=call))
        again = asyncio.run(ledger.run(_key(1), stage="generate", backend="cohere", model="m",
                                       estimate=Usage(200, 100), call=call))
        assert len(calls) == 1 and not first.cached and again.cached and again.response == {"caption": "hola"}
        assert first.cost_usd == pytest.approx(cost_usd(PRICES, "m", Usage(100, 50))) == pytest.approx(0.2)
        # a request sent and never settled: what a SIGKILL leaves behind
        ledger.reserve(_key(2), stage="generate", backend="cohere", model="m", estimate_usd=0.4)
        ledger.mark_sent(_key(2))
    with Ledger(path, budget_usd=10.0, prices=PRICES) as ledger:
        assert ledger.get(_key(2)).status == "failed"
        assert ledger.committed_usd() == pytest.approx(0.2 + 0.4)  # the lost attempt may have been billed
        asyncio.run(ledger.run(_key(2), stage="generate", backend="cohere", model="m",
                               estimate=Usage(200, 100), call=call))
        report = {r["model"]: r for r in ledger.report()}["m"]
    assert report["done"] == 2 and report["interrupted_usd"] == pytest.approx(0.4)


def test_a_refused_reservation_writes_nothing_and_the_ledger_goes_on(tmp_path):
    with Ledger(tmp_path / "ledger.sqlite", budget_usd=1.0, prices=PRICES) as ledger:
        ledger.reserve(_key(1), stage="generate", backend="cohere", model="m", estimate_usd=0.7)
        with pytest.raises(BudgetExceeded, match="budget of 1.0000 USD reached"):
            ledger.reserve(_key(2), stage="generate", backend="cohere", model="m", estimate_usd=0.5)
        assert ledger.get(_key(2)) is None and ledger.committed_usd() == pytest.approx(0.7)
        # the refusal rolled its transaction back, so the next one can begin
        ledger.reserve(_key(3), stage="generate", backend="cohere", model="m", estimate_usd=0.3)
        assert ledger.get(_key(3)).status == "reserved" and ledger.committed_usd() == pytest.approx(1.0)


def test_the_same_key_requested_twice_at_once_is_paid_once(tmp_path):
    calls = []

    async def call() -> Paid:
        calls.append(1)
        await asyncio.sleep(0.05)
        return Paid({"caption": "uno"}, Usage(10, 10))

    async def main() -> list:
        with Ledger(tmp_path / "ledger.sqlite", budget_usd=1.0, prices=PRICES) as ledger:
            return await asyncio.gather(*(ledger.run(_key(7), stage="generate", backend="cohere", model="m",
                                                     estimate=Usage(100, 100), call=call) for _ in range(5)))

    entries = asyncio.run(main())
    assert len(calls) == 1 and {e.response["caption"] for e in entries} == {"uno"}
    assert sum(not e.cached for e in entries) == 1


def test_budget_is_never_exceeded_with_many_requests_in_flight(tmp_path, cohere_server_factory):
    server = cohere_server_factory(latency_s=0.5)
    config = CohereConfig(model="command-a-vision-07-2025", concurrency=64, requests_per_minute=1e6,
                          backoff_s=0.01, timeout_s=10)
    prices = {config.model: PriceConfig(input_per_mtok=1000.0, output_per_mtok=1000.0)}
    budget = 10.0  # ~40 reservations of ~0.24 USD; 300 answers of ~0.04 USD would pass it
    outcomes: list[str] = []

    async def main() -> None:
        chat = CohereChat(config, server.key, base_url=server.url)
        with Ledger(tmp_path / "ledger.sqlite", budget_usd=budget, prices=prices) as ledger:
            async def one(i: int) -> None:
                messages = [cohere.UserChatMessageV2(content=f"Describe {i} in JSON, por favor.")]
                estimate = chat.estimate([f"Describe {i} in JSON, por favor."], [], SCHEMA, max_tokens=60)
                try:
                    await ledger.run(_key(i), stage="generate", backend="cohere", model=config.model,
                                     estimate=estimate,
                                     call=lambda: chat.complete(messages, SCHEMA, max_tokens=60,
                                                                idempotency_key=_key(i)))
                    outcomes.append("done")
                except BudgetExceeded:
                    outcomes.append("refused")

            await asyncio.gather(*(one(i) for i in range(300)))
            assert ledger.committed_usd() <= budget
        await chat.aclose()

    asyncio.run(main())
    assert server.peak_in_flight >= 32
    assert outcomes.count("done") >= 32 and outcomes.count("refused") > 0
    billed = sum(e.input_tokens + e.output_tokens for e in server.log if e.billed) * 1000.0 / 1e6
    assert billed <= budget  # what the server charged, not what we think we spent
    assert max(Counter(server.billed_keys()).values()) == 1


def test_ledger_command_reports_cost_by_stage_and_model(tmp_path):
    async def call() -> Paid:
        return Paid({"caption": "x"}, Usage(1000, 500))

    with Ledger(tmp_path / "ledger.sqlite", prices=PRICES) as ledger:
        for i, stage in enumerate(("generate", "generate", "judge")):
            asyncio.run(ledger.run(_key(i), stage=stage, backend="cohere", model="m",
                                   estimate=Usage(1000, 500), call=call))
    table = CliRunner().invoke(app, ["ledger", str(tmp_path)])
    assert table.exit_code == 0, table.output
    assert "total: 6.0000 USD settled" in " ".join(table.output.split())
    as_json = CliRunner().invoke(app, ["ledger", str(tmp_path / "ledger.sqlite"), "--json"])
    by_stage = {r["stage"]: r for r in map(json.loads, as_json.output.splitlines())}
    assert by_stage["generate"]["cost_usd"] == pytest.approx(4.0) and by_stage["generate"]["keys"] == 2
    assert by_stage["judge"]["cost_usd"] == pytest.approx(2.0) and by_stage["judge"]["model"] == "m"
    missing = CliRunner().invoke(app, ["ledger", str(tmp_path / "nope")])
    assert missing.exit_code != 0 and "no ledger" in missing.output
