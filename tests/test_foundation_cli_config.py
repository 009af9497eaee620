"""The foundation: every command has help, doctor never leaks a key, configs are strict."""
from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from vlcultura.cli import app
from vlcultura.config import PipelineConfig, load_config, secrets_from_env
from vlcultura.cultures import (fold, get_variety, normalize_country, normalize_variety,
                                variety_for_country)

runner = CliRunner()


def _command_paths(command, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, sub in getattr(command, "commands", {}).items():
        paths += _command_paths(sub, (*prefix, name))
    return paths


def test_every_command_has_help():
    root = typer.main.get_command(app)
    paths = _command_paths(root)
    assert ("doctor",) in paths and ("tiny-model",) in paths
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output


def test_doctor_reports_keys_without_values(monkeypatch):
    secret = "co-test-SENTINEL-0123456789abcdef"
    monkeypatch.setenv("CO_API_KEY", secret)
    monkeypatch.setenv("HF_TOKEN", "hf_SENTINEL_abcdefghijklmnopqrstuvwxyz0123")
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    assert "SENTINEL" not in result.output
    assert "cohere key" in result.output and "transformers" in result.output
    assert "SENTINEL" not in repr(secrets_from_env()) and "SENTINEL" not in str(secrets_from_env())


def test_config_is_strict_and_refuses_secrets(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("output_dir: out\ntrain:\n  learning_rate: 0.001\n")
    config = load_config(recipe, {"train.max_steps": 3})
    assert config.train.learning_rate == 0.001 and config.train.max_steps == 3
    recipe.write_text("train:\n  learnin_rate: 0.001\n")
    with pytest.raises(ValueError, match="learnin_rate"):
        load_config(recipe)
    with pytest.raises(ValueError, match="environment"):
        PipelineConfig.model_validate({"generate": {"cohere": {"api_key": "x" * 30}}})


def test_cultures_normalisation():
    assert normalize_country("Bolivia") == "BO"
    assert normalize_country("México") == "MX" and normalize_country("mx") == "MX"
    assert normalize_country("Atlantis") is None
    assert normalize_variety("es_mx") == "es-MX" and normalize_variety("pt-br") == "pt-BR"
    assert variety_for_country("Brazil") == "pt-BR" and variety_for_country("Portugal") == "pt-PT"
    assert fold("Cuñapé MÉXICO") == "cuñape mexico"
    with pytest.raises(ValueError, match="register_variety"):
        get_variety("xx-YY")
