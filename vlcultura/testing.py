"""Tiny random-weight vision-language models, built offline in a fraction of a second.

Public so users can test their own pipelines the way vlcultura tests itself: no download, no
GPU. Each builder trains a byte-level BPE tokenizer on a few Spanish/Portuguese sentences, adds
the family's special tokens and chat template, builds the processor and a 2-layer model from a
config, and saves everything with `save_pretrained`. The folder loads back with
`AutoModelForImageTextToText` and `AutoProcessor` (Qwen2.5-VL: with
`vlcultura.train.processors.Qwen2_5_VLImageOnlyProcessor`, since `AutoProcessor` needs
torchvision for it). Output is byte-identical for the same seed, under 1 MB, and images change
the logits (Gemma 3's projector starts at zero, so it is re-randomised here).

    from vlcultura.testing import build_tiny_vlm
    path = build_tiny_vlm("smolvlm", "tiny-smolvlm", seed=0)
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

import typer

Family = Literal["smolvlm", "gemma3", "qwen2_5_vl"]
FAMILIES: tuple[str, ...] = get_args(Family)
TINY_IMAGE_SIZE = 64  # pixels: every family turns it into a handful of image tokens

CORPUS = (
    "la salteña de bolivia es una empanada jugosa horneada con caldo y papa",
    "el cuñapé es un pan de queso y almidón de yuca típico de santa cruz",
    "una ofrenda del día de muertos con cempasúchil pan de muerto y velas en méxico",
    "el torero levanta el capote rojo en la plaza de toros de madrid",
    "o pão de queijo mineiro é servido quente com café no brasil",
    "os pastéis de nata de lisboa têm massa folhada e creme de ovos",
    "machu picchu se alza entre montañas cubiertas de niebla en el perú",
    "los mariachis tocan guitarras violines y trompetas en guadalajara",
    "una foto de un mercado con frutas verduras y dulces típicos",
)

_SMOLVLM_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{ message['role'] | capitalize }}"
    "{% if message['content'] is string %}{{ ': ' + message['content'] }}"
    "{% else %}{% if message['content'][0]['type'] == 'image' %}{{ ':' }}{% else %}{{ ': ' }}{% endif %}"
    "{% for item in message['content'] %}{% if item['type'] == 'text' %}{{ item['text'] }}"
    "{% elif item['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}{% endif %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)
_GEMMA3_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' + role + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] | trim }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}{{ '<start_of_image>' }}"
    "{% elif item['type'] == 'text' %}{{ item['text'] | trim }}{% endif %}{% endfor %}{% endif %}"
    "{{ '<end_of_turn>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)
_QWEN_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{{ '<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _train_tokenizer(special_tokens: list[str], vocab_size: int = 400):
    """A byte-level BPE tokenizer trained on CORPUS: any text encodes, nothing is downloaded."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special_tokens,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    raw.train_from_iterator(list(CORPUS) * 4, trainer=trainer)
    return raw


_TEXT = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, max_position_embeddings=4096)


def _smolvlm(seed: int):
    import torch
    from transformers import (Idefics3Config, Idefics3ForConditionalGeneration,
                              Idefics3ImageProcessorPil, Idefics3Processor, LlamaConfig,
                              PreTrainedTokenizerFast)

    image_tokens = ["<fake_token_around_image>", "<image>", "<global-img>"]
    row_col = [f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)]
    raw = _train_tokenizer(["<|endoftext|>", "<|im_start|>", "<end_of_utterance>", *image_tokens, *row_col])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw, bos_token="<|im_start|>", eos_token="<end_of_utterance>",
        pad_token="<|endoftext|>", extra_special_tokens=image_tokens, padding_side="left",
        model_max_length=4096)
    # 64 px, no splitting: one tile -> (64/16)^2 = 16 patches -> pixel shuffle x2 -> 4 tokens.
    image_processor = Idefics3ImageProcessorPil(
        do_image_splitting=False, size={"longest_edge": TINY_IMAGE_SIZE},
        max_image_size={"longest_edge": TINY_IMAGE_SIZE})
    processor = Idefics3Processor(image_processor=image_processor, tokenizer=tokenizer,
                                  image_seq_len=4, chat_template=_SMOLVLM_TEMPLATE)
    text = LlamaConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                       tie_word_embeddings=False, **_TEXT)
    config = Idefics3Config(
        text_config=text, scale_factor=2, tie_word_embeddings=False,
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, image_size=TINY_IMAGE_SIZE, patch_size=16),
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    return Idefics3ForConditionalGeneration(config), processor


