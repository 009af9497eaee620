"""The GPU benchmark script runs end to end on CPU with the tiny shapes (keeps it from rotting)."""
from __future__ import annotations

import importlib.util
import json
import sys

from conftest import ROOT


def test_benchmark_script_on_tiny_shapes(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("kto_throughput", ROOT / "benchmarks" / "kto_throughput.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(sys, "argv", ["kto_throughput.py", "--shapes", "smolvlm-tiny", "gemma3-tiny",
                                      "--batch", "2", "--warmup", "1", "--steps", "2", "--workers", "0",
                                      "--out", str(tmp_path)])
    bench.main()
    results = json.loads((tmp_path / "kto_throughput.json").read_text())
    assert [r["shape"] for r in results] == ["smolvlm-tiny", "gemma3-tiny"]
    for r in results:
        assert r["fast"]["fast_path"] and r["fast"]["vision_calls_total"] == 3  # 6 rows / batch 2
        for e in r["equivalence"]["fast"].values():  # float32 on CPU: within 1e-5, or within the
            # rounding floor stock itself shows when only the padding changes (tiny rewards)
            assert e["max_rel_diff"] <= max(1e-5, 2 * e["stock_padded_max_rel_diff"]), e
        assert r["stock"]["samples_per_s"] > 0 and r["fast"]["speedup"] > 0
    assert "| gemma3-tiny | vlcultura FastKTOTrainer |" in (tmp_path / "kto_throughput.md").read_text()
