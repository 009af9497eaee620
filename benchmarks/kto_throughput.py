"""KTO + LoRA throughput on full-size random-weight VLMs: stock TRL vs vlcultura, one run, one card.

For each shape the same model (same seed, same weights) and the same dataset go through
`trl.KTOTrainer` and `vlcultura.train.fast_kto.FastKTOTrainer`. Before timing, both compute the
loss of the first batch on identical, perturbed LoRA weights (so rewards and KL are not zero):
loss, rewards and KL must agree within 1e-2 relative in bf16. Then each trains `--warmup` +
`--steps` steps; steady-state samples/s and tokens/s come from the timed steps, the fast
path's one-time precompute (collate, vision features, reference log-probs) is reported apart
and inside an end-to-end one-epoch figure. Weights are random: speed does not depend on them.

    python benchmarks/kto_throughput.py --shapes smolvlm-256m smolvlm-2b gemma3-4b --out $OUT
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import torch
from PIL import Image
from transformers import TrainerCallback

from vlcultura.testing import CORPUS, build_tiny_vlm_in_memory

BF16_PEAK_FLOPS = {"H100": 989.4e12, "H200": 989.4e12}  # dense bf16, SXM datasheets
CUDA = torch.cuda.is_available()
# LoRA B std of the equivalence probes: near the identity (bf16 rounding dominates the rewards) and
# far enough for rewards and KL of the size training reaches.
PROBE_SCALES = (1e-3, 1e-2, 3e-2)
DEVICE = "cuda" if CUDA else "cpu"
WORDS = " ".join(CORPUS).split()

# Public model shapes (random weights): SmolVLM-256M = SmolLM2-135M + SigLIP-B/16 at 512 px,
# SmolVLM-2.2B (Instruct) = SmolLM2-1.7B + SigLIP-SO400M/14 at 384 px, Gemma-3-4B-it.
SHAPES = {
    "smolvlm-256m": dict(family="smolvlm", tile=512, scale_factor=4, vocab=49280,
                         text=dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                                   num_attention_heads=9, num_key_value_heads=3),
                         vision=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                     num_attention_heads=12, patch_size=16)),
    "smolvlm-2b": dict(family="smolvlm", tile=384, scale_factor=3, vocab=49280,
                       text=dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=24,
                                 num_attention_heads=32, num_key_value_heads=32),
                       vision=dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27,
                                   num_attention_heads=16, patch_size=14)),
    # CPU smoke shapes (CI runs the whole script on them; not for speed)
    "smolvlm-tiny": dict(family="smolvlm", tile=64, scale_factor=2, vocab=1000,
                         text=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2),
                         vision=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                     num_attention_heads=2, patch_size=16)),
    "gemma3-tiny": dict(family="gemma3", tile=64, image_tokens=4, vocab=1000,
                        text=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                  num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                                  query_pre_attn_scalar=16, sliding_window=64),
                        vision=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                    num_attention_heads=2, patch_size=16)),
    "gemma3-4b": dict(family="gemma3", tile=896, image_tokens=256, vocab=262208, qlora=True,
                      text=dict(hidden_size=2560, intermediate_size=10240, num_hidden_layers=34,
                                num_attention_heads=8, num_key_value_heads=4, head_dim=256,
                                query_pre_attn_scalar=256, sliding_window=1024),
                      vision=dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27,
                                  num_attention_heads=16, patch_size=14)),
}
LANGUAGE_MODEL = {"smolvlm": "text_model", "gemma3": "language_model"}
KINDS = {"stock": "TRL 1.16 KTOTrainer", "fast": "vlcultura FastKTOTrainer",
         "fast_compile": "vlcultura FastKTOTrainer, compile_layers=True",
         "fast_eager": "vlcultura FastKTOTrainer, no CUDA graphs"}
VISION_SKIP = {"smolvlm": ["model.vision_model", "model.connector", "lm_head"],
               "gemma3": ["model.vision_tower", "model.multi_modal_projector", "lm_head"]}


def _image_processor(name: str, **kwargs):
    """The torchvision-backed processor where there is one (as users get it), else the PIL one."""
    import transformers

    cls = getattr(transformers, name, None) or getattr(transformers, f"{name}Pil")
    return cls(**kwargs)


def build(shape: str):
    """(model, processor) for `shape`, bf16 on the GPU (float32 on CPU); the tiny fixture
    supplies the tokenizer and chat template."""
    from transformers import (Gemma3Config, Gemma3ForConditionalGeneration, Gemma3Processor, Gemma3TextConfig,
                              Idefics3Config, Idefics3ForConditionalGeneration, Idefics3Processor, LlamaConfig,
                              SiglipVisionConfig)

    s = SHAPES[shape]
    _, tiny = build_tiny_vlm_in_memory(s["family"])
    tok, tile = tiny.tokenizer, s["tile"]
    ids = dict(pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    vision = SiglipVisionConfig(image_size=tile, **s["vision"])
    if s["family"] == "smolvlm":
        seq = (tile // s["vision"]["patch_size"]) ** 2 // s["scale_factor"] ** 2
        processor = Idefics3Processor(
            image_processor=_image_processor("Idefics3ImageProcessor", do_image_splitting=False,
                                             size={"longest_edge": tile}, max_image_size={"longest_edge": tile}),
            tokenizer=tok, image_seq_len=seq, chat_template=tiny.chat_template)
        text = LlamaConfig(vocab_size=s["vocab"], max_position_embeddings=8192, rope_theta=100000.0,
                           tie_word_embeddings=False, **ids, **s["text"])
        config = Idefics3Config(text_config=text, vision_config=vision.to_dict(), scale_factor=s["scale_factor"],
                                image_token_id=tok.convert_tokens_to_ids("<image>"), tie_word_embeddings=False,
                                pad_token_id=tok.pad_token_id)
        cls = Idefics3ForConditionalGeneration
    else:
        processor = Gemma3Processor(
            image_processor=_image_processor("Gemma3ImageProcessor", size={"height": tile, "width": tile}),
            tokenizer=tok, chat_template=tiny.chat_template, image_seq_length=s["image_tokens"])
        text = Gemma3TextConfig(vocab_size=s["vocab"], max_position_embeddings=8192, **ids, **s["text"])
        vision.vision_use_head = False
        config = Gemma3Config(text_config=text, vision_config=vision, mm_tokens_per_image=s["image_tokens"],
                              boi_token_index=tok.convert_tokens_to_ids("<start_of_image>"),
                              eoi_token_index=tok.convert_tokens_to_ids("<end_of_image>"),
                              image_token_index=tok.convert_tokens_to_ids("<image_soft_token>"))
        cls = Gemma3ForConditionalGeneration
    torch.manual_seed(0)
    with torch.device(DEVICE):
        model = cls(config).to(torch.bfloat16 if CUDA else torch.float32)
    if s["family"] == "gemma3":
        with torch.no_grad():  # zero-initialised upstream: images would not matter
            model.model.multi_modal_projector.mm_input_projection_weight.normal_(0.0, 0.02)
    return model, processor


def load_4bit(path: str, family: str):
    """QLoRA base: nf4 language model; vision tower, projector and LM head stay bf16."""
    from transformers import AutoModelForImageTextToText, BitsAndBytesConfig

    q = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                           bnb_4bit_compute_dtype=torch.bfloat16, llm_int8_skip_modules=VISION_SKIP[family])
    return AutoModelForImageTextToText.from_pretrained(path, quantization_config=q, dtype=torch.bfloat16,
                                                       device_map={"": 0})


def dataset(rows: int, tile: int, prompt_words: int = 12, completion_words: int = 40):
    """One random-noise image per row (half at the tile size, half at twice it), ~40-word answers."""
    from datasets import Dataset, Image as ImageFeature, Sequence

    rng = np.random.default_rng(0)
    data = {"prompt": [], "completion": [], "label": [], "images": []}
    for i in range(rows):
        question = " ".join(rng.choice(WORDS, prompt_words))
        answer = " ".join(rng.choice(WORDS, completion_words))
        data["prompt"].append([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}])
        data["completion"].append([{"role": "assistant", "content": [{"type": "text", "text": answer}]}])
        data["label"].append(bool(i % 3))
        side = tile * (1 + i % 2)
        data["images"].append([Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8))])
    ds = Dataset.from_dict(data)
    return ds.cast_column("images", Sequence(ImageFeature()))  # stored encoded: decoded per access, as on disk


class StepProfile(TrainerCallback):
    """torch.profiler over the last `n` steps: where the time goes (kernels vs. host gaps)."""

    def __init__(self, first: int, n: int, path: Path):
        self.first, self.last, self.path, self.prof = first, first + n, path, None

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step == self.first:
            from torch.profiler import ProfilerActivity, profile

            self.prof = profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA])
            self.prof.__enter__()
            self.start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if self.prof is not None and state.global_step == self.last:
            torch.cuda.synchronize()
            wall = time.perf_counter() - self.start
            self.prof.__exit__(None, None, None)
            events = self.prof.key_averages()
            kernels = [e for e in events if e.device_type == torch.autograd.DeviceType.CUDA]
            kernel_us = sum(e.self_device_time_total for e in kernels)
            launches = sum(e.count for e in kernels)
            steps = self.last - self.first
            head = (f"{steps} steps, wall {wall / steps * 1e3:.1f} ms/step, GPU busy {kernel_us / 1e3 / steps:.1f} "
                    f"ms/step ({kernel_us / 1e6 / wall:.0%}), {launches // steps} kernels/step\n")
            self.path.write_text(head + events.table(sort_by="self_device_time_total", row_limit=25))
            self.prof = None


class StepClock(TrainerCallback):
    """Wall time at the end of every optimizer step; at the steps in `sync_at` (the timed window's
    ends) after waiting for the GPU. Waiting at every step would stop the host from queueing the
    next step while the GPU runs this one, for both trainers."""

    def __init__(self, sync_at: set[int]):
        self.times: list[float] = []
        self.sync_at = sync_at

    def on_step_end(self, args, state, control, **kwargs):
        if CUDA and state.global_step in self.sync_at:
            torch.cuda.synchronize()
        self.times.append(time.perf_counter())


def run_one(kind: str, shape: str, ds, model, processor, a, lora_seed: int):
    """`kind`: stock (trl.KTOTrainer), fast (FastKTOTrainer), fast_compile (also torch.compile'd
    decoder layers) or fast_eager (no CUDA graphs)."""
    # Equivalence probe on batch 0, then timed training; returns (metrics row, probe values).
    from peft import LoraConfig
    from trl import KTOConfig, KTOTrainer

    from vlcultura.train.fast_kto import FastKTOTrainer

    s = SHAPES[shape]
    lm = LANGUAGE_MODEL[s["family"]]
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0,
                      target_modules=rf".*\.{lm}\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)")
    extra = 3 if a.profile and kind != "stock" and CUDA else 0  # profiled steps come after the timed ones
    args = KTOConfig(output_dir=os.path.join(tempfile.gettempdir(), f"kto_{kind}"), per_device_train_batch_size=a.batch,
                     max_steps=a.warmup + a.steps + extra, learning_rate=1e-5, logging_steps=10_000, report_to="none",
                     bf16=CUDA, use_cpu=not CUDA, gradient_checkpointing=False, save_strategy="no", max_length=None,
                     dataloader_num_workers=a.workers, remove_unused_columns=False, seed=0)
    clock = StepClock({a.warmup, a.warmup + a.steps})
    callbacks = [clock]
    if a.profile and kind != "stock" and CUDA:
        callbacks.append(StepProfile(a.warmup + a.steps, 3, Path(a.out) / f"profile_{shape}_{kind}.txt"))
    if CUDA:
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    common = dict(model=model, args=args, train_dataset=ds, processing_class=processor, peft_config=lora,
                  callbacks=callbacks)
    trainer = (KTOTrainer(**common) if kind == "stock" else
               FastKTOTrainer(**common, cuda_graphs=kind != "fast_eager", compile_layers=kind == "fast_compile"))
    batch = next(iter(trainer.get_train_dataloader()))  # fast path: triggers the one-time precompute
    probes = {}
    for scale in PROBE_SCALES:  # B = 0 at init would make policy == reference: perturb, identically for both
        generator = torch.Generator().manual_seed(lora_seed)
        with torch.no_grad():
            for name, p in sorted(trainer.model.named_parameters()):
                if "lora_B" in name:
                    p.copy_((torch.randn(p.shape, generator=generator) * scale).to(p.dtype))
        probes[scale] = {"same": probe(trainer, batch)}
        if kind == "stock":  # the same function on the same rows, only padded wider: bf16's rounding floor
            probes[scale]["padded"] = probe(trainer, padded(batch, processor.tokenizer.pad_token_id))
    trainer._metrics["train"].clear()
    trainer._total_train_tokens = 0
    trainer.train()
    t = clock.times[: a.warmup + a.steps]
    wall = t[-1] - start  # construction + precompute + every step up to the last timed one
    dt = t[-1] - t[a.warmup - 1]
    steps = len(t) - a.warmup
    fast = kind != "stock"
    row = dict(trainer=kind, shape=shape, qlora=bool(s.get("qlora")) and CUDA, batch=a.batch, timed_steps=steps,
               seconds=round(dt, 3), samples_per_s=round(a.batch * steps / dt, 2),
               tokens_per_step=trainer._total_train_tokens / len(clock.times),
               peak_mem_gib=round(torch.cuda.max_memory_allocated() / 2**30, 2) if CUDA else None,
               end_to_end_s=round(wall, 2), fast_path=getattr(trainer, "fast_path", False),
               fast_path_reasons=getattr(trainer, "fast_path_reasons", []),
               precompute_s=round(trainer.fast_precompute_seconds, 2) if fast else None,
               capture_s=round(trainer.fast_capture_seconds, 2) if getattr(trainer, "fast_capture_seconds", None) else None,
               static_step=getattr(trainer, "fast_static_step", False),
               cuda_graphs=getattr(trainer, "fast_cuda_graphs", False),
               graphs_captured=len(trainer._graphed.graphs) if getattr(trainer, "_graphed", None) else 0,
               compiled_layers=getattr(trainer, "fast_compiled_layers", False),
               vision_calls_total=getattr(trainer, "fast_vision_calls", None))
    if fast:
        cached = trainer._fast_batches.batches
        rows = sum(len(b["label"]) for b in cached)
        row["tokens_per_sample"] = sum(int(b["attention_mask"].sum()) for b in cached) / rows
        row["completion_tokens_per_sample"] = sum(int(b["completion_mask"].sum()) for b in cached) / rows
    row["tokens_per_s"] = round(row["tokens_per_step"] * steps / dt, 1)
    del trainer
    return row, probes


def probe(trainer, batch) -> dict[str, float]:
    """Loss, KL and rewards of `batch` on the trainer's current weights (no update)."""
    trainer.model.train()
    with torch.no_grad(), trainer.accelerator.autocast():
        loss = trainer.compute_loss(trainer.model, trainer._prepare_inputs(batch)).item()
    m = trainer._metrics["train"]
    return {"loss": loss, "kl": m["kl"][-1], "rewards/chosen": m["rewards/chosen"][-1],
            "rewards/rejected": m["rewards/rejected"][-1]}


