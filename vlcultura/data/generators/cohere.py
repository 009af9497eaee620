"""The Cohere backend, and `CohereChat`: the reusable paid call (messages + json_schema -> JSON).

`CohereChat.complete` is what any stage (generation, the judge) calls inside `Ledger.run`:

    chat = CohereChat.from_env(config.generate.cohere)  # key and URL from the environment
    paid = await chat.complete(messages, schema, model=m, idempotency_key=key)  # -> ledger.Paid

It owns the retry policy: the SDK's own retries are off (`max_retries=0`) so every attempt is ours
and visible: 429 per-minute, 408/409/5xx, 422 NO_VALID_RESPONSE_GENERATED, timeouts and dropped
connections are retried with exponential backoff (or the server's retry-after; an answer lost after
sending is `MaybeBilled`, retried by the ledger with its reservation kept); a monthly-quota
429 or a rejected key stops the run (`QuotaExhausted`/`StopRun`); an answer that is not valid
JSON for the schema raises `BilledInvalid` (it was paid for). Concurrency is bounded by a
semaphore and requests are spaced to `requests_per_minute`.
"""
from __future__ import annotations

import asyncio
import base64
import json
import math
import os
import random
import time
from collections import deque
from typing import Any

import cohere
import httpx
import jsonschema
from cohere.core.api_error import ApiError

from vlcultura.config import CohereConfig, secrets_from_env
from vlcultura.data.generators.base import Generated, Generator, ImageItem, ItemError, check_image
from vlcultura.data.ledger import (BilledInvalid, Ledger, MaybeBilled, Paid, QuotaExhausted, StopRun, Usage,
                                   request_key)
from vlcultura.data.prompts import generation_messages, rewrite_messages

BASE_URL_ENV = "VLCULTURA_COHERE_BASE_URL"  # a proxy, or the tests' loopback server
MAX_IMAGE_BYTES = 20_000_000  # Cohere: at most 20 MB per request
_TRANSIENT_STATUS = {408, 409, 429, 500, 502, 503, 504}
_MONTHLY_HINTS = ("month", "trial key")


class RateLimiter:
    """Request starts on an even schedule at `per_minute` less 1%, never more in any minute.

    Servers count requests in a sliding minute as they ARRIVE. Three rules together:
    - an ideal schedule (one slot every 60/limit s) so a stall of the event loop (SQLite commits,
      parsing, a busy CPU) is caught up instead of lost for good;
    - catching up at most at twice the rate (a minimum gap of half a slot), never as a burst;
    - at most `cap` starts in any window (60 s) of our own clock, so catching up cannot pass it.
    The 1% headroom absorbs the jitter between our start and the server's arrival. Measured with
    benchmarks/cohere_throughput.py (results in benchmarks/results/).
    """

    HEADROOM = 0.01
    MAX_LAG_S = 2.0  # catch up at most this much of the schedule (stalls, not idle spells)

    def __init__(self, per_minute: float, window_s: float = 60.0) -> None:
        self.window = window_s  # tests shrink the minute
        self.interval = window_s / (per_minute * (1 - self.HEADROOM)) if per_minute > 0 else 0.0
        self.cap = max(1, math.floor(per_minute * (1 - self.HEADROOM))) if per_minute > 0 else 0
        self._slot: float | None = None  # set at the first request
        self._last = -math.inf
        self._starts: deque[float] = deque()
        self._lock = asyncio.Lock()  # FIFO: one waiter sleeps at a time

    def _ready_at(self, now: float) -> float:
        while self._starts and now - self._starts[0] >= self.window:
            self._starts.popleft()
        if self._slot is None:
            self._slot = now
        ready = max(self._slot, self._last + self.interval / 2)
        if len(self._starts) >= self.cap:
            ready = max(ready, self._starts[0] + self.window)
        return ready

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self._lock:
            while (ready := self._ready_at(time.monotonic())) > time.monotonic():
                await asyncio.sleep(ready - time.monotonic())
            now = time.monotonic()
            self._starts.append(now)
            self._last = now
            self._slot = max(self._slot or now, now - self.MAX_LAG_S) + self.interval


def _error_text(exc: BaseException, secret: str | None) -> str:
    """A short, secret-free description of a failure for logs and the ledger."""
    if isinstance(exc, ApiError):
        body = exc.body if isinstance(exc.body, dict) else {"message": str(exc.body)[:300]}
        text = f"HTTP {exc.status_code}: {body.get('error_type', '')} {body.get('message', '')}".strip()
    else:
        text = f"{type(exc).__name__}: {exc}"[:500]
    return text.replace(secret, "***") if secret else text


def _is_monthly_quota(exc: ApiError) -> bool:
    message = str(exc.body.get("message", "") if isinstance(exc.body, dict) else exc.body).lower()
    return exc.status_code == 429 and any(h in message for h in _MONTHLY_HINTS)


