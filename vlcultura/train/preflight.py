"""Checks that run before the first training step, each with a message that says what to do.

Every check is a function returning `Finding`s, so a notebook can run one on its own. They
target the pitfalls users hit with VLM preference training (docs/training.md): truncated image
tokens, KTO's in-batch KL pairing, the class-weight rule TRL skips for vision data, fp16 Gemma,
a chat template whose prompt and prompt+completion disagree, and a GPU that is too small.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from vlcultura.data.kto import KTO_HIGH, KTO_LOW, recommend_kto_weights

log = logging.getLogger(__name__)
Level = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Finding:
    check: str
    level: Level
    message: str


class PreflightError(ValueError):
    """At least one preflight check failed; `findings` holds all of them."""

    def __init__(self, findings: list[Finding]):
        self.findings = findings
        errors = [f for f in findings if f.level == "error"]
        super().__init__("preflight failed:\n" + "\n".join(f"- [{f.check}] {f.message}" for f in errors))


def raise_on_errors(findings: list[Finding]) -> list[Finding]:
    """Log warnings/infos; raise `PreflightError` when any finding is an error."""
    for f in findings:
        if f.level != "error":
            getattr(log, "warning" if f.level == "warning" else "info")("[%s] %s", f.check, f.message)
    if any(f.level == "error" for f in findings):
        raise PreflightError(findings)
    return findings


def _is_messages(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(m, dict) and "role" in m for m in value)


def _n_placeholders(messages: list[dict[str, Any]]) -> int:
    return sum(1 for m in messages if isinstance(m.get("content"), list)
               for part in m["content"] if isinstance(part, dict) and part.get("type") == "image")


def check_schema(dataset: Any, algorithm: str = "kto", max_examples: int = 3) -> list[Finding]:
    """Columns, conversational format, bool labels, one image per placeholder."""
    cols = set(dataset.column_names)
    answer = {"kto": ("completion",), "dpo": ("chosen", "rejected")}[algorithm]
    required = {"prompt", *answer} | ({"label"} if algorithm == "kto" else set())
    missing = sorted(required - cols)
    image_col = "images" if "images" in cols else "image" if "image" in cols else None
    if missing or image_col is None:
        what = missing + ([] if image_col else ["images"])
        hint = (" This looks like paired data: use algorithm: dpo, or unpair it with "
                "trl.unpair_preference_dataset." if algorithm == "kto" and {"chosen", "rejected"} <= cols else "")
        return [Finding("schema", "error", f"the dataset lacks column(s) {what} (has "
                        f"{sorted(cols)}). A {algorithm.upper()} vision dataset needs "
                        f"{sorted(required)} and `images` (a list of images per row); "
                        f"`vlcultura export` writes exactly that.{hint}")]
    bad_format, bad_label, bad_images = [], [], []
    for i, row in enumerate(dataset):
        texts = [row["prompt"], *(row[a] for a in answer)]
        if not all(_is_messages(t) for t in texts):
            bad_format.append(i)
        if algorithm == "kto" and not isinstance(row["label"], bool):
            bad_label.append(i)
        images = row[image_col] if image_col == "images" else [row[image_col]]
        if _is_messages(row["prompt"]) and _n_placeholders(row["prompt"]) != len(images or []):
            bad_images.append(i)
    findings = []
    if bad_format:
        findings.append(Finding("schema", "error", f"rows {bad_format[:max_examples]} (of "
                                f"{len(bad_format)}) are not conversational (a list of "
                                "{'role', 'content'} messages): in TRL's vision path standard-format "
                                "completions get no EOS, so the model never learns to stop."))
    if bad_label:
        findings.append(Finding("schema", "error", f"rows {bad_label[:max_examples]} have a non-bool "
                                "label: KTO labels must be True (desirable) or False (undesirable)."))
    if bad_images:
        findings.append(Finding("schema", "error", f"rows {bad_images[:max_examples]} (of "
                                f"{len(bad_images)}) have a number of {{'type': 'image'}} "
                                "placeholders in the prompt that differs from their number of images."))
    return findings


def check_kto_batching(args: Any, n_rows: int, world_size: int = 1) -> list[Finding]:
    """KTO pairs prompt i with completion i-1 inside a batch: batch > 1, sequential order."""
    if getattr(args, "loss_type", "kto") == "apo_zero_unpaired":
        return []
    findings = []
    if args.per_device_train_batch_size <= 1:
        findings.append(Finding("kto_batching", "error", "train.per_device_train_batch_size must be "
                                "> 1 for KTO: its KL reference pairs each prompt with another row's "
                                "completion in the same batch; with 1 row the KL term equals the reward."))
    if args.train_sampling_strategy != "sequential":
        findings.append(Finding("kto_batching", "error", f"train_sampling_strategy is "
                                f"{args.train_sampling_strategy!r}: KTO needs 'sequential' so the "
                                "in-batch KL pairs stay fixed; remove it from train.extra_args."))
    last = n_rows % (args.per_device_train_batch_size * world_size)
    if not findings and last == 1 and not args.dataloader_drop_last:
        findings.append(Finding("kto_batching", "warning", f"{n_rows} rows leave a last batch of one "
                                "row, whose KL term degenerates: set train.extra_args.dataloader_drop_last: true."))
    return findings


def check_launch(visible_gpus: int, world_size: int, use_cpu: bool) -> list[Finding]:
    """Several GPUs in one process would mean nn.DataParallel, which TRL's trainers refuse
    (after the model is loaded); say so before loading anything."""
    if use_cpu or visible_gpus <= 1 or world_size > 1:
        return []
    return [Finding("launch", "error", f"{visible_gpus} GPUs are visible to a single process: launch "
                    "with `accelerate launch --config_file configs/accelerate/ddp.yaml scripts/train.py "
                    "--config ...` to use them all, or make one visible (CUDA_VISIBLE_DEVICES=0).")]


def check_weight_balance(labels: list[bool], desirable_weight: float,
                         undesirable_weight: float) -> list[Finding]:
    """KTO paper eq. 8: lambda_D n_D / lambda_U n_U in [1, 4/3]. TRL skips it for vision data."""
    n_d = sum(1 for x in labels if x)
    n_u = len(labels) - n_d
    if not n_d or not n_u:
        return [Finding("weights", "error", f"the training split has {n_d} desirable and {n_u} "
                        "undesirable rows: KTO needs both.")]
    ratio = desirable_weight * n_d / (undesirable_weight * n_u)
    if KTO_LOW <= ratio <= KTO_HIGH:
        return [Finding("weights", "info", f"weighted desirable/undesirable ratio {ratio:.3f} is in "
                        f"[{KTO_LOW}, {KTO_HIGH:.3f}]")]
    rec = recommend_kto_weights(n_d, n_u)
    return [Finding("weights", "warning", f"{n_d} desirable vs {n_u} undesirable rows with weights "
                    f"{desirable_weight}/{undesirable_weight} give a weighted ratio of {ratio:.3f}, "
                    f"outside [{KTO_LOW}, {KTO_HIGH:.3f}] (KTO paper eq. 8; TRL does not check this "
                    f"for vision data). Set train.desirable_weight: {rec['desirable_weight']} and "
                    f"train.undesirable_weight: {rec['undesirable_weight']}.")]


def check_dtype(model_cfg: Any, preset: Any, use_cpu: bool) -> list[Finding]:
    """fp16 on Gemma 3, bf16 on a card without it, fp16 on CPU: refused before loading."""
    from vlcultura.train.models import ModelLoadError, resolve_dtype

    try:
        dtype = resolve_dtype(model_cfg, preset, use_cpu)
    except ModelLoadError as exc:
        return [Finding("dtype", "error", str(exc))]
    return [Finding("dtype", "info", f"training dtype {str(dtype).removeprefix('torch.')}")]


def _render(processor: Any, messages: list[dict[str, Any]], generation_prompt: bool) -> str:
    return processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def check_template_boundary(dataset: Any, processor: Any, answer_col: str = "completion",
                            max_rows: int = 8) -> list[Finding]:
    """The prompt rendered alone must be a prefix of prompt+completion (pitfall: Idefics3's
    `Assistant:` + space). TRL silently keeps only the common prefix, so a mismatch means the
    model trains on a prompt it never sees at inference time."""
    tok = processor.tokenizer
    findings: list[Finding] = []
    for i, row in enumerate(dataset.select(range(min(max_rows, len(dataset))))):
        prompt = _render(processor, row["prompt"], True)
        full = _render(processor, row["prompt"] + row[answer_col], False)
        if not full.startswith(prompt):
            common = next((k for k, (a, b) in enumerate(zip(prompt, full)) if a != b), len(prompt))
            return [Finding("template", "error", f"row {i}: the chat template renders the prompt as "
                            f"...{prompt[max(0, common - 20):common + 20]!r} alone but "
                            f"...{full[max(0, common - 20):common + 20]!r} before the completion; "
                            "fix the chat template so the generation prompt is a prefix of the "
                            "rendered conversation.")]
        completion = full[len(prompt):]
        split_ids = tok(prompt, add_special_tokens=False)["input_ids"] + tok(
            completion, add_special_tokens=False)["input_ids"]
        if split_ids != tok(full, add_special_tokens=False)["input_ids"] and not findings:
            findings.append(Finding("template", "warning", f"row {i}: prompt and completion "
                                    "tokenize differently apart than together at their boundary "
                                    f"({completion[:12]!r}); training tokenizes them apart, as "
                                    "generation does, so this is usually harmless."))
    return findings


def measure_lengths(dataset: Any, processor: Any, answer_cols: tuple[str, ...] = ("completion",)) -> list[tuple[int, int]]:
    """(prompt tokens, prompt+answer tokens) per row, processed exactly as TRL's collator does."""
    from tqdm.auto import tqdm
    from trl.trainer.kto_trainer import DataCollatorForVisionUnpairedPreference

    collate = DataCollatorForVisionUnpairedPreference(processor=processor, max_length=None, calculate_kl=False)
    image_col = "images" if "images" in dataset.column_names else "image"
    out = []
    for row in tqdm(dataset, desc="preflight: token budget", leave=False):
        images = row[image_col] if image_col == "images" else [row[image_col]]
        for col in answer_cols:
            batch = collate([{"prompt": row["prompt"], "completion": row[col], "label": True,
                              "images": images}])
            mask, comp = batch["attention_mask"][0], batch["completion_mask"][0]
            out.append((int((mask.bool() & ~comp.bool()).sum()), int(mask.sum())))
    return out


