"""Model presets, one per family, and loading that checks what it got.

A preset pins down what users otherwise get wrong (../docs/training.md): the dtype and attention
implementation, image resolution (SmolVLM splitting/longest edge, Qwen max pixels, Gemma
pan-and-scan), LoRA targets anchored on the language model only (a bare `q_proj` also hits the
vision tower), and a 4-bit config whose skip list uses FULL module paths (a bare `vision_model`
silently matches nothing). Loading never falls back silently: an unknown family, a model id that
cannot be resolved offline or a tokenizer where a processor was expected are errors that say
what to do.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # heavy imports stay inside functions
    import torch
    from peft import LoraConfig
    from transformers import BitsAndBytesConfig, PretrainedConfig, PreTrainedModel, ProcessorMixin

    from vlcultura.config import LoraSettings, ModelConfig

log = logging.getLogger(__name__)

LORA_PROJECTIONS = r"(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)"


class ModelLoadError(ValueError):
    """The model or processor cannot be used as asked; the message says what to do."""


@dataclass(frozen=True)
class FamilyPreset:
    """What vlcultura fixes for one model family. Module paths are full paths in the model."""

    family: str
    model_types: tuple[str, ...]
    language_model: str  # path of the decoder whose layers get LoRA
    unquantized: tuple[str, ...]  # vision tower, connector, lm_head: kept out of 4-bit
    frozen: tuple[str, ...]  # must stay untouched by training (vision tower + connector)
    dtype: str = "bfloat16"
    forbidden_dtypes: dict[str, str] = field(default_factory=dict)  # dtype -> why
    attn_implementation: str = "sdpa"
    image_defaults: dict[str, Any] = field(default_factory=dict)
    license: str = "other"  # the base checkpoints' license: an adapter inherits it

    def lora_target_regex(self) -> str:
        """A regex PEFT full-matches against module names: language-model layers only."""
        return rf"{re.escape(self.language_model)}\.layers\.\d+\.{LORA_PROJECTIONS}"


PRESETS: dict[str, FamilyPreset] = {
    # SmolVLM v1 = Idefics3. One 512 px tile (384 for 2.2B) without splitting: 64-81 image tokens
    # instead of up to 17x that (a 386 px photo becomes 2048 px of tiles when splitting is on).
    "smolvlm": FamilyPreset(
        family="smolvlm", model_types=("idefics3",), language_model="model.text_model",
        unquantized=("model.vision_model", "model.connector", "lm_head"),
        frozen=("model.vision_model", "model.connector"),
        image_defaults={"do_image_splitting": False, "image_longest_edge": None},
        license="apache-2.0"),
    # Gemma 3: fp16 overflows to NaN; 262k vocabulary; pan-and-scan multiplies image tokens.
    "gemma3": FamilyPreset(
        family="gemma3", model_types=("gemma3",), language_model="model.language_model",
        unquantized=("model.vision_tower", "model.multi_modal_projector", "lm_head"),
        frozen=("model.vision_tower", "model.multi_modal_projector"),
        forbidden_dtypes={"float16": "Gemma 3 activations overflow in float16 and the loss turns "
                                     "NaN; use bfloat16 (or float32 on hardware without bf16)"},
        image_defaults={"pan_and_scan": False}, license="gemma"),
    # Qwen2.5-VL: the merger (connector) lives inside `model.visual`. Dynamic resolution: cap the
    # pixels so a 12 MP photo does not become 16k image tokens (512 * 28 * 28 -> <= 512 tokens).
    "qwen2_5_vl": FamilyPreset(
        family="qwen2_5_vl", model_types=("qwen2_5_vl",), language_model="model.language_model",
        unquantized=("model.visual", "lm_head"), frozen=("model.visual",),
        image_defaults={"max_pixels": 512 * 28 * 28},
        license="other"),  # 3B: Qwen research license; 7B/72B: apache-2.0 / qwen
}
FAMILY_BY_MODEL_TYPE = {mt: p.family for p in PRESETS.values() for mt in p.model_types}


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")


def _hub_kwargs(cfg: ModelConfig) -> dict[str, Any]:
    return {"revision": cfg.revision, "local_files_only": cfg.local_files_only or _offline()}


def load_hf_config(cfg: ModelConfig) -> PretrainedConfig:
    """The model's config, or an error that says how to make the id resolvable."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(cfg.name_or_path, **_hub_kwargs(cfg))
    except (OSError, ValueError) as exc:
        where = "offline (HF_HUB_OFFLINE=1 or model.local_files_only)" if _hub_kwargs(cfg)[
            "local_files_only"] else "from the Hub or the local cache"
        raise ModelLoadError(
            f"cannot resolve model {cfg.name_or_path!r} {where}: {exc.__class__.__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}. Download it first on a connected "
            f"machine (`hf download {cfg.name_or_path}`), or set model.name_or_path to a local "
            "folder holding config.json, the weights and the processor files.") from exc


