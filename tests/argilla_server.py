"""Fixtures for the review tests: ONE real argilla-server on loopback per test session.

The server (redis + osmem + argilla-server 2.8 from its own venv, see vlcultura.review.server)
starts once (~5 s) and is stopped at the end; each test works in its own Argilla dataset. Two
annotators, alice and bob, answer through the same HTTP call the web UI makes, each with their
own API key. Import the fixtures into a test module with
`from argilla_server import argilla_local, reviewers, review_config  # noqa: F401`.

Needs VLCULTURA_ARGILLA_VENV (default: <repo>/.venv-argilla) and redis-server on PATH; CI sets
VLCULTURA_REQUIRE_ARGILLA=1 so a missing server fails instead of skipping.
"""
from __future__ import annotations

import io
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import argilla as rg
import pytest
from conftest import ROOT, require
from PIL import Image

from vlcultura.config import ReviewConfig
from vlcultura.records import Candidate
from vlcultura.review.server import LocalArgilla, free_port, redis_binary, venv_ready

ARGILLA_VENV = Path(os.environ.get("VLCULTURA_ARGILLA_VENV", ROOT / ".venv-argilla"))
REVIEWERS = ("alice", "bob")


@pytest.fixture(scope="session")
def argilla_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalArgilla]:
    """The session's server; a test may `kill_server()` and `start()` it again (same home)."""
    require("argilla", venv_ready(ARGILLA_VENV) and redis_binary() is not None,
            f"no local Argilla: needs argilla-server in {ARGILLA_VENV} (`vlcultura review serve --venv "
            f"{ARGILLA_VENV}` creates it) and redis-server on PATH")
    server = LocalArgilla(home=tmp_path_factory.mktemp("argilla"), venv=ARGILLA_VENV, port=free_port())
    saved = os.environ.pop("ARGILLA_API_KEY", None)
    try:
        server.start()  # generates the owner key into <home>/owner.key
        yield server
    finally:
        server.stop()
        if saved is not None:
            os.environ["ARGILLA_API_KEY"] = saved


@dataclass
class Reviewer:
    """An annotator acting through the SDK with her own key, calling the endpoints the UI calls."""

    name: str
    client: rg.Argilla
    responses: dict[str, str] = field(default_factory=dict)  # record uuid -> her response id

    def queue(self, dataset_name: str, status: str = "pending") -> dict[str, str]:
        """{record id: server uuid} of her queue ("pending", "submitted"...), searched as the UI does."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset = self.client.datasets(dataset_name, workspace="argilla")
        body = {"filters": {"and": [{"type": "terms", "scope": {"entity": "response", "property": "status"},
                                     "values": [status]}]}}
        reply = self.client.http_client.post(f"/api/v1/me/datasets/{dataset.id}/records/search",
                                             params={"limit": 1000}, json=body)
        reply.raise_for_status()
        return {i["record"]["external_id"]: i["record"]["id"] for i in reply.json()["items"]}

    def answer(self, server_id: str, values: dict[str, Any], status: str = "submitted") -> dict:
        """Create her response, or update it when she already answered (a draft, then submitted)."""
        body = {"values": {q: {"value": v} for q, v in values.items()}, "status": status}
        if server_id in self.responses:
            reply = self.client.http_client.put(f"/api/v1/responses/{self.responses[server_id]}", json=body)
        else:
            reply = self.client.http_client.post(f"/api/v1/records/{server_id}/responses", json=body)
        reply.raise_for_status()
        self.responses[server_id] = reply.json()["id"]
        return reply.json()


@pytest.fixture(scope="session")
def reviewers(argilla_local: LocalArgilla) -> dict[str, Reviewer]:
    """alice and bob: annotators of the `argilla` workspace, each with her own API key."""
    owner = rg.Argilla(api_url=argilla_local.url, api_key=argilla_local.owner_api_key())
    out = {}
    for name in REVIEWERS:
        argilla_local.add_reviewer(name)
        key = owner.http_client.get(f"/api/v1/users/{owner.users(name).id}").json()["api_key"]
        out[name] = Reviewer(name, rg.Argilla(api_url=argilla_local.url, api_key=key))
    return out


@pytest.fixture
def review_config(argilla_local: LocalArgilla, monkeypatch: pytest.MonkeyPatch,
                  request: pytest.FixtureRequest) -> ReviewConfig:
    """A config for this test's own dataset, with the owner's key in ARGILLA_API_KEY."""
    monkeypatch.setenv("ARGILLA_API_KEY", argilla_local.owner_api_key())
    name = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:60]
    return ReviewConfig(api_url=argilla_local.url, dataset_name=name, batch_size=4, retry_wait_s=0.0)


def jpeg_with_gps(color: tuple[int, int, int]) -> bytes:
    """A small JPEG that still carries EXIF with a GPS block (it must never reach Argilla)."""
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"
    exif.get_ifd(0x8825)[2] = (40.0, 25.0, 0.0)  # GPSLatitude
    buffer = io.BytesIO()
    Image.new("RGB", (24, 16), color).save(buffer, format="JPEG", exif=exif)
    return buffer.getvalue()


def make_candidates(n: int, judged: bool = True) -> Any:
    """n candidates on n/2 images (a desirable and an undesirable each), as the judge writes them."""
    import datasets

    rows = []
    for i in range(n):
        desirable = i % 2 == 0
        cand = Candidate(id=f"cand-{i:03d}", image_id=f"img-{i // 2:03d}", label=desirable,
                         completion=(f"Una salteña boliviana recién horneada, número {i}." if desirable
                                     else f"Una empanada argentina típica, número {i}."),
                         negative_type=None if desirable else "wrong_culture" if i % 4 == 1 else "stereotype",
                         strategy="template", backend="template", country="BO", variety="es-BO", topic="comida")
        row = {**cand.model_dump(mode="json"), "image": {"bytes": jpeg_with_gps((10 * i % 255, 80, 120)),
                                                          "path": None}}
        if judged:
            row["judge_cultural_accuracy"] = 4.6 if desirable else 1.8
            row["judge_respect"] = 5.0 if desirable else 3.0
        rows.append(row)
    return datasets.Dataset.from_list(rows).cast_column("image", datasets.Image())
