"""The Arena loader: both schemas, three file formats, bad rows, length bias, KTO rows, seeds."""
from __future__ import annotations

import json

import datasets
import pytest
from arena_helpers import rows, write
from typer.testing import CliRunner

from vlcultura.cli import app
from vlcultura.data.arena import ArenaError, convert_arena, resolve_mapping

EXPECTED_RAW_DROPS = {"arena-3": "tie", "arena-4": "both_bad", "arena-5": "malformed_row",
                      "arena-6": "identical_answers", "arena-7": "malformed_vote"}


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".json", ".jsonl"])
def test_raw_schema_drops_ties_both_bad_and_malformed_rows(tmp_path, suffix):
    src = write(rows("raw"), tmp_path / f"arena{suffix}")
    report = convert_arena(str(src), tmp_path / "out")
    assert report.stats["schema"] == "raw"
    assert {d.row_id: d.reason for d in report.drops} == EXPECTED_RAW_DROPS
    assert report.n_in == 9 and report.n_out == 4
    assert report.stats["pairs_by_country"] == {"AR": 1, "MX": 1, "ES": 1, "unknown": 1}
    assert any("Atlántida" in note for note in report.notes)
    kto = datasets.load_from_disk(str(tmp_path / "out" / "kto"))
    assert len(kto) == 8 and sum(kto["label"]) == 4
    first = kto[0]
    assert first["prompt"][0]["role"] == "system" and first["prompt"][1]["role"] == "user"
    assert first["prompt"][1]["content"][0]["text"] == "¿Qué se come en un asado de domingo?"
    assert first["completion"][0]["role"] == "assistant" and first["label"] is True
    assert first["variety"] == "es-AR" and first["topic"] == "comida" and first["model"] == "modelo-a"
    assert "username" not in kto.column_names and "votante0" not in json.dumps(kto.to_list())


def test_export_schema_is_honest_about_missing_tie_columns(tmp_path):
    src = write(rows("export"), tmp_path / "arena.csv")
    report = convert_arena(str(src), tmp_path / "out")
    assert report.stats["schema"] == "export"
    assert any("no tie/both_bad" in n for n in report.notes)
    assert {d.reason for d in report.drops} == {"malformed_row", "identical_answers"}
    assert report.n_out == 5  # AR, MX, ES, EC (its vote column is not in this schema), unknown


def test_length_bias_and_seeds(tmp_path):
    src = write(rows("raw"), tmp_path / "arena.parquet")
    out = tmp_path / "out"
    report = convert_arena(str(src), out)
    bias = report.stats["length_bias"]["overall"]
    assert bias["share_chosen_longer"] == 1.0 and bias["chosen_over_rejected"] > 3
    assert set(report.stats["length_bias"]["by_country"]) == {"AR", "MX", "ES", "unknown"}
    seeds = [json.loads(line) for line in (out / "seeds.jsonl").read_text().splitlines()]
    cells = {(s["country"], s["topic"]): s for s in seeds}
    assert cells[("MX", "fiestas")]["variety"] == "es-MX"
    assert cells[("ES", "musica")]["examples"] == ["¿Qué música se escucha en las fiestas del pueblo?"]
    assert json.loads((out / "arena_report.json").read_text())["counts_by_reason"]["tie"] == 1


def test_explicit_column_mapping(tmp_path):
    renamed = [{"pais": r["country"], "pregunta": r["question"], "buena": r["chosen"], "mala": r["rejected"]}
               for r in rows("export")]
    src = write(renamed, tmp_path / "arena.json")
    with pytest.raises(ArenaError, match="match neither Arena schema"):
        convert_arena(str(src), tmp_path / "out")
    mapping = {"pais": "country", "pregunta": "question", "buena": "chosen", "mala": "rejected"}
    report = convert_arena(str(src), tmp_path / "out", column_map=mapping)
    assert report.stats["schema"] == "custom" and report.n_out == 5
    with pytest.raises(ArenaError, match="unknown targets"):
        resolve_mapping(["pais"], {"pais": "nation"})


def test_unreadable_sources_say_what_to_do(tmp_path):
    bad = tmp_path / "arena.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ArenaError, match="could not be read"):
        convert_arena(str(bad), tmp_path / "out")
    with pytest.raises(ArenaError, match="unsupported file type"):
        convert_arena(str(write(rows("raw"), tmp_path / "a.csv").rename(tmp_path / "a.xlsx")), tmp_path / "o")
    with pytest.raises(ArenaError, match="Offline"):  # the real Hub path, offline in tests
        convert_arena("somosnlp-hackathon-2025/dataset-preferencias-dpo-v0", tmp_path / "out")


def test_cli_arena(tmp_path):
    src = write(rows("raw"), tmp_path / "arena.csv")
    result = CliRunner().invoke(app, ["arena", "--source", str(src), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "4 clear preferences" in result.output and "tie" in result.output
    assert (tmp_path / "out" / "arena_kto.parquet").is_file()
    result = CliRunner().invoke(app, ["arena", "--source", str(src), "--out", str(tmp_path / "o2"),
                                      "--column-map", "nope"])
    assert result.exit_code != 0 and "SRC=DST" in result.output


def test_json_variants_columns_and_lines(tmp_path):
    data = rows("export")
    columns = {k: [r[k] for r in data] for k in data[0]}
    (tmp_path / "cols.json").write_text(json.dumps(columns, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "lines.json").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in data), encoding="utf-8")
    for name in ("cols.json", "lines.json"):
        report = convert_arena(str(tmp_path / name), tmp_path / name.replace(".", "_"))
        assert report.stats["schema"] == "export" and report.n_out == 5
