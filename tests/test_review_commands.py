"""`vlcultura review serve|push|pull` from the command line, against the server `serve` starts."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from argilla_server import ARGILLA_VENV, argilla_local, make_candidates  # noqa: F401
from conftest import require
from typer.testing import CliRunner

from vlcultura.cli import app
from vlcultura.review.server import free_port, redis_binary, venv_ready


def wait_for_line(proc: subprocess.Popen, needle: str, timeout_s: float = 120) -> str:
    seen, deadline = "", time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        line = proc.stdout.readline()
        seen += line
        if needle in line:
            return seen
    raise AssertionError(f"`serve` never printed {needle!r}; output so far:\n{seen}")


def _ctrl_c_as_in_a_terminal() -> None:
    """A shell starts background jobs (`pytest &`, CI wrappers) with SIGINT ignored, and children
    inherit that; Python then never installs its Ctrl-C handler. Restore what a terminal gives."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
@pytest.mark.argilla
def test_serve_then_push_and_pull_from_the_cli(tmp_path, monkeypatch):
    require("argilla", venv_ready(ARGILLA_VENV) and redis_binary() is not None,
            f"no local Argilla: needs {ARGILLA_VENV} and redis-server")
    home, port = tmp_path / "home", free_port()
    env = {k: v for k, v in os.environ.items() if k != "ARGILLA_API_KEY"}
    serve = subprocess.Popen([sys.executable, "-m", "vlcultura.cli", "review", "serve", "--home", str(home),
                              "--port", str(port), "--venv", str(ARGILLA_VENV), "--reviewer", "carol"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                             preexec_fn=_ctrl_c_as_in_a_terminal)
    try:
        banner = wait_for_line(serve, "Ctrl-C stops it")
        key = (home / "owner.key").read_text().strip()
        secrets = [key, (home / "owner.password").read_text().strip(),
                   (home / "reviewers" / "carol.password").read_text().strip()]
        assert f"Argilla is up at http://127.0.0.1:{port}" in banner and "carol" in banner
        for private in (home / "owner.key", home / "owner.password", home / "reviewers" / "carol.password"):
            assert private.stat().st_mode & 0o777 == 0o600

        rows_path = tmp_path / "candidates"
        make_candidates(4).save_to_disk(str(rows_path))
        monkeypatch.setenv("ARGILLA_API_KEY", key)
        runner, url = CliRunner(), ["--api-url", f"http://127.0.0.1:{port}", "--dataset", "cli"]
        first = runner.invoke(app, ["review", "push", str(rows_path), *url])
        assert first.exit_code == 0, first.output
        assert "pushed 4 record(s) to 'cli' (0 already there, 0 left out)" in first.output
        again = runner.invoke(app, ["review", "push", str(rows_path), *url])
        assert "pushed 0 record(s) to 'cli' (4 already there" in again.output
        assert (tmp_path / "review_push.sqlite").exists()
        pulled = runner.invoke(app, ["review", "pull", str(rows_path), str(tmp_path / "out"), *url])
        assert pulled.exit_code == 0 and "nothing reviewed yet" in pulled.output
    finally:
        serve.send_signal(signal.SIGINT)
        try:
            rest, _ = serve.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            serve.terminate()  # SIGTERM stops it and its servers too: leave nothing running
            serve.communicate(timeout=60)
            raise
    assert serve.returncode == 0 and "stopping" in rest
    assert not any(s in banner + rest + first.output for s in secrets)


@pytest.mark.parametrize("command", [["push"], ["pull", "out"]])
def test_push_or_pull_to_a_vanished_server_says_what_to_do(tmp_path, monkeypatch, command):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"review:\n  api_url: http://127.0.0.1:{free_port()}\n  retry_wait_s: 0\n")
    make_candidates(2).save_to_disk(str(tmp_path / "rows"))
    monkeypatch.setenv("ARGILLA_API_KEY", "some-key")
    verb, *rest = command
    args = ["review", verb, str(tmp_path / "rows"), *(str(tmp_path / r) for r in rest), "--config", str(recipe)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "is unreachable: start it with `vlcultura review serve` or fix ARGILLA_API_URL" in result.output
    assert "some-key" not in result.output and "Traceback" not in result.output


def test_pull_without_a_key_says_where_it_comes_from(tmp_path):
    make_candidates(2).save_to_disk(str(tmp_path / "rows"))
    result = CliRunner().invoke(app, ["review", "pull", str(tmp_path / "rows"), str(tmp_path / "out")])
    assert result.exit_code == 1 and "ARGILLA_API_KEY is not set" in result.output


@pytest.mark.argilla
def test_a_refused_key_is_named_without_being_shown(argilla_local, tmp_path, monkeypatch):
    make_candidates(2).save_to_disk(str(tmp_path / "rows"))
    monkeypatch.setenv("ARGILLA_API_KEY", "argilla.apikey.not-this-one")
    result = CliRunner().invoke(app, ["review", "push", str(tmp_path / "rows"), "--api-url", argilla_local.url])
    assert result.exit_code == 1 and f"{argilla_local.url} refused ARGILLA_API_KEY" in result.output
    assert "not-this-one" not in result.output


def test_serve_says_when_it_cannot_build_the_server_environment(tmp_path):
    result = CliRunner().invoke(app, ["review", "serve", "--home", str(tmp_path / "home"), "--venv", "/proc/no-venv"])
    assert result.exit_code == 1
    assert "could not prepare the Argilla server environment at /proc/no-venv" in result.output


def test_a_server_without_its_environment_says_how_to_get_one(tmp_path):
    from vlcultura.review.server import LocalArgilla, LocalServerError

    with pytest.raises(LocalServerError, match="run `vlcultura review serve --venv"):
        LocalArgilla(home=tmp_path / "home", venv=tmp_path / "missing").start()
