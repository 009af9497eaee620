"""Promise: speed is measured, not asserted. Every committed benchmark result names the machine or
card it ran on, and every speed-up is a ratio against the stock baseline of the same run."""
from __future__ import annotations

import json

import pytest
from conftest import ROOT

RESULTS = ROOT / "benchmarks" / "results"
JSON_FILES = sorted(RESULTS.glob("*.json"))


def test_every_result_has_its_table():
    assert JSON_FILES
    for path in JSON_FILES:
        assert path.with_suffix(".md").is_file(), f"{path.name} has no readable table beside it"


@pytest.mark.parametrize("path", JSON_FILES, ids=lambda p: p.stem)
def test_each_result_names_where_it_ran(path):
    data = json.loads(path.read_text(encoding="utf-8"))
    entries = data if isinstance(data, list) else [data]
    for entry in entries:
        where = entry.get("device") or entry.get("machine")
        assert where, f"{path.name}: no device/machine recorded"
    title = path.with_suffix(".md").read_text(encoding="utf-8").split("\n\n", 2)[:2]
    card = path.stem.rsplit("_", 1)[-1]  # kto_throughput_h200 -> h200
    if card.startswith(("h100", "h200", "a100", "l40s")):
        devices = {str(e.get("device")) for e in entries}
        assert all(card.upper() in d.upper() for d in devices), f"{path.name} says {devices}"
        assert card.upper() in " ".join(title).upper()  # the table's heading names the card too


def test_gpu_speedups_are_against_stock_trl_in_the_same_run():
    for path in RESULTS.glob("kto_throughput_*.json"):
        for entry in json.loads(path.read_text(encoding="utf-8")):
            stock, fast = entry["stock"], entry["fast"]
            assert (stock["trainer"], stock["fast_path"], fast["fast_path"]) == ("stock", False, True)
            assert (stock["shape"], stock["batch"], stock["timed_steps"]) == (fast["shape"], fast["batch"],
                                                                               fast["timed_steps"])
            assert fast["speedup"] == pytest.approx(fast["samples_per_s"] / stock["samples_per_s"], rel=0.01)
