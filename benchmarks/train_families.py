"""The train stage on full-size, random-weight model shapes: samples/s and peak GPU memory.

Runs `vlcultura.train.trainer.train` itself (the code users run: presets, preflight, LoRA/QLoRA,
callbacks) for each family shape x {bf16 LoRA, QLoRA} x {stock TRL KTOTrainer, fast path},
so the stock baseline and the fast path are measured on the same card in the same run. Weights
are random (throughput and memory do not depend on them); the shapes are built offline:
SmolVLM-256M and Gemma-3-4B from benchmarks/kto_throughput.py (shared builders), Qwen2.5-VL-3B
here. Steady-state samples/s excludes the first steps; peak memory is the main process's.

One GPU (prints a table, writes $OUT/train_families.json):

    python benchmarks/train_families.py --shapes smolvlm-256m gemma3-4b qwen2.5-vl-3b --out $OUT

Several GPUs, same recipe through `accelerate launch scripts/train.py` (one GPU, then DDP and
FSDP), with the scaling against one GPU in the table:

    python benchmarks/train_families.py --shapes smolvlm-256m --modes lora --trainers stock \
        --launch single_gpu ddp fsdp --out $OUT

In-process runs need ONE visible GPU (on a multi-GPU host: CUDA_VISIBLE_DEVICES=0, or --launch).
CPU smoke (no GPU needed): `--shapes tiny-smolvlm tiny-gemma3 tiny-qwen2_5_vl --steps 3 --warmup 1`.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]  # works without `pip install -e .`

from kto_throughput import SHAPES as SHARED_SHAPES  # noqa: E402  (shared shape builders)
from kto_throughput import build as build_shared  # noqa: E402
from kto_throughput import dataset as noise_dataset  # noqa: E402

from vlcultura.config import PipelineConfig, dump_config  # noqa: E402

CUDA = torch.cuda.is_available()
# Qwen2.5-VL-3B-Instruct's public shape (config.json): Qwen2.5-3B text model + 32-block ViT.
QWEN_3B = dict(
    text=dict(hidden_size=2048, intermediate_size=11008, num_hidden_layers=36, num_attention_heads=16,
              num_key_value_heads=2, vocab_size=151936, rope_theta=1000000.0, max_position_embeddings=8192,
              rope_scaling={"type": "mrope", "mrope_section": [16, 24, 24]}, tie_word_embeddings=True),
    vision=dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=2048,
                patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112,
                fullatt_block_indexes=[7, 15, 23, 31], hidden_act="silu"),
    tile=448)
FULL = {"smolvlm-256m": "smolvlm", "gemma3-4b": "gemma3", "qwen2.5-vl-3b": "qwen2_5_vl"}
TINY = {"tiny-smolvlm": "smolvlm", "tiny-gemma3": "gemma3", "tiny-qwen2_5_vl": "qwen2_5_vl"}


def build_qwen_3b():
    """Qwen2.5-VL-3B shape with the tiny fixture's tokenizer and chat template."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2VLImageProcessorPil

    from vlcultura.testing import build_tiny_vlm_in_memory
    from vlcultura.train.processors import Qwen2_5_VLImageOnlyProcessor

    _, tiny = build_tiny_vlm_in_memory("qwen2_5_vl")
    tok = tiny.tokenizer
    processor = Qwen2_5_VLImageOnlyProcessor(
        image_processor=Qwen2VLImageProcessorPil(patch_size=14, merge_size=2, temporal_patch_size=2),
        tokenizer=tok, chat_template=tiny.chat_template)
    special = {k: tok.convert_tokens_to_ids(v) for k, v in (
        ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>"))}
    config = Qwen2_5_VLConfig(
        text_config=dict(pad_token_id=tok.pad_token_id, bos_token_id=None, eos_token_id=tok.eos_token_id,
                         **QWEN_3B["text"]),
        vision_config=QWEN_3B["vision"], pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
        tie_word_embeddings=True, **special)
    torch.manual_seed(0)
    with torch.device("cuda" if CUDA else "cpu"):
        model = Qwen2_5_VLForConditionalGeneration(config).to(torch.bfloat16 if CUDA else torch.float32)
    return model, processor, QWEN_3B["tile"]


def build_shape(shape: str):
    """(model, processor, tile px, family) of a shape."""
    if shape in TINY:
        from vlcultura.testing import TINY_IMAGE_SIZE, build_tiny_vlm_in_memory

        model, processor = build_tiny_vlm_in_memory(TINY[shape])
        return model, processor, TINY_IMAGE_SIZE, TINY[shape]
    if shape == "qwen2.5-vl-3b":
        return (*build_qwen_3b(), "qwen2_5_vl")
    model, processor = build_shared(shape)
    return model, processor, SHARED_SHAPES[shape]["tile"], FULL[shape]


def prepare(shape: str, work: Path, rows: int) -> tuple[Path, Path, str]:
    """Save the random model + processor and a noise-image KTO dataset; returns their paths."""
    from datasets import DatasetDict

    model, processor, tile, family = build_shape(shape)
    model_dir, data_dir = work / shape / "model", work / shape / "kto"
    model.save_pretrained(model_dir)
    processor.save_pretrained(model_dir)
    del model
    gc.collect()
    if CUDA:
        torch.cuda.empty_cache()
    DatasetDict(train=noise_dataset(rows, tile)).save_to_disk(str(data_dir))
    return model_dir, data_dir, family


def recipe(model_dir: Path, data_dir: Path, family: str, mode: str, trainer: str, out: Path,
           a: argparse.Namespace) -> PipelineConfig:
    return PipelineConfig.model_validate({
        "model": {"name_or_path": str(model_dir), "family": family, "dtype": "bfloat16" if CUDA else "float32",
                  "quantization": "4bit" if mode == "qlora" else "none"},
        "train": {"dataset": str(data_dir), "output_dir": str(out), "per_device_train_batch_size": a.batch,
                  "max_steps": a.warmup + a.steps, "learning_rate": 1e-5, "logging_steps": 1000,
                  "save_steps": 100000, "max_length": None, "fast_path": trainer == "fast",
                  "use_cpu": not CUDA, "gradient_checkpointing": a.gradient_checkpointing,
                  "preflight_rows": 32, "lora": {"r": 16, "alpha": 32, "dropout": 0.0},
                  "extra_args": {"dataloader_num_workers": a.workers}},
        "emissions": {"enabled": False}})


def run_inprocess(cfg: PipelineConfig) -> dict:
    from vlcultura.train.trainer import train

    result = train(cfg)
    return {"trainer": result.trainer_class, "samples_per_s": result.steady_samples_per_second,
            "peak_gib": result.peak_gpu_memory_gib, "processes": result.world_size,
            "fast_path_reasons": result.fast_path_reasons, "global_step": result.global_step,
            "train_wall_s": result.wall_time_s}


def run_launched(cfg: PipelineConfig, launcher: str, work: Path) -> dict:
    """The real entry point under `accelerate launch` with a shipped accelerate config."""
    path = work / f"recipe_{launcher}.yaml"
    dump_config(cfg, path)
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
           str(ROOT / "configs" / "accelerate" / f"{launcher}.yaml"), "--main_process_port", "0",
           str(ROOT / "scripts" / "train.py"), "--config", str(path)]
    if CUDA and launcher != "single_gpu":  # every GPU of the host
        cmd[5:5] = ["--num_processes", str(torch.cuda.device_count())]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-4000:]}")
    facts = json.loads((Path(cfg.train.output_dir) / "train_facts.json").read_text())["result"]
    return {"trainer": facts["trainer_class"], "samples_per_s": facts["steady_samples_per_second"],
            "peak_gib": facts["peak_gpu_memory_gib"], "processes": facts["world_size"],
            "fast_path_reasons": facts["fast_path_reasons"], "global_step": facts["global_step"],
            "train_wall_s": facts["wall_time_s"]}