def generic_preset(model_type: str, language_model: str, unquantized: tuple[str, ...]) -> FamilyPreset:
    """A preset for another AutoModelForImageTextToText model, built from its module tree."""
    return FamilyPreset(family="generic", model_types=(model_type,), language_model=language_model,
                        unquantized=unquantized, frozen=tuple(u for u in unquantized if u != "lm_head"))


def resolve_preset(cfg: ModelConfig, hf_config: PretrainedConfig | None = None) -> FamilyPreset | None:
    """The family preset for `cfg`; None for the generic path (the model must be loaded first)."""
    hf_config = hf_config or load_hf_config(cfg)
    model_type = getattr(hf_config, "model_type", None)
    detected = FAMILY_BY_MODEL_TYPE.get(model_type or "")
    if cfg.family == "generic":
        return None
    if cfg.family == "auto":
        if detected is None:
            raise ModelLoadError(
                f"model {cfg.name_or_path!r} has model_type {model_type!r}, which is not a family "
                f"vlcultura has a preset for ({', '.join(PRESETS)}; SmolVLM2 'smolvlm' needs "
                "torchvision). Set model.family: generic to train it through the generic "
                "AutoModelForImageTextToText path (LoRA on the language model it finds, "
                "everything else frozen and unquantized), or pick a supported model.")
        return PRESETS[detected]
    if detected != cfg.family:
        raise ModelLoadError(
            f"model.family is {cfg.family!r} but {cfg.name_or_path!r} is a {model_type!r} model"
            f"{f' (family {detected!r})' if detected else ''}: set model.family: auto, or fix the "
            "model id.")
    return PRESETS[cfg.family]


def resolve_dtype(cfg: ModelConfig, preset: FamilyPreset | None, use_cpu: bool) -> torch.dtype:
    """The training dtype: bf16 on GPUs that have it, float32 on CPU; refuses fp16 for Gemma 3."""
    import torch

    cuda = torch.cuda.is_available() and not use_cpu
    name = cfg.dtype
    if name == "auto":
        if not cuda:
            name = "float32"
        elif torch.cuda.is_bf16_supported():
            name = preset.dtype if preset else "bfloat16"
        else:
            name = "float32" if preset and "float16" in preset.forbidden_dtypes else "float16"
    if preset and name in preset.forbidden_dtypes:
        raise ModelLoadError(f"model.dtype {name!r} for {preset.family}: {preset.forbidden_dtypes[name]}.")
    if name == "bfloat16" and cuda and not torch.cuda.is_bf16_supported():
        raise ModelLoadError(
            f"model.dtype bfloat16 but {torch.cuda.get_device_name(0)} has no bf16 support: use "
            "a card with bf16 (Ampere or newer, e.g. L40S/A100/H100) or set model.dtype: float32.")
    if name == "float16" and not cuda:
        raise ModelLoadError("model.dtype float16 on CPU: CPU training in fp16 is not supported by "
                             "the Trainer; use model.dtype: float32 (or auto).")
    return getattr(torch, name)


def build_user_message(text: str, n_images: int = 1) -> list[dict[str, Any]]:
    """The chat message format all three families share: image placeholders first, then text."""
    content: list[dict[str, Any]] = [{"type": "image"} for _ in range(n_images)]
    content.append({"type": "text", "text": text})
    return [{"role": "user", "content": content}]


def _is_processor(obj: Any) -> bool:
    from transformers import ProcessorMixin

    return isinstance(obj, ProcessorMixin) and getattr(obj, "image_processor", None) is not None