def check_token_budget(lengths: list[tuple[int, int]], max_length: int | None) -> list[Finding]:
    """No image token may be truncated: every prompt (images included) must fit `max_length`."""
    if not lengths:
        return []
    longest_prompt = max(p for p, _ in lengths)
    longest = max(t for _, t in lengths)
    if max_length is None:
        return [Finding("token_budget", "info", f"no max_length; longest sequence {longest} tokens")]
    cut_prompts = sum(1 for p, _ in lengths if p > max_length)
    if cut_prompts:
        return [Finding("token_budget", "error", f"{cut_prompts} of {len(lengths)} prompts need more "
                        f"than train.max_length={max_length} tokens (longest prompt {longest_prompt}, "
                        "image tokens included): truncation would cut image tokens and the model "
                        "fails with 'Image features and image tokens do not match'. Raise "
                        f"train.max_length to at least {longest}, or reduce image tokens "
                        "(SmolVLM: model.do_image_splitting: false / smaller "
                        "model.image_longest_edge; Qwen: smaller model.max_pixels; Gemma: "
                        "model.pan_and_scan: false).")]
    cut = sum(1 for _, t in lengths if t > max_length)
    if cut:
        return [Finding("token_budget", "warning", f"{cut} of {len(lengths)} completions are "
                        f"truncated at train.max_length={max_length} (longest sequence {longest}); "
                        "their end (EOS) is lost. Raise train.max_length to keep them whole.")]
    return [Finding("token_budget", "info", f"longest sequence {longest} tokens fits "
                    f"max_length={max_length}")]


