"""`vlcultura review push|pull|serve` (registered by vlcultura.cli).

The key is read from ARGILLA_API_KEY only; the URL from the recipe's `review.api_url`,
`--api-url`, or ARGILLA_API_URL. Known failures (server unreachable, key missing, no dataset)
print one line saying what to do and exit with code 1, never a traceback.
"""
from __future__ import annotations

import signal
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import typer

review_app = typer.Typer(help="Human review in Argilla: push candidates, pull the reviews, serve a local Argilla.",
                         no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the `vlcultura` app."""
    app.add_typer(review_app, name="review")


def _config(recipe: Optional[Path], api_url: Optional[str], dataset: Optional[str]):
    from vlcultura.config import ReviewConfig, load_config

    config = load_config(recipe).review if recipe else ReviewConfig()
    updates = {k: v for k, v in {"api_url": api_url, "dataset_name": dataset}.items() if v}
    return config.model_copy(update=updates)


@contextmanager
def _clear_errors() -> Iterator[None]:
    """Known failures: one line on stderr and exit code 1."""
    from argilla._exceptions import ArgillaError

    from vlcultura.review.client import ArgillaKeyError, ArgillaUnreachable
    from vlcultura.review.server import LocalServerError

    try:
        yield
    except (ArgillaUnreachable, ArgillaKeyError, ArgillaError, LocalServerError, ValueError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None


RECIPE = typer.Option(None, "--config", "-c", help="A recipe YAML; its `review:` section is used.")
API_URL = typer.Option(None, "--api-url", help="Argilla URL (default: recipe, then ARGILLA_API_URL).")
DATASET = typer.Option(None, "--dataset", help="Argilla dataset name (default: the recipe's).")


@review_app.command()
def push(candidates: Path = typer.Argument(..., help="Candidates or judged dataset (datasets on disk)."),
         recipe: Optional[Path] = RECIPE, api_url: Optional[str] = API_URL, dataset: Optional[str] = DATASET,
         journal: Optional[Path] = typer.Option(None, help="Push journal (default: next to CANDIDATES).")) -> None:
    """Push candidates as Argilla records; a re-run sends only what is missing, never duplicates."""
    from vlcultura.review.push import default_journal, push as push_records

    config = _config(recipe, api_url, dataset)
    with _clear_errors():
        report = push_records(candidates, config, journal or default_journal(candidates))
    typer.echo(f"pushed {report.sent} record(s) to {config.dataset_name!r} ({report.already_sent} already there, "
               f"{len(report.rejected)} left out)")
    for rejection in report.rejected:
        typer.secho(f"  {rejection.source}: {rejection.detail}", fg=typer.colors.YELLOW, err=True)


@review_app.command()
def pull(candidates: Path = typer.Argument(..., help="The dataset that was pushed (images come from it)."),
         output: Path = typer.Argument(..., help="Folder for `reviewed/` and the review report."),
         recipe: Optional[Path] = RECIPE, api_url: Optional[str] = API_URL,
         dataset: Optional[str] = DATASET) -> None:
    """Pull submitted reviews: reviewed dataset, corrections as new rows, agreement report."""
    from vlcultura.review.pull import pull as pull_reviews

    with _clear_errors():
        report = pull_reviews(candidates, output, _config(recipe, api_url, dataset))
    if report.message:
        typer.secho(report.message, fg=typer.colors.YELLOW)
    kappa = report.agreement.get("fleiss_kappa")
    typer.echo(f"{report.rows_written} row(s) from {report.reviewed_records} reviewed record(s), "
               f"{report.corrections} correction(s); Fleiss' kappa "
               f"{'n/a' if kappa is None else f'{kappa:.3f}'}; report in {output / 'review_report.md'}")


def _interrupt(*_: object) -> None:
    """SIGTERM stops `serve` as Ctrl-C does, so its child processes are stopped too."""
    raise KeyboardInterrupt


@review_app.command()
def serve(home: Optional[Path] = typer.Option(None, help="Server data (SQLite, logs, owner key). "
                                                       "Default: ~/.local/share/vlcultura/argilla"),
          venv: Path = typer.Option(Path(".venv-argilla"), help="The server's own environment (created if missing)."),
          port: int = typer.Option(6900, help="Port on 127.0.0.1."),
          reviewer: list[str] = typer.Option([], "--reviewer", help="Create this annotator (repeatable).")) -> None:
    """Run a real Argilla server on loopback (for users without a Hugging Face Space)."""
    from vlcultura.review.server import LocalArgilla, default_home, ensure_venv, venv_ready

    server = LocalArgilla(home=(home or default_home()).resolve(), venv=venv.resolve(), port=port)
    with _clear_errors():
        if not venv_ready(server.venv):
            typer.echo(f"installing argilla-server into {server.venv} (once, about 30 s)...")
            ensure_venv(server.venv)
        try:
            server.start()
            names = [f"{name} (password in {server.add_reviewer(name)})" for name in reviewer]
            key_hint = (f'export ARGILLA_API_KEY="$(cat {server.key_file})"' if server.key_file.exists()
                        else "ARGILLA_API_KEY as set at the first start")
            typer.echo(f"Argilla is up at {server.url}\n"
                       f"  UI login: argilla / password in {server.password_file}\n"
                       f"  SDK and vlcultura: export ARGILLA_API_URL={server.url}; {key_hint}\n"
                       + "".join(f"  reviewer: {n}\n" for n in names)
                       + "Ctrl-C stops it (the reviews stay in the home folder).")
            signal.signal(signal.SIGTERM, _interrupt)
            while server.running():
                time.sleep(1)
            typer.secho(f"a server process stopped: see {server.home / 'logs'}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1)
        except KeyboardInterrupt:
            typer.echo("stopping")
        finally:
            server.stop()