def ensure_processor(obj: Any, source: str) -> ProcessorMixin:
    """Refuse a tokenizer (or anything else) where an image processor was expected."""
    from transformers import PreTrainedTokenizerBase

    if _is_processor(obj):
        if not getattr(obj, "chat_template", None):
            raise ModelLoadError(
                f"the processor of {source!r} has no chat template: training and captioning "
                "need one. Use an instruct/chat checkpoint, or save a processor with "
                "`processor.chat_template = ...; processor.save_pretrained(...)`.")
        return obj
    if isinstance(obj, PreTrainedTokenizerBase):
        raise ModelLoadError(
            f"got a tokenizer ({type(obj).__name__}) where a processor was expected for "
            f"{source!r}: transformers returns only the tokenizer when it cannot build the image "
            "processor (no preprocessor_config.json in the folder, or a video processor that "
            "needs torchvision, as for Qwen2.5-VL). Copy the processor files next to the model, "
            "or load Qwen2.5-VL with vlcultura.train.processors.Qwen2_5_VLImageOnlyProcessor "
            "(model.family: qwen2_5_vl does this). Do not install torchvision on CPU-only machines.")
    raise ModelLoadError(f"expected an image processor for {source!r}, got {type(obj).__name__}")


def apply_image_settings(processor: ProcessorMixin, cfg: ModelConfig,
                         preset: FamilyPreset | None) -> dict[str, Any]:
    """Set the image resolution deliberately; returns the effective settings (for the card)."""
    ip = processor.image_processor
    defaults = preset.image_defaults if preset else {}

    def pick(name: str) -> Any:
        value = getattr(cfg, name)
        return defaults.get(name) if value is None else value

    family = preset.family if preset else "generic"
    if family == "smolvlm":
        split = bool(pick("do_image_splitting"))
        tile = ip.max_image_size["longest_edge"]
        # Without splitting, one tile is the whole image: resize the longest edge to it.
        edge = pick("image_longest_edge") or (ip.size["longest_edge"] if split else tile)
        ip.do_image_splitting = split
        ip.size = {"longest_edge": int(edge)}
        return {"do_image_splitting": split, "longest_edge": int(edge), "tile": int(tile)}
    if family == "qwen2_5_vl":
        max_pixels = int(pick("max_pixels"))
        ip.size = {"shortest_edge": ip.size["shortest_edge"], "longest_edge": max_pixels}
        ip.max_pixels = max_pixels
        return {"max_pixels": max_pixels, "min_pixels": int(ip.size["shortest_edge"])}
    if family == "gemma3":
        pan = bool(pick("pan_and_scan"))
        ip.do_pan_and_scan = pan
        return {"pan_and_scan": pan, "size": dict(ip.size)}
    return {}


def load_processor(cfg: ModelConfig, preset: FamilyPreset | None) -> ProcessorMixin:
    """The family's processor with the preset's image settings applied."""
    from transformers import AutoProcessor

    kwargs = _hub_kwargs(cfg)
    try:
        if preset is not None and preset.family == "qwen2_5_vl":
            from vlcultura.train.processors import Qwen2_5_VLImageOnlyProcessor

            processor = Qwen2_5_VLImageOnlyProcessor.from_pretrained(cfg.name_or_path, **kwargs)
        else:
            processor = AutoProcessor.from_pretrained(cfg.name_or_path, **kwargs)
    except OSError as exc:
        raise ModelLoadError(f"cannot load the processor of {cfg.name_or_path!r}: {exc}. Make sure "
                             "the processor files (preprocessor_config.json, tokenizer, chat "
                             "template) are in the folder or the local cache.") from exc
    processor = ensure_processor(processor, cfg.name_or_path)
    apply_image_settings(processor, cfg, preset)
    return processor


def quantization_config(unquantized: tuple[str, ...], compute_dtype: torch.dtype) -> BitsAndBytesConfig:
    """NF4 with double quantization; vision tower, connector and lm_head stay in full precision."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                              bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=compute_dtype,
                              bnb_4bit_quant_storage=compute_dtype,
                              llm_int8_skip_modules=list(unquantized))


def _generic_structure(model: PreTrainedModel) -> tuple[str, tuple[str, ...]]:
    """For the generic path: the language model's path and everything else under `model.`."""
    names = dict(model.named_modules())
    for candidate in ("model.language_model", "model.text_model"):
        if candidate in names:
            inner = names["model"]
            others = tuple(f"model.{n}" for n, _ in inner.named_children()
                           if f"model.{n}" != candidate)
            return candidate, others + ("lm_head",)
    raise ModelLoadError(
        f"{type(model).__name__}: found neither model.language_model nor model.text_model, so "
        "vlcultura cannot anchor LoRA on the language model. Set train.lora.target_modules to a "
        "regex of full module paths of the text decoder's projections.")


