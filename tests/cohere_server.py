"""A loopback HTTP server speaking Cohere's v2 wire format, for tests with the REAL `cohere` client.

Answers are deterministic and valid for whatever `json_schema` the request carries (derived from
a hash of the request), so generation, judge and any other stage can test against it. Faults are
injected per request (`server.faults.script`, `server.faults.rules`) or by rate: 429 per-minute
and monthly, 422 NO_VALID_RESPONSE_GENERATED, 500/503, malformed JSON, slow answers, dropped
connections. `server.log` records every request (never the key; `auth_ok` instead), with
`billed=True` only when a 200 answer went to a client that was still connected.

    from cohere_server import cohere_server_factory  # noqa: F401  (a pytest fixture)

    def test_x(cohere_server_factory):
        server = cohere_server_factory(latency_s=0.0)
        client = cohere.ClientV2(api_key=server.key, base_url=server.url)

Run standalone (benchmarks): `python tests/cohere_server.py --port 0 --latency 1 --rpm 300`.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import re
import select
import socket
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image

VISION_MODELS = {"command-a-vision-07-2025", "command-a-plus-05-2026", "c4ai-aya-vision-32b"}
TEXT_MODELS = {"command-a-03-2025", "command-r-plus-08-2024", "command-r7b-12-2024"}
EMBED_MODELS = {"embed-v4.0"}
RETIRED = {"c4ai-aya-vision-8b"}
UNSUPPORTED_SCHEMA_KEYS = {"allOf", "oneOf", "not", "minimum", "maximum", "exclusiveMinimum",
                           "exclusiveMaximum", "minLength", "maxLength", "minItems", "maxItems"}
MONTHLY_MESSAGE = "You are using a Trial key, which is limited to 1000 API calls / month."
PER_MINUTE_MESSAGE = "You are past the per minute request limit, please wait and try again later."
WORDS = ("foto", "se", "ve", "claramente", "con", "detalle", "color", "forma", "mesa", "luz",
         "tradicional", "hecho", "mano", "fondo", "cerca")
FAULTS = {"429", "429_monthly", "422", "500", "503", "malformed", "invalid_schema", "blank", "slow", "drop"}


@dataclass
class Faults:
    """What goes wrong, and when. Mutable while the server runs (guarded by the server's lock)."""

    latency_s: float = 0.0  # every answer waits this long
    slow_s: float = 5.0  # how long a "slow" fault waits (exceed the client's timeout)
    rpm_limit: int | None = None  # 429 per-minute beyond this many requests in 60 s
    monthly_limit: int | None = None  # 429 monthly once this many requests were billed
    script: deque[str] = field(default_factory=deque)  # next requests' faults, in order
    rules: dict[str, deque[str]] = field(default_factory=dict)  # per Idempotency-Key faults
    hold_after: int | None = None  # requests after this many admitted ones hang until `release`
    retry_after_ms: int | None = 1  # sent on 429/503 (real Cohere sends none: set None to mimic)

    def __post_init__(self) -> None:
        """A misspelt fault would be served as a normal answer and the test would prove nothing."""
        unknown = set(self.script).union(*self.rules.values()) - FAULTS
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {sorted(FAULTS)}")


@dataclass
class LogEntry:
    at: float
    path: str
    status: int
    model: str | None
    idempotency_key: str | None
    auth_ok: bool
    billed: bool
    fault: str | None
    images: int
    exif_seen: bool
    body_bytes: int
    input_tokens: float = 0.0
    output_tokens: float = 0.0


def _hash(*parts: Any) -> int:
    return int(hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest(), 16)


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].split("/")[-1]
        schema = root.get("$defs", root.get("definitions", {}))[name]
    return schema


def fake_value(schema: dict[str, Any], seed: int, name: str, root: dict[str, Any] | None = None) -> Any:
    """A deterministic value valid for `schema` (the subset Cohere supports)."""
    root = root or schema
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][seed % len(schema["enum"])]
    if "anyOf" in schema:
        return fake_value(schema["anyOf"][0], seed, name, root)
    kind = schema.get("type", "string")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "object":
        props = schema.get("properties", {})
        return {k: fake_value(v, _hash(seed, k), k, root) for k, v in props.items()}
    if kind == "array":
        return [fake_value(schema.get("items", {}), _hash(seed, i), name, root) for i in range(2)]
    if kind == "integer":
        return seed % 5 + 1
    if kind == "number":
        return round((seed % 500) / 100 + 1, 2)
    if kind == "boolean":
        return bool(seed % 2)
    words = [WORDS[(seed >> (4 * i)) % len(WORDS)] for i in range(12)]
    return f"[{name}] " + " ".join(words).capitalize() + "."


