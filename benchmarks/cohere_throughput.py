"""Sustained throughput of the Cohere path against the loopback server (1 s latency, 300 req/min).

Every request goes through the production path: `Ledger.run` (reserve, mark sent, settle in
SQLite) around `CohereChat.complete` (rate limiter, semaphore, the real `cohere.AsyncClientV2`,
schema validation), with a small JPEG as a base64 data URL, as generation sends it. The server
runs in its own process (tests/cohere_server.py) and reports how many requests it refused.

    .venv/bin/python benchmarks/cohere_throughput.py --requests 360

Two phases:
- overhead: sequential requests without a rate limit; overhead = time per request - server latency
  (client, HTTP, JSON, validation and the three SQLite commits of the ledger);
- throughput: `--requests` requests at `--client-rpm` with `--concurrency` slots against a server
  that answers after `--latency` s and refuses beyond `--limit-rpm` per minute; measured from the
  first request to the last settled answer (the 1 s ramp at the start is included).
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cohere
from PIL import Image

from vlcultura.config import CohereConfig
from vlcultura.data.generators.cohere import CohereChat, strings_schema
from vlcultura.data.ledger import Ledger, request_key

ROOT = Path(__file__).resolve().parents[1]


def _content(i: int) -> tuple[str, list[object]]:
    buf = io.BytesIO()
    Image.new("RGB", (96, 96), (180, 120, 60)).save(buf, "JPEG")
    url = "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()
    text = f"Describe la imagen {i} en español de Bolivia. Responde solo con JSON."
    return text, [cohere.TextContent(text=text),
                  cohere.ImageUrlContent(image_url=cohere.ImageUrl(url=url, detail="low"))]


async def _requests(url: str, key: str, ids: range, config: CohereConfig, ledger: Ledger,
                    sequential: bool = False) -> list[float]:
    """Run requests `ids` through Ledger.run + CohereChat (by `concurrency` workers, or one by one)."""
    chat = CohereChat(config, key, base_url=url)
    schema = strings_schema(["description_1", "description_2"])
    durations: list[float] = []

    async def one(i: int) -> None:
        text, content = _content(i)
        messages = [cohere.UserChatMessageV2(content=content)]
        k = request_key(backend="cohere", model=config.model, prompt_version="bench",
                        image_sha256=f"{i:064x}", strategy="describe:2", seed=0)
        t0 = time.perf_counter()
        await ledger.run(k, stage="bench", backend="cohere", model=config.model,
                         estimate=chat.estimate([text], [(96, 96)], schema),
                         call=lambda: chat.complete(messages, schema, idempotency_key=k))
        durations.append(time.perf_counter() - t0)

    todo = list(ids)

    async def worker() -> None:  # like the generate stage: `concurrency` workers, each one image at a time
        while todo:
            await one(todo.pop(0))

    await asyncio.gather(*(worker() for _ in range(1 if sequential else config.concurrency)))
    await chat.aclose()
    return durations


def _ledger_ms(path: Path, n: int = 50) -> float:
    """The ledger's own cost per request: reserve + mark sent + settle, each a durable commit."""
    from vlcultura.data.ledger import Usage

    model = CohereConfig().model
    with Ledger(path, budget_usd=1000.0, prices=CohereConfig().prices) as ledger:
        t0 = time.perf_counter()
        for i in range(n):
            ledger.reserve(f"k{i}", stage="bench", backend="cohere", model=model, estimate_usd=0.01)
            ledger.mark_sent(f"k{i}")
            ledger.settle(f"k{i}", usage=Usage(300, 100), model=model, response={"a": "b"})
        return (time.perf_counter() - t0) / n * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=360)
    parser.add_argument("--overhead-requests", type=int, default=20)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--limit-rpm", type=int, default=300, help="the server's per-minute limit")
    parser.add_argument("--client-rpm", type=float, default=300.0, help="our requests_per_minute")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "cohere_throughput.json")
    args = parser.parse_args()

    def start_server(rpm: int | None) -> tuple[subprocess.Popen[str], str]:
        cmd = [sys.executable, str(ROOT / "tests" / "cohere_server.py"), "--latency", str(args.latency),
               "--key", "bench-key", *(["--rpm", str(rpm)] if rpm else [])]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        return proc, json.loads(proc.stdout.readline())["url"]

    def stop_server(proc: subprocess.Popen[str]) -> dict[str, int]:
        proc.send_signal(signal.SIGINT)
        return json.loads(proc.communicate(timeout=30)[0].strip().splitlines()[-1])["status_counts"]

    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(Path(tmp) / "ledger.sqlite", budget_usd=1000.0, prices=CohereConfig().prices)
        proc, url = start_server(None)
        seq = CohereConfig(concurrency=1, requests_per_minute=0)
        sequential = asyncio.run(_requests(url, "bench-key", range(-args.overhead_requests, 0), seq, ledger,
                                           sequential=True))
        stop_server(proc)
        proc, url = start_server(args.limit_rpm)
        config = CohereConfig(concurrency=args.concurrency, requests_per_minute=args.client_rpm, timeout_s=30)
        t0 = time.perf_counter()
        durations = asyncio.run(_requests(url, "bench-key", range(args.requests), config, ledger))
        elapsed = time.perf_counter() - t0
        statuses = stop_server(proc)
        ledger.close()
        ledger_ms = _ledger_ms(Path(tmp) / "ledger_only.sqlite")

    overhead_ms = sorted((d - args.latency) * 1000 for d in sequential)
    throughput = args.requests / elapsed * 60
    result = {
        "machine": f"{platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
                   f"Python {platform.python_version()}, cohere {cohere.__version__}",
        "server": {"latency_s": args.latency, "limit_rpm": args.limit_rpm, "status_counts": statuses},
        "client": {"requests_per_minute": args.client_rpm, "concurrency": args.concurrency},
        "requests": args.requests, "elapsed_s": round(elapsed, 2),
        "throughput_rpm": round(throughput, 1), "fraction_of_limit": round(throughput / args.limit_rpm, 4),
        "overhead_ms_per_request": {"median": round(statistics.median(overhead_ms), 2),
                                    "p95": round(overhead_ms[int(0.95 * (len(overhead_ms) - 1))], 2),
                                    "n": len(overhead_ms), "of_which_ledger_ms": round(ledger_ms, 2)},
        "request_seconds_median": round(statistics.median(durations), 3),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