def load_model(cfg: ModelConfig, preset: FamilyPreset | None, dtype: torch.dtype,
               device_map: Any = None) -> tuple[PreTrainedModel, FamilyPreset]:
    """Load the model as the preset says; returns it with its (possibly generic) preset."""
    from transformers import AutoModelForImageTextToText

    kwargs: dict[str, Any] = dict(dtype=dtype, **_hub_kwargs(cfg))
    kwargs["attn_implementation"] = cfg.attn_implementation or (
        preset.attn_implementation if preset else "sdpa")
    if device_map is not None:
        kwargs["device_map"] = device_map
    if cfg.quantization == "4bit":
        if preset is None:  # the skip list needs the module tree: read it from an empty model
            preset = _generic_preset_from_config(cfg)
        kwargs["quantization_config"] = quantization_config(preset.unquantized, dtype)
    try:
        model = AutoModelForImageTextToText.from_pretrained(cfg.name_or_path, **kwargs)
    except ValueError as exc:
        if "Unrecognized configuration class" in str(exc):
            raise ModelLoadError(f"{cfg.name_or_path!r} is not an AutoModelForImageTextToText "
                                 "model: vlcultura trains image-text-to-text models only.") from exc
        raise
    except OSError as exc:
        raise ModelLoadError(f"cannot load the weights of {cfg.name_or_path!r}: {exc}") from exc
    if preset is None:
        preset = generic_preset(model.config.model_type, *_generic_structure(model))
    check_module_paths(model, preset)
    if cfg.quantization == "4bit":
        check_quantized(model, preset)
    return model, preset


def _generic_preset_from_config(cfg: ModelConfig) -> FamilyPreset:
    from accelerate import init_empty_weights
    from transformers import AutoModelForImageTextToText

    hf_config = load_hf_config(cfg)
    with init_empty_weights():
        empty = AutoModelForImageTextToText.from_config(hf_config)
    return generic_preset(hf_config.model_type, *_generic_structure(empty))


def check_module_paths(model: PreTrainedModel, preset: FamilyPreset) -> None:
    """Every path the preset names must exist: a wrong path would silently match nothing."""
    names = {n for n, _ in model.named_modules()}
    missing = [p for p in (preset.language_model, *preset.unquantized) if p not in names]
    if missing:
        raise ModelLoadError(
            f"{type(model).__name__} has no module {', '.join(missing)} that the {preset.family} "
            "preset expects: the checkpoint's layout differs from this transformers version's. "
            "Check `model.named_modules()` and use model.family: generic, or upgrade vlcultura.")


def check_quantized(model: PreTrainedModel, preset: FamilyPreset) -> None:
    """4-bit must hit the language model and spare the vision tower, connector and lm_head."""
    from bitsandbytes.nn import Linear4bit

    quantized = [n for n, m in model.named_modules() if isinstance(m, Linear4bit)]
    leaked = [n for n in quantized if any(n == u or n.startswith(u + ".") for u in preset.unquantized)]
    if leaked:
        raise ModelLoadError(f"4-bit quantization reached modules that must stay unquantized: "
                             f"{leaked[:5]}; the skip list {list(preset.unquantized)} did not match.")
    if not any(n.startswith(preset.language_model + ".") for n in quantized):
        raise ModelLoadError("model.quantization: 4bit but no layer of the language model was "
                             "quantized: check that bitsandbytes works on this machine.")


def lora_config(settings: LoraSettings, preset: FamilyPreset) -> LoraConfig:
    """LoRA on the language model's attention and MLP projections only."""
    from peft import LoraConfig

    targets = settings.target_modules or preset.lora_target_regex()
    return LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                      target_modules=targets, bias="none", task_type="CAUSAL_LM")


def check_trainable(model: PreTrainedModel, preset: FamilyPreset) -> list[str]:
    """Names of trainable parameters; all must be LoRA weights inside the language model."""
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    anchor = f".{preset.language_model}."
    bad = [n for n in trainable if "lora_" not in n or anchor not in f".{n.removeprefix('base_model.model.')}"]
    if not trainable:
        raise ModelLoadError("no trainable parameter: the LoRA target regex matched no module. "
                             f"Default for {preset.family}: {preset.lora_target_regex()!r}.")
    if bad:
        raise ModelLoadError(
            f"trainable parameters outside the language model's LoRA weights: {bad[:5]} "
            f"(and {max(0, len(bad) - 5)} more). Anchor train.lora.target_modules on "
            f"{preset.language_model!r}: a bare 'q_proj' also adapts the vision tower.")
    return trainable