def estimate_training_bytes(model: Any, batch_size: int, seq_len: int,
                            gradient_checkpointing: bool) -> int:
    """Bytes training still needs beyond the loaded weights: LoRA states, activations, logits.

    LoRA weights/grads/Adam moments in fp32 (16 bytes per parameter); decoder activations per
    layer ~34*s*b*h bytes in 16-bit without checkpointing (Korthikanti et al. 2022, flash/SDPA
    attention), ~2*s*b*h with it; fp32 logits for the policy pass, its log-softmax and gradient.
    KTO's three no-grad passes are transient. An estimate: it flags a card that is clearly small.
    """
    text = model.config.get_text_config()
    hidden, layers, vocab = text.hidden_size, text.num_hidden_layers, text.vocab_size
    act_bytes = 2 if next(model.parameters()).dtype != getattr(__import__("torch"), "float32") else 4
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    per_layer = (2 if gradient_checkpointing else 34) * seq_len * batch_size * hidden * act_bytes // 2
    logits = 3 * batch_size * seq_len * vocab * 4
    return 16 * trainable + layers * per_layer + logits


def check_memory(needed_bytes: int, free_bytes: int | None) -> list[Finding]:
    """Compare the estimate with what the GPU has free (after the weights were loaded)."""
    gib = 2 ** 30
    if free_bytes is None:
        return [Finding("memory", "info", f"no GPU: estimated extra training memory "
                        f"{needed_bytes / gib:.2f} GiB (not checked)")]
    msg = (f"estimated training memory beyond the weights {needed_bytes / gib:.2f} GiB vs "
           f"{free_bytes / gib:.2f} GiB free on the GPU")
    if needed_bytes > free_bytes:
        return [Finding("memory", "error", msg + ": it will not fit. Lower "
                        "train.per_device_train_batch_size (raise gradient_accumulation_steps), "
                        "enable train.gradient_checkpointing, use model.quantization: 4bit, or "
                        "reduce image tokens.")]
    if needed_bytes > 0.85 * free_bytes:
        return [Finding("memory", "warning", msg + ": tight; expect out-of-memory on long batches.")]
    return [Finding("memory", "info", msg)]


def free_gpu_bytes() -> int | None:
    import torch

    if not torch.cuda.is_available():
        return None
    free, _total = torch.cuda.mem_get_info()
    return int(free)
