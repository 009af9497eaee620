"""The Model Card, rendered from what the train stage recorded, never from guesses.

Inputs are files in the training output: `train_facts.json` (base model, data, hyperparameters,
hardware, wall time), `emissions.json` (CodeCarbon, grams in `co2_eq_emissions`) and optionally
the evaluation stage's `model_index.json` (model-index results). The text comes from
`templates/model_card.md`; the result parses as a huggingface_hub `ModelCard` and is checked by
`validate_model_card`.
"""
from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path
from typing import Any

from vlcultura.cards.checks import check_card
from vlcultura.cards.dataset_card import CardError

TEMPLATE = Path(__file__).parent / "templates" / "model_card.md"
REQUIRED_SECTIONS = ("## Training data", "## Training procedure", "## Environmental impact",
                     "## Evaluation", "## Intended use", "## Limitations", "## Bias", "## Reproduce")
LIBRARIES = ("vlcultura", "torch", "transformers", "trl", "peft", "accelerate", "bitsandbytes",
             "datasets", "codecarbon")


def _versions() -> list[dict[str, str]]:
    out = []
    for name in LIBRARIES:
        try:
            out.append({"name": name, "version": importlib.metadata.version(name)})
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def _hub_url(repo_or_path: str | None, kind: str = "") -> str:
    """A Hub link for an `org/name` id; local paths stay as they are."""
    if not repo_or_path:
        return ""
    if Path(repo_or_path).exists() or repo_or_path.count("/") != 1 or repo_or_path.startswith(("/", ".")):
        return repo_or_path
    return f"https://huggingface.co/{kind}{repo_or_path}"


def _languages(varieties: list[str]) -> list[str]:
    """The Hub's `language` field wants ISO 639 codes: es-MX, es-AR -> es."""
    return sorted({v.split("-")[0].lower() for v in varieties if v})


def _duration(seconds: float) -> str:
    minutes, sec = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min {sec} s" if hours else f"{minutes} min {sec} s"


def load_eval_results(path: str | Path) -> list[Any]:
    """EvalResults from the evaluation stage's `model_index.json` ({"model-index": [...]})."""
    from huggingface_hub.repocard_data import model_index_to_eval_results

    data = json.loads(Path(path).read_text(encoding="utf-8"))
    index = data.get("model-index", data) if isinstance(data, dict) else data
    try:
        _name, results = model_index_to_eval_results(index)
    except (KeyError, TypeError, ValueError) as exc:
        raise CardError(f"{path}: not a model-index (as written by `vlcultura evaluate`): {exc}") from exc
    return results


def render_model_card(output_dir: str | Path, eval_results: str | Path | None = None,
                      recipe: str | None = None) -> str:
    """The Model Card text of a training output folder."""
    from huggingface_hub import ModelCard, ModelCardData

    from vlcultura.train.emissions import read_summary
    from vlcultura.train.trainer import FACTS_FILE

    out = Path(output_dir)
    facts = json.loads((out / FACTS_FILE).read_text(encoding="utf-8"))
    emissions = read_summary(out)
    results = load_eval_results(eval_results) if eval_results else []
    model_name = (facts.get("model_repo") or out.name).split("/")[-1]
    dataset = facts.get("dataset_repo") or facts["dataset"]
    hw = facts["hardware"]
    hardware_text = (f"{hw['gpu_count']} x {hw['gpu']} ({hw['gpu_memory_gib']} GiB)" if hw.get("gpu")
                     else f"CPU only ({hw['cpu']}, {hw.get('cpu_count')} cores)")
    co2 = None
    if emissions:
        co2 = {"emissions": emissions["emissions_g"], "source": "CodeCarbon (offline tracker)",
               "training_type": "fine-tuning", "geographical_location": emissions["location"],
               "hardware_used": hardware_text}
    data = ModelCardData(
        base_model=facts["base_model"], library_name="peft", license=facts["license"],
        language=_languages(facts.get("languages", [])) or None,
        datasets=[dataset] if "/" in dataset and not Path(dataset).exists() else None,
        pipeline_tag="image-text-to-text", model_name=model_name, eval_results=results or None,
        tags=["vlcultura", facts["algorithm"], "lora" if facts["quantization"] == "none" else "qlora",
              "trl", facts["family"]], co2_eq_emissions=co2)
    card = ModelCard.from_template(
        data, template_path=str(TEMPLATE), **{k: v for k, v in facts.items() if k not in ("dataset", "recipe")},
        model_name=model_name, base_model_url=_hub_url(facts["base_model"]),
        dataset_name=dataset, dataset_url=_hub_url(dataset, "datasets/"), emissions=emissions,
        eval_results=results, hardware_text=hardware_text,
        wall_time=_duration(facts["result"]["wall_time_s"]), libraries=_versions(),
        recipe=recipe or facts.get("recipe") or "config.yaml", model_dir=facts.get("model_repo") or str(out))
    return str(card)


def _co2_problems(meta: dict[str, Any]) -> list[str]:
    co2 = meta.get("co2_eq_emissions")
    if co2 is not None and not isinstance(co2.get("emissions"), (int, float)):
        return ["co2_eq_emissions.emissions must be a number of grams"]
    return []


def validate_model_card(text: str, remote: bool = False) -> Any:
    """Parse with huggingface_hub's `ModelCard` and check the fields the challenge requires."""
    from huggingface_hub import ModelCard

    return check_card(text, ModelCard, required=("base_model", "license", "library_name"),
                      sections=REQUIRED_SECTIONS, repo_type="model", extra=_co2_problems, remote=remote)


def write_model_card(output_dir: str | Path, eval_results: str | Path | None = None,
                     recipe: str | None = None) -> Path:
    """Render, validate and write `README.md` in the training output."""
    text = render_model_card(output_dir, eval_results, recipe)
    validate_model_card(text)
    path = Path(output_dir) / "README.md"
    path.write_text(text, encoding="utf-8")
    return path
