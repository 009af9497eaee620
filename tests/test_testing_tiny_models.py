"""vlcultura.testing: tiny offline VLMs that load, run, generate and see their images."""
from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor, PreTrainedTokenizerBase
from typer.testing import CliRunner

from vlcultura.cli import app
from vlcultura.testing import FAMILIES, build_tiny_vlm, load_tiny_processor, tiny_image

PROMPT = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Describe la imagen."}]}]


@pytest.fixture(scope="module", params=FAMILIES)
def tiny(request, tmp_path_factory):
    path = build_tiny_vlm(request.param, tmp_path_factory.mktemp(request.param), seed=0)
    return request.param, path


def _inputs(processor, image_seed: int):
    text = processor.apply_chat_template(PROMPT, add_generation_prompt=True)
    return processor(text=[text], images=[[tiny_image(image_seed)]], return_tensors="pt")


def test_small_and_byte_identical_per_seed(tiny, tmp_path):
    family, path = tiny
    files = sorted(f for f in path.iterdir() if f.is_file())
    assert sum(f.stat().st_size for f in files) < 1_000_000
    again = build_tiny_vlm(family, tmp_path / "again", seed=0)
    assert [f.read_bytes() for f in files] == [(again / f.name).read_bytes() for f in files]
    other = build_tiny_vlm(family, tmp_path / "other", seed=1)
    assert (other / "model.safetensors").read_bytes() != (path / "model.safetensors").read_bytes()


def test_loads_with_auto_classes_and_images_matter(tiny):
    family, path = tiny
    model = AutoModelForImageTextToText.from_pretrained(path)
    processor = load_tiny_processor(path)
    assert not isinstance(processor, PreTrainedTokenizerBase)
    assert hasattr(processor, "image_processor")
    with torch.no_grad():
        a = model(**_inputs(processor, 1)).logits[0, -1]
        b = model(**_inputs(processor, 2)).logits[0, -1]
    assert (a - b).abs().max() > 1e-4, "the image must change the next-token distribution"


def test_forward_loss_and_generate(tiny):
    _, path = tiny
    model = AutoModelForImageTextToText.from_pretrained(path)
    processor = load_tiny_processor(path)
    batch = _inputs(processor, 3)
    loss = model(**batch, labels=batch["input_ids"]).loss
    assert torch.isfinite(loss)
    out = model.generate(**batch, max_new_tokens=4, do_sample=False)
    assert out.shape[1] == batch["input_ids"].shape[1] + 4


def test_autoprocessor_needs_the_documented_class_for_qwen(tmp_path):
    path = build_tiny_vlm("qwen2_5_vl", tmp_path)
    # Without torchvision AutoProcessor silently degrades to the tokenizer: the reason the
    # image-only processor exists and the model loader refuses a bare tokenizer.
    assert isinstance(AutoProcessor.from_pretrained(path), PreTrainedTokenizerBase)


def test_cli_tiny_model(tmp_path):
    result = CliRunner().invoke(app, ["tiny-model", "--family", "gemma3", "--out", str(tmp_path / "g")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "g" / "model.safetensors").exists()
    bad = CliRunner().invoke(app, ["tiny-model", "--family", "llava", "--out", str(tmp_path / "x")])
    assert bad.exit_code != 0
    assert "unknown family" in bad.output
