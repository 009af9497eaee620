"""Connecting to Argilla: the URL from the config or ARGILLA_API_URL, the key from ARGILLA_API_KEY only.

Every network failure becomes one clear `ArgillaUnreachable` that says what to do, instead of a
transport traceback; nothing here ever formats the key into a message.
"""
from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import Iterator

import argilla as rg
import httpx
from argilla._exceptions import ArgillaCredentialsError

from vlcultura.config import ReviewConfig, secrets_from_env

DEFAULT_URL = "http://127.0.0.1:6900"  # where `vlcultura review serve` listens


class ArgillaUnreachable(ConnectionError):
    """The Argilla server did not answer (down, restarting, wrong URL)."""

    def __init__(self, url: str) -> None:
        super().__init__(f"Argilla at {url} is unreachable: start it with `vlcultura review serve` "
                         "or fix ARGILLA_API_URL")
        self.url = url


class ArgillaKeyError(RuntimeError):
    """ARGILLA_API_KEY is missing, or the server refused it."""


def api_url(config: ReviewConfig) -> str:
    return (config.api_url or os.environ.get("ARGILLA_API_URL") or DEFAULT_URL).rstrip("/")


@contextmanager
def reachable(url: str) -> Iterator[None]:
    """Turn transport errors (refused, reset, timed out) into `ArgillaUnreachable`."""
    try:
        yield
    except httpx.TransportError as exc:
        raise ArgillaUnreachable(url) from exc


def connect(config: ReviewConfig) -> rg.Argilla:
    """An SDK client for the configured server, authenticated with ARGILLA_API_KEY."""
    key = secrets_from_env().argilla_api_key
    url = api_url(config)
    if not key:
        raise ArgillaKeyError(f"ARGILLA_API_KEY is not set: export the key of an Argilla owner/admin of {url} "
                                "(for `vlcultura review serve`, it is in <home>/owner.key)")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # request lines are noise at INFO
    with reachable(url):
        try:
            return rg.Argilla(api_url=url, api_key=key, timeout=config.timeout_s, retries=0)
        except ArgillaCredentialsError:
            raise ArgillaKeyError(f"{url} refused ARGILLA_API_KEY: export the key of an owner/admin of that "
                                  "server") from None