def schema_problem(schema: Any) -> str | None:
    """Why Cohere would refuse this json_schema, or None."""
    if not isinstance(schema, dict) or schema.get("type") != "object" or not schema.get("required"):
        return "json_schema: the top level must be an object with at least one required field"

    def walk(node: Any) -> str | None:
        if isinstance(node, dict):
            bad = UNSUPPORTED_SCHEMA_KEYS & set(node)
            if bad:
                return f"json_schema: unsupported keyword {sorted(bad)[0]}"
            if "pattern" in node and re.search(r"^\^|\$$", str(node["pattern"])):
                return "json_schema: regex anchors are not supported"
            return next((p for p in map(walk, node.values()) if p), None)
        if isinstance(node, list):
            return next((p for p in map(walk, node) if p), None)
        return None

    return walk(schema)


def _images_of(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c["image_url"] for m in messages if isinstance(m.get("content"), list)
            for c in m["content"] if isinstance(c, dict) and c.get("type") == "image_url"]


def _check_image(url: str) -> tuple[str | None, bool, int]:
    """(problem, exif_seen, bytes) of a data URL image."""
    match = re.match(r"data:image/(jpeg|png|webp|gif);base64,(.*)", url, re.S)
    if not match:
        return "images must be base64 data URLs of PNG, JPEG, WEBP or GIF", False, 0
    raw = base64.b64decode(match.group(2))
    exif_seen = b"Exif\x00\x00" in raw or b"http://ns.adobe.com/xap" in raw
    try:
        with Image.open(io.BytesIO(raw)) as img:
            img.load()
            exif_seen = exif_seen or bool(len(img.getexif())) or "exif" in img.info
            if getattr(img, "is_animated", False):
                return "animated images are not supported", exif_seen, len(raw)
    except Exception:
        return "invalid image data", exif_seen, len(raw)
    return None, exif_seen, len(raw)


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def _client_gone(self) -> bool:
        """True when the client closed its side (killed, cancelled): such answers are not billed."""
        try:
            ready, _, _ = select.select([self.connection], [], [], 0)
            return bool(ready) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> bool:
        if self._client_gone():
            return False
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {"content-type": "application/json", **(headers or {})}
        try:
            self.send_response(status)
            self.send_header("content-length", str(len(body)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            return False
        return True

    def _error(self, status: int, message: str, **extra: Any) -> bool:
        headers = {}
        if status in (429, 503) and self.server.faults.retry_after_ms is not None:
            headers["retry-after-ms"] = str(self.server.faults.retry_after_ms)
        return self._send(status, {"id": str(uuid.uuid4()), "message": message, **extra}, headers)

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        srv = self.server
        raw = self.rfile.read(int(self.headers.get("content-length", 0)))
        auth_ok = self.headers.get("authorization") == f"Bearer {srv.key}"
        key = self.headers.get("idempotency-key")
        entry = LogEntry(time.time(), self.path, 0, None, key, auth_ok, False, None, 0, False, len(raw))
        with srv.lock:
            srv.active += 1
            srv.peak_active = max(srv.peak_active, srv.active)
        try:
            entry.status = self._handle(raw, entry)
        finally:
            with srv.lock:
                srv.active -= 1
                srv.log.append(entry)
                srv.bodies.append(raw)

    def _handle(self, raw: bytes, entry: LogEntry) -> int:
        srv = self.server
        if not entry.auth_ok:
            self._error(401, "invalid api token")
            return 401
        try:
            body = json.loads(raw)
        except ValueError:
            self._error(400, "invalid request: body is not JSON")
            return 400
        entry.model = body.get("model")
        fault, held = srv.next_fault(entry.idempotency_key)
        entry.fault = fault
        if fault == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return 0
        if fault in ("429", "429_monthly", "422", "500", "503"):
            status = int(fault[:3])
            message = {"429": PER_MINUTE_MESSAGE, "429_monthly": MONTHLY_MESSAGE, "500": "internal server error",
                       "503": "service unavailable",
                       "422": "No valid response generated. Try updating messages"}[fault]
            extra = {"error_type": "NO_VALID_RESPONSE_GENERATED"} if status == 422 else {}
            self._error(status, message, **extra)
            return status
        handler = {"/v2/chat": self._chat, "/v2/embed": self._embed}.get(self.path)
        if handler is None:
            self._error(404, f"no route {self.path}")
            return 404
        if held:
            srv.released.wait()
        time.sleep(srv.faults.slow_s if fault == "slow" else srv.faults.latency_s)
        status, payload = handler(body, entry, fault)
        if status != 200:
            self._error(status, payload)
            return status
        stream = {"content-type": "text/event-stream"} if isinstance(payload, bytes) else {}  # SSE
        delivered = self._send(200, payload, stream)
        entry.billed = delivered
        return 200 if delivered else 499

    def _chat(self, body: dict[str, Any], entry: LogEntry, fault: str | None) -> tuple[int, Any]:
        srv = self.server
        model, messages = body.get("model"), body.get("messages")
        if model in RETIRED:
            return 404, f"model '{model}' was removed"
        if model not in VISION_MODELS | TEXT_MODELS:
            return 404, f"model '{model}' not found"
        if not isinstance(messages, list) or not messages:
            return 400, "invalid request: messages must be a non-empty list"
        images = _images_of(messages)
        entry.images = len(images)
        if images and model not in VISION_MODELS:
            return 400, f"model '{model}' does not support images"
        if len(images) > 20:
            return 400, "too many images: at most 20 per request"
        total = 0
        for image in images:
            problem, exif, size = _check_image(image.get("url", ""))
            entry.exif_seen = entry.exif_seen or exif
            total += size
            if problem:
                return 400, problem
        if total > 20_000_000:
            return 400, "images exceed 20 MB"
        fmt = body.get("response_format") or {"type": "text"}
        schema = fmt.get("json_schema") if fmt.get("type") == "json_object" else None
        if fmt.get("type") == "json_object" and "schema" in fmt:
            return 400, "response_format: unknown field 'schema' (did you mean json_schema?)"
        if schema is not None and (problem := schema_problem(schema)):
            return 400, problem
        text_parts = [m["content"] if isinstance(m.get("content"), str) else
                      " ".join(c.get("text", "") for c in m["content"] if isinstance(c, dict))
                      for m in messages]
        seed = _hash(model, text_parts, [hashlib.sha256(i.get("url", "").encode()).hexdigest() for i in images],
                     body.get("seed"))
        if schema is not None:
            answer = json.dumps(fake_value(schema, seed, "answer"), ensure_ascii=False)
        else:
            answer = fake_value({"type": "string"}, seed, "text")
        if fault == "malformed":
            answer = answer[: max(1, len(answer) // 2)]  # truncated JSON
        if fault == "invalid_schema":
            answer = json.dumps({"unexpected": True})
        if fault == "blank" and schema is not None:  # schema-valid, but every field is blank
            answer = json.dumps({k: " " for k in schema.get("required", [])})
        in_tok = float(sum(len(t.encode()) for t in text_parts) // 4 + 256 * len(images) + 8)
        out_tok = float(max(1, len(answer.encode()) // 4))
        entry.input_tokens, entry.output_tokens = in_tok, out_tok
        usage = {"billed_units": {"input_tokens": in_tok, "output_tokens": out_tok},
                 "tokens": {"input_tokens": in_tok + 64, "output_tokens": out_tok}}
        if body.get("stream"):
            return 200, _sse(answer, usage)
        return 200, {"id": str(uuid.uuid4()), "finish_reason": "COMPLETE",
                     "message": {"role": "assistant", "content": [{"type": "text", "text": answer}]},
                     "usage": usage}

    def _embed(self, body: dict[str, Any], entry: LogEntry, fault: str | None) -> tuple[int, Any]:
        if body.get("model") not in EMBED_MODELS:
            return 404, f"model '{body.get('model')}' not found"
        if body.get("input_type") not in ("search_document", "search_query", "classification", "clustering", "image"):
            return 400, "invalid input_type"
        items = body.get("texts") or body.get("images") or body.get("inputs") or []
        if not items or len(items) > 96:
            return 400, "between 1 and 96 inputs per call"
        dim = int(body.get("output_dimension") or 256)
        vectors = [[((_hash(json.dumps(x, sort_keys=True), d) % 2001) - 1000) / 1000 for d in range(dim)]
                   for x in items]
        tokens = float(sum(len(json.dumps(x)) // 4 for x in items))
        entry.input_tokens = tokens
        return 200, {"id": str(uuid.uuid4()), "embeddings": {"float": vectors}, "texts": body.get("texts", []),
                     "meta": {"billed_units": {"input_tokens": tokens}}}


def _sse(answer: str, usage: dict[str, Any]) -> bytes:
    events = [{"type": "message-start", "id": str(uuid.uuid4()), "delta": {"message": {"role": "assistant"}}},
              {"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}},
              *({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": answer[i:i + 16]}}}}
                for i in range(0, len(answer), 16)),
              {"type": "content-end", "index": 0},
              {"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": usage}}]
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, key: str, faults: Faults) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.key = key
        self.faults = faults
        self.lock = threading.Lock()
        self.log: list[LogEntry] = []
        self.bodies: list[bytes] = []
        self.released = threading.Event()
        self._starts: deque[float] = deque()
        self.active = 0
        self.calls = 0  # requests past the rate and quota checks (what a monthly quota counts)
        self.peak_active = 0

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that vanish (killed, cancelled) are part of the tests: no tracebacks."""

    def next_fault(self, key: str | None) -> tuple[str | None, bool]:
        """(this request's fault, whether it must hang until `release`), decided atomically."""
        with self.lock:
            f = self.faults
            now = time.monotonic()
            if f.rpm_limit is not None:
                while self._starts and now - self._starts[0] >= 60.0:
                    self._starts.popleft()
                if len(self._starts) >= f.rpm_limit:
                    return "429", False
                self._starts.append(now)
            if f.monthly_limit is not None and self.calls >= f.monthly_limit:
                return "429_monthly", False
            held = f.hold_after is not None and self.calls >= f.hold_after
            self.calls += 1
            if key and f.rules.get(key):
                return f.rules[key].popleft(), held
            return (f.script.popleft() if f.script else None), held


class LoopbackCohere:
    """A running loopback server: `url`, `key`, `faults`, `log`, and assertions helpers."""

    def __init__(self, key: str = "test-key-do-not-leak-7c1f", faults: Faults | None = None) -> None:
        self._server = _Server(key, faults or Faults())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def key(self) -> str:
        return self._server.key

    @property
    def faults(self) -> Faults:
        return self._server.faults

    @property
    def log(self) -> list[LogEntry]:
        with self._server.lock:
            return list(self._server.log)

    @property
    def bodies(self) -> list[bytes]:
        with self._server.lock:
            return list(self._server.bodies)

    def in_flight(self) -> int:
        """Requests received and not yet answered (held, sleeping...)."""
        with self._server.lock:
            return self._server.active

    @property
    def peak_in_flight(self) -> int:
        return self._server.peak_active

    def billed_keys(self) -> list[str | None]:
        return [e.idempotency_key for e in self.log if e.billed]

    def release(self) -> None:
        """Let held requests go on (each answers only if its client is still there)."""
        self.faults.hold_after = None
        self._server.released.set()

    def close(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "LoopbackCohere":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture
def cohere_server_factory() -> Iterator[Callable[..., LoopbackCohere]]:
    """Start loopback servers with given `Faults` fields; all are closed after the test."""
    started: list[LoopbackCohere] = []

    def make(**faults: Any) -> LoopbackCohere:
        server = LoopbackCohere(faults=Faults(**faults))
        started.append(server)
        return server

    yield make
    for server in started:
        server.close()


def main() -> None:
    """Standalone server for benchmarks: prints its URL, serves, prints status counts on SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--rpm", type=int, default=None)
    parser.add_argument("--key", default="bench-key")
    args = parser.parse_args()
    server = LoopbackCohere(key=args.key, faults=Faults(latency_s=args.latency, rpm_limit=args.rpm))
    print(json.dumps({"url": server.url}), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:  # SIGINT: print what happened, for the benchmark's report
        counts = Counter(str(e.status) for e in server.log)
        server.close()
        print(json.dumps({"status_counts": dict(counts)}), flush=True)


if __name__ == "__main__":
    main()