def _retry_after(exc: BaseException) -> float | None:
    headers = {k.lower(): v for k, v in ((getattr(exc, "headers", None) or {}).items())}
    try:
        if "retry-after-ms" in headers:
            return float(headers["retry-after-ms"]) / 1000
        if "retry-after" in headers:
            return float(headers["retry-after"])
    except ValueError:
        return None
    return None


def answer_text(response: Any) -> str:
    """The first `text` item of a chat answer (reasoning models may put `thinking` first)."""
    for item in response.message.content or []:
        if getattr(item, "type", None) == "text":
            return item.text
    raise ValueError("the answer has no text content")


def billed_usage(response: Any) -> Usage:
    usage = response.usage
    units = usage.billed_units if usage and usage.billed_units else (usage.tokens if usage else None)
    return Usage(float(getattr(units, "input_tokens", 0) or 0), float(getattr(units, "output_tokens", 0) or 0))


def image_tokens(width: int, height: int, detail: str) -> int:
    """Cohere's image token count: low = 256; high = 256 per 512 px tile + a 256 preview."""
    if detail == "low" or (detail == "auto" and max(width, height) <= 768):
        return 256
    return 256 * (math.ceil(width / 512) * math.ceil(height / 512) + 1)


class CohereChat:
    """One model-agnostic paid chat call with schema validation, retries and rate limits."""

    def __init__(self, config: CohereConfig, api_key: str | None, *, base_url: str | None = None) -> None:
        if not api_key:
            raise StopRun("no Cohere key: set CO_API_KEY (or COHERE_API_KEY) in the environment")
        self.config = config
        self._secret = api_key
        self.client = cohere.AsyncClientV2(api_key=api_key, base_url=base_url or config.base_url,
                                           timeout=config.timeout_s, max_retries=0,
                                           client_name="vlcultura")
        self._slots = asyncio.Semaphore(config.concurrency)
        self._rate = RateLimiter(config.requests_per_minute)

    @classmethod
    def from_env(cls, config: CohereConfig) -> "CohereChat":
        """The client every stage uses: the key from CO_API_KEY (or COHERE_API_KEY), the URL from
        VLCULTURA_COHERE_BASE_URL or `config.base_url`. Keys never live in configs (see config.py)."""
        return cls(config, secrets_from_env().cohere_api_key,
                   base_url=os.environ.get(BASE_URL_ENV) or config.base_url)

    def estimate(self, texts: list[str], images: list[tuple[int, int]], schema: dict[str, Any],
                 max_tokens: int | None = None) -> Usage:
        """An upper bound on billed tokens: UTF-8 bytes >= tokens for byte-level BPE."""
        text_tokens = sum(len(t.encode()) for t in texts) + len(json.dumps(schema).encode()) + 64
        img = sum(image_tokens(w, h, self.config.image_detail) for w, h in images)
        return Usage(float(text_tokens + img), float(max_tokens or self.config.max_tokens))

    async def _attempt(self, kwargs: dict[str, Any], headers: dict[str, str]) -> Any:
        await self._rate.wait()
        async with self._slots:
            return await self.client.chat(**kwargs, request_options={
                "max_retries": 0, "timeout": self.config.timeout_s,
                "additional_headers": headers})

    async def complete(self, messages: list[Any], schema: dict[str, Any], *, model: str | None = None,
                       idempotency_key: str | None = None, max_tokens: int | None = None,
                       seed: int | None = None, temperature: float | None = None,
                       check: dict[str, Any] | None = None) -> Paid:
        """Validated JSON answer + billed usage; raises BilledInvalid, StopRun or the last error.

        `check` is a stricter schema for validation only (e.g. with `minLength`, which Cohere's
        structured output refuses): the request carries `schema`, the answer must pass `check`.
        """
        kwargs = dict(model=model or self.config.model, messages=messages,
                      response_format=cohere.JsonObjectResponseFormatV2(json_schema=schema),
                      temperature=self.config.temperature if temperature is None else temperature,
                      max_tokens=max_tokens or self.config.max_tokens)
        if seed is not None:
            kwargs["seed"] = seed
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        for attempt in range(self.config.max_retries + 1):
            try:
                response = await self._attempt(kwargs, headers)
                break
            except ApiError as exc:
                if _is_monthly_quota(exc):
                    raise QuotaExhausted("Cohere says the monthly quota of this key is spent "
                                         f"({_error_text(exc, self._secret)}); paid answers are kept: "
                                         "run again with a production key or next month") from None
                if exc.status_code in (401, 403, 498):
                    raise StopRun(f"Cohere rejected the key ({_error_text(exc, self._secret)}): check "
                                  "CO_API_KEY") from None
                transient = exc.status_code in _TRANSIENT_STATUS or (
                    exc.status_code == 422 and "NO_VALID_RESPONSE" in str(exc.body))
                if not transient or attempt == self.config.max_retries:
                    raise RuntimeError(_error_text(exc, self._secret)) from None
                delay = _retry_after(exc)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                if attempt == self.config.max_retries:  # never sent: safe to retry here
                    raise RuntimeError(_error_text(exc, self._secret)) from None
                delay = None
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                raise MaybeBilled(_error_text(exc, self._secret)) from None  # the ledger decides
            backoff = min(self.config.backoff_max_s, self.config.backoff_s * 2 ** attempt)
            await asyncio.sleep(delay if delay is not None else backoff * random.uniform(0.75, 1.25))
        usage = billed_usage(response)
        try:
            answer = json.loads(answer_text(response))
            jsonschema.validate(answer, check or schema)
        except (ValueError, jsonschema.ValidationError) as exc:
            reason = exc.message if isinstance(exc, jsonschema.ValidationError) else str(exc)
            raise BilledInvalid(f"finish_reason={response.finish_reason}: {reason[:300]}", usage) from None
        return Paid(answer, usage)

    async def aclose(self) -> None:
        wrapper = getattr(self.client, "_client_wrapper", None)
        httpx_client = getattr(getattr(wrapper, "httpx_client", None), "httpx_client", None)
        if httpx_client is not None:
            await httpx_client.aclose()