def padded(batch: dict, pad_token_id: int, columns: int = 32) -> dict:
    """`batch` with `columns` more right padding on every sequence tensor: mathematically the same."""
    out = dict(batch)
    for key, value in batch.items():
        name = key.removeprefix("KL_")
        if name in ("input_ids", "attention_mask", "completion_mask", "token_type_ids", "mm_token_type_ids"):
            out[key] = torch.nn.functional.pad(value, (0, columns), value=pad_token_id if name == "input_ids" else 0)
    return out


def _rel_diffs(a: dict[str, float], b: dict[str, float]) -> float:
    return max(abs(a[k] - b[k]) / max(abs(b[k]), 1e-8) for k in b)


def bench_shape(shape: str, a) -> dict:
    s = SHAPES[shape]
    model, processor = build(shape)
    ds = dataset(a.batch * (a.warmup + a.steps), s["tile"])
    path = None
    if s.get("qlora") and CUDA:  # quantization happens at load time: save the random model, load it back in 4 bit
        path = os.path.join(tempfile.gettempdir(), f"kto_bench_{shape}")
        model.save_pretrained(path)
        del model
    results, probes = {}, {}
    for i, kind in enumerate(a.kinds):
        gc.collect()
        if CUDA:
            torch.cuda.empty_cache()
        if path:
            model = load_4bit(path, s["family"])
        elif i:
            model, _ = build(shape)
        results[kind], probes[kind] = run_one(kind, shape, ds, model, processor, a, lora_seed=1)
        del model
    if path:
        shutil.rmtree(path, ignore_errors=True)
    stock = results["stock"]
    name = torch.cuda.get_device_name(0) if CUDA else "cpu"
    peak = next((v for k, v in BF16_PEAK_FLOPS.items() if k in name), None)
    flops = model_flops_per_sample(shape, results[a.kinds[-1]])
    out = dict(shape=shape, device=name, model_flops_per_sample=flops, equivalence={})
    for kind, r in results.items():
        r["mfu"] = round(flops * r["samples_per_s"] / peak, 4) if peak else None
        r["speedup"] = round(r["samples_per_s"] / stock["samples_per_s"], 2)
        out[kind] = r
        if kind != "stock":
            out["equivalence"][kind] = {
                str(scale): dict(stock=probes["stock"][scale]["same"], fast=probes[kind][scale]["same"],
                                 max_rel_diff=_rel_diffs(probes[kind][scale]["same"], probes["stock"][scale]["same"]),
                                 stock_padded_max_rel_diff=_rel_diffs(probes["stock"][scale]["padded"],
                                                                      probes["stock"][scale]["same"]))
                for scale in PROBE_SCALES}
    return out