def _gemma3(seed: int):
    import torch
    from tokenizers import processors
    from transformers import (Gemma3Config, Gemma3ForConditionalGeneration, Gemma3ImageProcessorPil,
                              Gemma3Processor, Gemma3TextConfig, PreTrainedTokenizerFast,
                              SiglipVisionConfig)

    boi, eoi, soft = "<start_of_image>", "<end_of_image>", "<image_soft_token>"
    raw = _train_tokenizer(["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>",
                            boi, eoi, soft])
    bos_id = raw.token_to_id("<bos>")
    raw.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A <bos> $B", special_tokens=[("<bos>", bos_id)])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
        unk_token="<unk>", padding_side="left", model_max_length=4096,
        extra_special_tokens={"boi_token": boi, "eoi_token": eoi, "image_token": soft})
    image_processor = Gemma3ImageProcessorPil(size={"height": TINY_IMAGE_SIZE, "width": TINY_IMAGE_SIZE})
    # 64 px / 16 px patches = 16 patches, average-pooled to 4 soft tokens per image.
    processor = Gemma3Processor(image_processor=image_processor, tokenizer=tokenizer,
                                chat_template=_GEMMA3_TEMPLATE, image_seq_length=4)
    text = Gemma3TextConfig(
        vocab_size=len(tokenizer), head_dim=16, query_pre_attn_scalar=16, sliding_window=64,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, **_TEXT)
    vision = SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                num_attention_heads=2, image_size=TINY_IMAGE_SIZE, patch_size=16,
                                vision_use_head=False)
    config = Gemma3Config(text_config=text, vision_config=vision, mm_tokens_per_image=4,
                          boi_token_index=tokenizer.convert_tokens_to_ids(boi),
                          eoi_token_index=tokenizer.convert_tokens_to_ids(eoi),
                          image_token_index=tokenizer.convert_tokens_to_ids(soft))
    torch.manual_seed(seed)
    model = Gemma3ForConditionalGeneration(config)
    with torch.no_grad():  # initialised to zero upstream: images would not matter at all
        model.model.multi_modal_projector.mm_input_projection_weight.normal_(0.0, 0.5)
    return model, processor


def _qwen2_5_vl(seed: int):
    import torch
    from transformers import (PreTrainedTokenizerFast, Qwen2_5_VLConfig,
                              Qwen2_5_VLForConditionalGeneration, Qwen2VLImageProcessorPil)

    from vlcultura.train.processors import Qwen2_5_VLImageOnlyProcessor

    specials = {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>",
                "vision_start_token": "<|vision_start|>", "vision_end_token": "<|vision_end|>"}
    raw = _train_tokenizer(["<|endoftext|>", "<|im_start|>", "<|im_end|>", *specials.values()])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        padding_side="left", model_max_length=4096, extra_special_tokens=specials)
    # 64x64 px -> 4x4 patches of 14 px (resized to 56) -> 2x2 merge -> 4 image tokens.
    image_processor = Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=TINY_IMAGE_SIZE ** 2,
                                               patch_size=14, merge_size=2, temporal_patch_size=2)
    processor = Qwen2_5_VLImageOnlyProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                             chat_template=_QWEN_TEMPLATE)
    ids = {name: tokenizer.convert_tokens_to_ids(tok) for name, tok in specials.items()}
    config = Qwen2_5_VLConfig(
        text_config=dict(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=None, eos_token_id=tokenizer.eos_token_id,
                         rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]}, **_TEXT),
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2,
                           out_hidden_size=_TEXT["hidden_size"], patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2, window_size=56,
                           fullatt_block_indexes=[1]),
        image_token_id=ids["image_token"], video_token_id=ids["video_token"],
        vision_start_token_id=ids["vision_start_token"], vision_end_token_id=ids["vision_end_token"],
        pad_token_id=tokenizer.pad_token_id, bos_token_id=None, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(seed)
    return Qwen2_5_VLForConditionalGeneration(config), processor


_BUILDERS = {"smolvlm": _smolvlm, "gemma3": _gemma3, "qwen2_5_vl": _qwen2_5_vl}


def build_tiny_vlm_in_memory(family: Family, seed: int = 0):
    """(model, processor) of a tiny random VLM, not saved: for tests that need no folder."""
    if family not in _BUILDERS:
        raise ValueError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    model, processor = _BUILDERS[family](seed)
    model.generation_config.pad_token_id = processor.tokenizer.pad_token_id
    model.generation_config.eos_token_id = processor.tokenizer.eos_token_id
    model.generation_config.bos_token_id = None
    return model.eval(), processor


def build_tiny_vlm(family: Family, out_dir: str | Path, seed: int = 0) -> Path:
    """Build and save a tiny random VLM of `family` in `out_dir`; returns the folder."""
    model, processor = build_tiny_vlm_in_memory(family, seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def load_tiny_processor(path: str | Path):
    """The processor of a tiny (or real) VLM folder, Qwen2.5-VL included, without torchvision."""
    import json

    from transformers import AutoProcessor

    model_type = json.loads((Path(path) / "config.json").read_text())["model_type"]
    if model_type == "qwen2_5_vl":
        from vlcultura.train.processors import Qwen2_5_VLImageOnlyProcessor

        return Qwen2_5_VLImageOnlyProcessor.from_pretrained(path)
    return AutoProcessor.from_pretrained(path)


def tiny_image(seed: int = 0, size: int = TINY_IMAGE_SIZE):
    """A deterministic random RGB image of the size the tiny models expect."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), "RGB")


def tiny_model(
    family: str = typer.Option(..., "--family", help="smolvlm | gemma3 | qwen2_5_vl"),
    out: Path = typer.Option(..., "--out", help="folder to write the model and processor to"),
    seed: int = typer.Option(0, help="same seed, same bytes"),
) -> None:
    """Build a tiny random-weight VLM offline (for tests and the quickstart)."""
    if family not in FAMILIES:
        raise typer.BadParameter(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}",
                                 param_hint="--family")
    path = build_tiny_vlm(family, out, seed)  # type: ignore[arg-type]
    size = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    typer.echo(f"tiny {family} model written to {path} ({size / 1e6:.2f} MB)")


def register(app: typer.Typer) -> None:
    app.command("tiny-model")(tiny_model)