def data_url(data: bytes) -> tuple[str, tuple[int, int]]:
    """A base64 data URL of checked, metadata-free image bytes, and the image size."""
    if len(data) > MAX_IMAGE_BYTES:
        raise ItemError("image_too_large", f"{len(data)} bytes is over Cohere's 20 MB; re-run ingest "
                        "with a smaller ingest.max_side")
    fmt, size = check_image(data)
    mime = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}.get(fmt)
    if mime is None:
        raise ItemError("unsupported_format", f"{fmt} images are not accepted by Cohere; re-run ingest")
    return f"data:{mime};base64,{base64.b64encode(data).decode()}", size


def strings_schema(names: list[str], strict: bool = False) -> dict[str, Any]:
    """Required string fields. Cohere refuses min/max keywords, so `strict` (non-empty) is only
    for checking answers locally, never sent."""
    field: dict[str, Any] = {"type": "string", **({"minLength": 1, "pattern": r"\S"} if strict else {})}
    return {"type": "object", "properties": {n: dict(field) for n in names}, "required": list(names)}


class CohereGenerator(Generator):
    """Desirable descriptions from a Cohere vision model; typed rewrites from the same model."""

    name = "cohere"
    paid = True

    def __init__(self, chat: CohereChat, ledger: Ledger, seed: int) -> None:
        self.chat = chat
        self.ledger = ledger
        self.seed = seed
        self.model = chat.config.model

    async def _paid(self, item: ImageItem, strategy: str, system: str, content: list[Any],
                    names: list[str], texts: list[str], images: list[tuple[int, int]]) -> Generated:
        key = request_key(backend=self.name, model=self.model, prompt_version=item.prompt_version,
                          image_sha256=item.record.sha256, strategy=strategy, seed=self.seed)
        messages = [cohere.SystemChatMessageV2(content=system), cohere.UserChatMessageV2(content=content)]
        schema, check = strings_schema(names), strings_schema(names, strict=True)
        entry = await self.ledger.run(
            key, stage="generate", backend=self.name, model=self.model,
            estimate=self.chat.estimate([system, *texts], images, schema),
            call=lambda: self.chat.complete(messages, schema, idempotency_key=key, seed=self.seed, check=check),
            billed_attempts=self.chat.config.invalid_answer_retries + 1,
            meta={"image_id": item.record.id, "strategy": strategy})
        return Generated({k: str(v) for k, v in entry.response.items()}, key, self.model)

    async def describe(self, item: ImageItem, n: int) -> Generated:
        url, size = data_url(item.image_bytes)
        system, user = generation_messages(item.prompts, item.record, n=n, seed=f"{self.seed}:{item.record.sha256}")
        content = [cohere.TextContent(text=user),
                   cohere.ImageUrlContent(image_url=cohere.ImageUrl(url=url, detail=self.chat.config.image_detail))]
        names = [f"description_{i + 1}" for i in range(n)]
        got = await self._paid(item, f"describe:{n}", system, content, names, [user], [size])
        return Generated({str(i): got.texts[f"description_{i + 1}"] for i in range(n)}, got.ledger_key, got.model)

    async def rewrite(self, item: ImageItem, text: str, types: list[str]) -> Generated:
        system, user = rewrite_messages(item.prompts, item.record, text, types)
        return await self._paid(item, f"rewrite:{','.join(types)}", system, [cohere.TextContent(text=user)],
                                types, [user], [])

    async def aclose(self) -> None:
        await self.chat.aclose()