def model_flops_per_sample(shape: str, fast: dict) -> float:
    """Model FLOPs of one sample's KTO step: policy forward + backward (about one forward: the
    base is frozen) + policy KL forward, i.e. 3 language-model forwards; the fused LM head only
    scores completion tokens. The vision tower and reference passes are left out: they are
    needed once per image and once per run, not per step. Attention scores are left out too
    (a few % at these lengths)."""
    t = SHAPES[shape]["text"]
    h, i, n = t["hidden_size"], t["intermediate_size"], t["num_hidden_layers"]
    hd = t.get("head_dim", h // t["num_attention_heads"])
    attn = h * hd * (2 * t["num_attention_heads"] + 2 * t["num_key_value_heads"])
    body = n * (attn + 3 * h * i)
    return 3 * (2 * body * fast["tokens_per_sample"] + 2 * h * SHAPES[shape]["vocab"] * fast["completion_tokens_per_sample"])


def markdown(results: list[dict]) -> str:
    lines = [f"# KTO + LoRA throughput, stock TRL vs vlcultura ({results[0]['device']})", "",
             "Random-weight full-size shapes, bf16, batch 8, LoRA r=16 on the language model, one image per "
             "row, no image splitting; same card, same run. samples/s and tokens/s: steady state over the timed "
             "steps. e2e: trainer construction to the last timed step, incl. the fast path's one-time precompute. MFU: 3 LM forwards per "
             "sample (policy fwd + bwd + KL fwd) over the dense bf16 peak.", "",
             "| shape | trainer | samples/s | tokens/s | peak GiB | MFU | e2e s | precompute s | speedup |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for kind in KINDS:
            if kind not in r:
                continue
            x = r[kind]
            label = f"{r['shape']}{' QLoRA' if x['qlora'] else ''}"
            lines.append(f"| {label} | {KINDS[kind]} | {x['samples_per_s']} | {x['tokens_per_s']:.0f} | "
                         f"{x['peak_mem_gib']} | {x['mfu'] if x['mfu'] is not None else '-'} | {x['end_to_end_s']} | "
                         f"{x['precompute_s'] if x['precompute_s'] is not None else '-'} | "
                         f"{x['speedup'] if kind != 'stock' else ''} |")
    lines += ["", "Equivalence on the first batch (LoRA B ~ N(0, scale^2), same weights for every trainer; "
              "bf16 on GPU): max relative difference of loss, KL, rewards/chosen and rewards/rejected against "
              "stock; 'stock padded' is stock itself on the same rows with 32 more pad columns, which changes "
              "nothing but kernel shapes: the rounding floor.", "",
              "| shape | trainer | LoRA scale | stock rewards chosen / rejected | stock KL | max rel diff | "
              "stock padded |", "|---|---|---|---|---|---|---|"]
    for r in results:
        for kind, by_scale in r["equivalence"].items():
            for scale, e in by_scale.items():
                st = e["stock"]
                lines.append(f"| {r['shape']} | {kind} | {scale} | {st['rewards/chosen']:.4f} / "
                             f"{st['rewards/rejected']:.4f} | {st['kl']:.4f} | {e['max_rel_diff']:.1e} | "
                             f"{e['stock_padded_max_rel_diff']:.1e} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shapes", nargs="+", default=["smolvlm-256m", "smolvlm-2b", "gemma3-4b"], choices=list(SHAPES))
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--kinds", nargs="+", default=["stock", "fast"], choices=list(KINDS),
                    help="trainers to run, stock first (the baseline)")
    ap.add_argument("--profile", action="store_true",
                    help="profile 3 extra steps of the fast trainer after the timed ones")
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for shape in a.shapes:  # written after each shape: a run cut short keeps what it measured
        results.append(bench_shape(shape, a))
        (out / "kto_throughput.json").write_text(json.dumps(results, indent=2))
        (out / "kto_throughput.md").write_text(markdown(results))
        print(json.dumps(results[-1]), flush=True)
    print(markdown(results))


if __name__ == "__main__":
    main()