def table(rows: list[dict]) -> str:
    head = ("| shape | mode | trainer | launch | procs | samples/s (steady) | train wall s (all steps, "
            "one-time work included) | peak GiB | vs 1 GPU | note |")
    lines = [head, "|" + "---|" * 10]
    base = {(r["shape"], r["mode"], r["trainer_kind"]): r["samples_per_s"] for r in rows
            if r["launch"] in ("inprocess", "single_gpu") and r.get("samples_per_s")}
    for r in rows:
        ref = base.get((r["shape"], r["mode"], r["trainer_kind"]))
        scale = f"{r['samples_per_s'] / ref:.2f}x" if ref and r.get("samples_per_s") and r["launch"] not in (
            "inprocess", "single_gpu") else ""
        note = r.get("error", "")[:60] or "; ".join(r.get("fast_path_reasons") or [])[:60]
        lines.append(f"| {r['shape']} | {r['mode']} | {r.get('trainer', r['trainer_kind'])} | {r['launch']} | "
                     f"{r.get('processes', '')} | {r.get('samples_per_s') or ''} | {r.get('train_wall_s') or ''} | "
                     f"{r.get('peak_gib') or ''} | "
                     f"{scale} | {note} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", nargs="+", default=list(FULL), choices=list(FULL) + list(TINY))
    ap.add_argument("--modes", nargs="+", default=["lora", "qlora"], choices=["lora", "qlora"])
    ap.add_argument("--trainers", nargs="+", default=["stock", "fast"], choices=["stock", "fast"])
    ap.add_argument("--launch", nargs="+", default=["inprocess"],
                    help="inprocess, or accelerate configs: single_gpu ddp fsdp deepspeed_zero2 ...")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--gradient-checkpointing", action="store_true")
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    device = torch.cuda.get_device_name(0) if CUDA else "cpu"
    rows: list[dict] = []
    work = Path(tempfile.mkdtemp(prefix="train_families_"))
    try:
        for shape in a.shapes:
            # enough rows for every process and step, and a multiple of the global batch
            n = a.batch * max(1, torch.cuda.device_count()) * (a.warmup + a.steps + 1)
            model_dir, data_dir, family = prepare(shape, work, n)
            for mode in a.modes:
                for kind in a.trainers:
                    for launch in a.launch:
                        row = {"shape": shape, "mode": mode, "trainer_kind": kind, "launch": launch,
                               "batch_per_device": a.batch, "steps": a.steps, "device": device}
                        run_out = work / shape / f"{mode}_{kind}_{launch}"
                        cfg = recipe(model_dir, data_dir, family, mode, kind, run_out, a)
                        if CUDA:  # what an earlier run left behind would inflate this run's peak
                            row["allocated_before_gib"] = round(torch.cuda.memory_allocated() / 2**30, 2)
                        try:
                            row.update(run_inprocess(cfg) if launch == "inprocess"
                                       else run_launched(cfg, launch, work))
                        except Exception as exc:  # one failing configuration must not hide the others
                            row["error"] = f"{type(exc).__name__}: {exc}"
                            traceback.print_exc()
                        rows.append(row)
                        print(json.dumps(row), flush=True)
                        shutil.rmtree(run_out, ignore_errors=True)
                        gc.collect()
                        if CUDA:
                            torch.cuda.empty_cache()
            shutil.rmtree(work / shape, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        md = table(rows)
        print(f"\n{device}\n{md}")
        (out / "train_families.json").write_text(json.dumps({"device": device, "torch": torch.__version__,
                                                             "rows": rows}, indent=2))
        (out / "train_families.md").write_text(f"# train stage, {device}\n\n{md}\n")


if __name__ == "__main__":
    main()
