"""The KTO step in fixed shapes, without host synchronisation: the form a CUDA graph can capture.

Stock TRL's step cannot be captured: the multimodal forward checks image-token counts on the
host, the padding mask is inspected on the host, the fused LM head scores a data-dependent
subset of positions, and chosen/rejected rows are split with `nonzero`. Here, for a model whose
language model is a plain causal decoder (SmolVLM / Idefics3), the same function is written with
fixed shapes:

- batches are right-padded (TRL's collator flushes left) to a multiple of `LENGTH_MULTIPLE`;
  under causal attention no real token sees a trailing pad, so the padding mask is not needed;
- the cached connector output is written at image-token positions found once per batch;
- TRL's own chunked log-prob kernel scores every position, and the mask keeps completion tokens;
- the KTO loss uses the label as a mask instead of splitting the batch.

The reference log-probs are computed by this same code (adapters disabled), so policy and
reference share kernels and a LoRA that is still the identity gives rewards of exactly 0.
"""
from __future__ import annotations

import contextlib
import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .batches import FEATURES_KEY
from .image_features import image_entry

# Sequence lengths are padded up to a multiple of this: a few shapes, so a few captured graphs.
LENGTH_MULTIPLE = 32
# Language models that attend causally over 1-D positions with nothing but the padding mask.
CAUSAL_FAMILIES = frozenset({"idefics3", "smolvlm"})
# Key of a static batch's image-token positions (`KL_` + it for the KL sequences).
POSITIONS_KEY = "image_positions"


@dataclass
class CausalLMParts:
    """The pieces of a VLM the static step calls directly, and TRL's fused-head settings."""

    backbone: nn.Module  # the text decoder: inputs_embeds -> last_hidden_state
    lm_head: nn.Module
    image_token_id: int
    pad_token_id: int
    head: dict[str, Any]  # kwargs of TRL's chunked log-prob kernel


def _fused_head_settings(base: nn.Module) -> dict[str, Any] | None:
    """Temperature, soft-cap, logit scale and outputs TRL's `add_fused_lm_head` bound to `base`."""
    from trl.trainer.utils import _CHUNKED_LOGPROB_CHUNK_SIZE

    forward = getattr(base.forward, "__func__", None)
    closure = getattr(forward, "__closure__", None)
    if not closure:
        return None
    bound = dict(zip(forward.__code__.co_freevars, (c.cell_contents for c in closure)))
    names = ("temperature", "final_logit_softcapping", "logit_scale", "outputs")
    if not all(n in bound for n in names):
        return None
    return dict(temperature=bound["temperature"], chunk_size=_CHUNKED_LOGPROB_CHUNK_SIZE,
                final_logit_softcapping=bound["final_logit_softcapping"], logit_scale=bound["logit_scale"],
                outputs=tuple(bound["outputs"]))


def causal_lm_parts(model: nn.Module, pad_token_id: int | None) -> tuple[CausalLMParts | None, list[str]]:
    """The static step's view of a (PEFT-wrapped, fused-head) VLM, or why it has none."""
    entry = image_entry(model)
    family = getattr(getattr(entry, "config", None), "model_type", None)
    if family not in CAUSAL_FAMILIES or not hasattr(entry, "text_model"):
        return None, [f"model type {family!r}: the static step covers {sorted(CAUSAL_FAMILIES)} (causal "
                      "attention needing only the padding mask); others run the eager fast path"]
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    head = _fused_head_settings(base)
    if head is None or not {"entropy", "mean_logits"} <= set(head["outputs"]):
        return None, ["TRL's fused LM head (with entropy and mean logits, as KTOTrainer adds it) is not on the model"]
    if pad_token_id is None:
        return None, ["the tokenizer has no pad token"]
    return CausalLMParts(entry.text_model, base.get_output_embeddings(), int(entry.config.image_token_id),
                         int(pad_token_id), head), []


class NotRightPadded(ValueError):
    """A batch whose rows are not `1...1 0...0` in the attention mask: trailing pads are assumed."""


def _pad_right(t: torch.Tensor, length: int, value: int) -> torch.Tensor:
    return F.pad(t, (0, length - t.size(1)), value=value)


def _image_positions(ids: torch.Tensor, image_token_id: int, n_features: int) -> torch.Tensor:
    positions = (ids.reshape(-1) == image_token_id).nonzero().squeeze(1)
    if positions.numel() != n_features:
        raise ValueError(f"Image features and image tokens do not match: {positions.numel()} image tokens, "
                         f"{n_features} feature rows. If max_length truncates prompts, raise it or set None")
    return positions


def static_batch(batch: dict[str, Any], features: torch.Tensor | list[torch.Tensor] | None,
                 parts: CausalLMParts) -> dict[str, Any]:
    """A collated stock batch in fixed shapes: right-padded ids and masks, flat image features
    (a tensor or per-image list, as the connector returned them) and the flat positions they go
    to. Raises `NotRightPadded` if the collator padded elsewhere."""
    prefixes = [""] + (["KL_"] if "KL_input_ids" in batch else [])
    longest = max(batch[f"{p}input_ids"].size(1) for p in prefixes)
    length = -(-longest // LENGTH_MULTIPLE) * LENGTH_MULTIPLE
    hidden = parts.backbone.config.hidden_size
    if features is None:
        flat = torch.zeros(0, hidden, device=batch["input_ids"].device)
    elif isinstance(features, (list, tuple)):
        flat = torch.cat([f.reshape(-1, hidden) for f in features])
    else:
        flat = features.reshape(-1, hidden)
    out: dict[str, Any] = {"label": batch["label"], FEATURES_KEY: flat}
    for p in prefixes:
        mask = batch[f"{p}attention_mask"]
        if not torch.equal(mask.cumprod(-1), mask):
            raise NotRightPadded(f"{p}attention_mask has padding before real tokens")
        out[f"{p}input_ids"] = _pad_right(batch[f"{p}input_ids"], length, parts.pad_token_id)
        out[f"{p}attention_mask"] = _pad_right(mask, length, 0)
        out[f"{p}completion_mask"] = _pad_right(batch[f"{p}completion_mask"], length, 0)
        out[f"{p}{POSITIONS_KEY}"] = _image_positions(out[f"{p}input_ids"], parts.image_token_id, flat.size(0))
    return out


def compile_decoder_layers(backbone: nn.Module) -> None:
    """Fuse each decoder layer's small kernels (norms, rotary, LoRA glue, casts) with torch.compile.

    All layers share one compiled function (same code, parameters traced as inputs, dynamic
    sequence length), so a run compiles a handful of variants (with/without grad, adapters on/off),
    not one per layer and shape. The reference log-probs go through the same compiled layers, so
    an identity LoRA still gives policy == reference.
    """
    layers = list(backbone.layers)
    compiled = torch.compile(type(layers[0]).forward, dynamic=True, fullgraph=True)
    for layer in layers:
        layer.forward = types.MethodType(compiled, layer)


def restore_decoder_layers(backbone: nn.Module) -> None:
    """Undo `compile_decoder_layers`: the layers' class forward is visible again."""
    for layer in backbone.layers:
        layer.__dict__.pop("forward", None)


def graph_key(batch: dict[str, Any]) -> tuple[int, ...]:
    """The shapes one captured graph serves: rows, padded length, image-feature rows, KL or not."""
    return (*batch["input_ids"].shape, batch[FEATURES_KEY].size(0), int("KL_input_ids" in batch))


def causal_decoder_states(backbone: nn.Module, embeds: torch.Tensor) -> torch.Tensor:
    """The text decoder's last hidden states under plain causal attention, with default positions.

    What `LlamaModel.forward` computes for a right-padded batch, minus the mask it would build:
    transformers materialises that mask while a CUDA graph is being captured (and skips it
    otherwise), which would make the captured step, the eager step and the reference run
    different attention kernels. With no mask every pass uses the same causal kernel.
    """
    positions = torch.arange(embeds.size(1), device=embeds.device).unsqueeze(0)
    rotary = backbone.rotary_emb(embeds, positions)
    hidden = embeds
    for layer in backbone.layers[: backbone.config.num_hidden_layers]:
        hidden = layer(hidden, attention_mask=None, position_ids=positions, position_embeddings=rotary)
    return backbone.norm(hidden)


def sequence_logps(parts: CausalLMParts, ids: torch.Tensor, completion_mask: torch.Tensor,
                   features: torch.Tensor, positions: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-row sums over completion tokens of the log-probs, entropies and mean logits (fixed shapes)."""
    from trl.kernels import ChunkedLogProbFunction

    embeds = parts.backbone.get_input_embeddings()(ids)
    rows, length, hidden = embeds.shape
    embeds = embeds.view(-1, hidden).index_copy(0, positions, features.to(embeds.dtype)).view(rows, length, hidden)
    states = causal_decoder_states(parts.backbone, embeds)[:, :-1]
    weight = parts.lm_head.weight
    head = parts.head
    log_probs, entropy, _, mean_logits, _ = ChunkedLogProbFunction.apply(
        states.reshape(-1, hidden).to(weight.device), weight, parts.lm_head.bias, ids[:, 1:].reshape(-1),
        head["temperature"], head["chunk_size"], head["final_logit_softcapping"], head["logit_scale"],
        head["outputs"])
    mask = completion_mask[:, 1:].bool()
    return {"logps": log_probs.view(mask.shape).masked_fill(~mask, 0).sum(-1),
            "entropy": entropy.detach().view(mask.shape).masked_fill(~mask, 0).sum(-1),
            "logit_sums": mean_logits.view(mask.shape).masked_fill(~mask, 0).sum(-1)}


def kto_loss(logps: torch.Tensor, ref_logps: torch.Tensor, labels: torch.Tensor, kl: torch.Tensor,
             beta: float, loss_type: str, desirable_weight: float, undesirable_weight: float) -> torch.Tensor:
    """TRL's KTO / APO-zero-unpaired loss with the label as a mask (no data-dependent split)."""
    logratios = logps - ref_logps
    if loss_type == "kto":
        chosen, rejected = 1 - torch.sigmoid(beta * (logratios - kl)), 1 - torch.sigmoid(beta * (kl - logratios))
    else:
        chosen, rejected = 1 - torch.sigmoid(beta * logratios), torch.sigmoid(beta * logratios)
    return torch.where(labels, desirable_weight * chosen, undesirable_weight * rejected).nanmean()


@dataclass
class StaticKTOStep:
    """One KTO step on a static batch: the policy KL pass (no grad), the policy pass and the loss."""

    parts: CausalLMParts
    beta: float
    loss_type: str
    desirable_weight: float
    undesirable_weight: float
    autocast_dtype: torch.dtype | None  # bf16 mixed precision, or None

    @contextlib.contextmanager
    def autocast(self, device: torch.device) -> Iterator[None]:
        """Autocast without its weight-cast cache (a captured graph must redo the casts each replay)."""
        with torch.autocast(device.type, dtype=self.autocast_dtype or torch.bfloat16,
                            enabled=self.autocast_dtype is not None, cache_enabled=False):
            yield

    def logps(self, batch: dict[str, Any], prefix: str = "") -> dict[str, torch.Tensor]:
        return sequence_logps(self.parts, batch[f"{prefix}input_ids"], batch[f"{prefix}completion_mask"],
                              batch[FEATURES_KEY], batch[f"{prefix}{POSITIONS_KEY}"])

    def reference_logps(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """`ref_logps` (and `ref_KL_logps`) of a static batch; call with the adapters disabled."""
        with self.autocast(batch["input_ids"].device), torch.no_grad():
            out = {"ref_logps": self.logps(batch)["logps"]}
            if "KL_input_ids" in batch:
                out["ref_KL_logps"] = self.logps(batch, "KL_")["logps"]
        return out

    def __call__(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """`loss` (with grad) and `stats`: one detached vector of what TRL logs (see `log_kto_metrics`)."""
        with self.autocast(batch["input_ids"].device):
            kl = torch.zeros(1, device=batch["input_ids"].device)
            if "KL_input_ids" in batch:
                with torch.no_grad():
                    kl_logps = self.logps(batch, "KL_")["logps"]
                kl = (kl_logps - batch["ref_KL_logps"]).mean().clamp(min=0)
            policy = self.logps(batch)
            labels = batch["label"].bool()
            loss = kto_loss(policy["logps"], batch["ref_logps"], labels, kl, self.beta, self.loss_type,
                            self.desirable_weight, self.undesirable_weight)
        logps = policy["logps"].detach()
        stats = [kl.reshape(1), logps, self.beta * (logps - batch["ref_logps"]), policy["entropy"],
                 policy["logit_sums"].detach()]
        return {"loss": loss, "stats": torch.cat([x.float() for x in stats])}


def log_kto_metrics(metrics: dict[str, list[float]], stats: torch.Tensor, batch: dict[str, Any]) -> None:
    """Append what stock `KTOTrainer._compute_loss` logs (single process) for one step.

    `stats` is the step's vector (KL, then per row: log-probs, rewards, entropy and mean-logit sums);
    labels and token counts are read from the batch's host tensors."""
    labels = batch["label"].cpu().bool()
    tokens = batch["completion_mask"][:, 1:].cpu().sum(-1).double()
    kl, logps, rewards, entropy, logit_sums = stats.cpu().double().split([1] + [labels.numel()] * 4)
    metrics["kl"].append(kl.item())
    total = tokens.sum().item()
    metrics["entropy"].append(entropy.sum().item() / total if total > 0 else 0.0)
    sides = (("chosen", labels), ("rejected", ~labels))
    for side, rows in sides:
        side_tokens = tokens[rows].sum().item()
        if side_tokens > 0:
            metrics[f"logits/{side}"].append(logit_sums[rows].sum().item() / side_tokens)
    for side, rows in sides:
        if rows.any():
            metrics[f"rewards/{side}"].append(rewards[rows].nansum().item() / int(rows.sum()))
            metrics[f"logps/{side}"].append(logps[rows].nansum().item() / int(rows.sum()))
    if labels.any() and (~labels).any():
        metrics["rewards/margins"].append(metrics["rewards/chosen"][-1] - metrics["rewards/rejected"][-1])
