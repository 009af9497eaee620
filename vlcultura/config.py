"""Typed configuration for every stage, in one place, loaded from YAML recipes.

A recipe (`configs/*.yaml`) is a `PipelineConfig`: one section per stage. Each stage function
takes its own section, so a notebook can build just the piece it needs:
`IngestConfig(max_side=1024)`. Unknown keys are errors (a typo must not silently do nothing).
Secrets are never fields: keys come from the environment (see `secrets_from_env`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator


class StrictModel(BaseModel):
    """Forbid unknown keys so a misspelt option fails loudly."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())


ManifestField = Literal["file", "labels", "country", "variety", "topic", "license", "attribution",
                        "source"]


class IngestConfig(StrictModel):
    """How photos become metadata-free, normalised rows (docs/ingest.md)."""

    source: str | None = None  # folder, CSV/JSONL/JSON manifest, imagefolder, Hub id, "vlcultura:samples"
    max_side: int = Field(1536, ge=16)  # longest edge after normalisation
    max_pixels: int = Field(64_000_000, ge=1)  # decompression-bomb guard on the declared size
    max_file_bytes: int = Field(50_000_000, ge=1)  # raw input file size cap
    max_encoded_bytes: int = Field(19_000_000, ge=1)  # under Cohere's 20 MB per request
    jpeg_quality: int = Field(92, ge=1, le=95)
    animated: Literal["reject", "first_frame"] = "reject"
    near_duplicate_distance: int | None = Field(4, ge=0)  # pHash Hamming distance; None: keep near duplicates
    columns: dict[ManifestField, str] = Field(default_factory=dict)  # field -> manifest column
    folder_labels: bool = True  # a plain folder's sub-folder names are labels (imagefolder rule)
    workers: int = Field(4, ge=1)  # decoding threads (Pillow releases the GIL)
    default_country: str | None = None
    default_variety: str | None = None
    default_topic: str | None = None
    default_license: str | None = None
    default_attribution: str | None = None


class PriceConfig(StrictModel):
    """USD per million tokens, per model. Prices are not in Cohere's docs: keep them here."""

    input_per_mtok: float
    output_per_mtok: float


def _default_prices() -> dict[str, PriceConfig]:
    return {
        "command-a-vision-07-2025": PriceConfig(input_per_mtok=2.5, output_per_mtok=10.0),
        "command-a-plus-05-2026": PriceConfig(input_per_mtok=2.5, output_per_mtok=10.0),
        "c4ai-aya-vision-32b": PriceConfig(input_per_mtok=0.5, output_per_mtok=1.5),
        "embed-v4.0": PriceConfig(input_per_mtok=0.12, output_per_mtok=0.0),
    }


class CohereConfig(StrictModel):
    base_url: str = "https://api.cohere.com"  # override with VLCULTURA_COHERE_BASE_URL
    model: str = "command-a-vision-07-2025"
    judge_model: str | None = None  # defaults to `model`
    embed_model: str = "embed-v4.0"
    timeout_s: float = 120.0
    max_retries: int = 5  # ours (429/5xx/422 NO_VALID_RESPONSE/timeouts); the SDK's own are off
    backoff_s: float = 1.0  # first retry delay, doubled each time (+-25% jitter)
    backoff_max_s: float = 60.0
    invalid_answer_retries: int = 2  # billed answers that fail schema validation, asked again
    concurrency: int = 8
    requests_per_minute: float = 20.0  # trial keys: 20/min per model
    temperature: float = 0.3
    max_tokens: int = 600
    image_detail: Literal["low", "high", "auto"] = "low"
    prices: dict[str, PriceConfig] = Field(default_factory=_default_prices)


class GenerateConfig(StrictModel):
    backend: Literal["auto", "cohere", "template", "local"] = "auto"  # auto: cohere if a key is set
    desirable_per_image: int = 2
    negative_types: list[str] = Field(default_factory=lambda: [
        "generic", "wrong_culture", "stereotype", "hallucination", "wrong_variety", "register"])
    negative_strategy: Literal["rewrite", "rule", "auto"] = "auto"  # auto: rewrite via LLM when paid backend
    budget_usd: float = 50.0
    seed: int = 42
    prompt_version: str = "v1"
    ledger_path: str | None = None  # default: <output>/ledger.sqlite
    prompts_dir: str | None = None  # extra <variety>.yaml prompt files that add or override varieties
    local_model: str | None = None  # path or id for the local backend
    local_batch_size: int = 8
    local_max_new_tokens: int = 96
    cohere: CohereConfig = Field(default_factory=CohereConfig)


class JudgeConfig(StrictModel):
    enabled: bool = True
    backend: Literal["auto", "cohere", "rules"] = "auto"  # auto: cohere if a key is set, else rules
    min_desirable_score: float = 3.5  # mean rubric score (1-5) a desirable row must reach
    max_undesirable_score: float = 3.0  # an undesirable row must score at most this on its criterion
    parse_retries: int = 2
    seed: int = 7
    temperature: float = 0.0
    max_tokens: int = 500
    budget_usd: float = 20.0
    ledger_path: str | None = None  # default: the generation stage's ledger next to its output
    prompt_version: str = "judge-v1"


class FilterConfig(StrictModel):
    min_words: int = 5
    max_words: int = 120
    near_duplicate_threshold: float = 0.85  # Jaccard on MinHash shingles
    near_duplicate_scope: Literal["image", "dataset"] = "image"  # compare within one image (and label) or all
    check_variety: bool = True


class ReviewConfig(StrictModel):
    api_url: str | None = None  # None: ARGILLA_API_URL, else the local `vlcultura review serve` URL
    workspace: str = "argilla"
    dataset_name: str = "vlcultura-review"
    guidelines_languages: list[Literal["es", "pt"]] = Field(default_factory=lambda: ["es", "pt"])
    batch_size: int = Field(default=64, ge=1, le=500)  # records per upsert request
    retry_wait_s: float = 30.0  # how long a push waits for a vanished server before stopping
    timeout_s: int = 60
    min_submitted: int = Field(default=1, ge=1)  # fewer submitted reviews: the row is left out
    conflict_policy: Literal["majority", "unanimous"] = "majority"  # docs/review.md
    unresolved: Literal["undesirable", "exclude"] = "undesirable"  # a tie / a disagreement


class ExportConfig(StrictModel):
    name: str = "comida_bolivia_images_kto"
    prompts_name: str | None = None  # default: <topic>_<country>_prompts
    test_fraction: float = 0.2
    seed: int = 0
    include_arena: str | None = None  # path to converted Arena KTO rows to mix in
    license: str = "apache-2.0"
    organization: str = "somosnlp-hackathon-2026"
    min_prompts: int = 100  # the challenge's minimum for a *_prompts dataset
    code_url: str | None = None  # link to the code in the Dataset Card


class LoraSettings(StrictModel):
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: str | list[str] | None = None  # None: the preset's language-model-only regex


class ModelConfig(StrictModel):
    name_or_path: str = "HuggingFaceTB/SmolVLM-256M-Instruct"
    family: Literal["auto", "smolvlm", "gemma3", "qwen2_5_vl", "generic"] = "auto"
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    attn_implementation: str | None = None  # preset default
    quantization: Literal["none", "4bit"] = "none"
    revision: str | None = None
    image_longest_edge: int | None = None
    do_image_splitting: bool | None = None
    max_pixels: int | None = None  # Qwen2.5-VL
    pan_and_scan: bool | None = None  # Gemma 3
    local_files_only: bool = False


class EmissionsConfig(StrictModel):
    enabled: bool = True
    country_iso_code: str | None = None  # ISO 3166-1 alpha-3, e.g. "USA", "ESP"
    region: str | None = None
    cloud_provider: str | None = None
    cloud_region: str | None = None
    measure_power_secs: float = 15.0


class TrainConfig(StrictModel):
    algorithm: Literal["kto", "dpo"] = "kto"
    dataset: str | None = None  # path or Hub id of the *_images_kto dataset
    output_dir: str = "outputs/model"
    lora: LoraSettings = Field(default_factory=LoraSettings)
    learning_rate: float = 5e-5
    num_train_epochs: float = 1.0
    max_steps: int = -1
    per_device_train_batch_size: int = 4
    gradient_accumulation_steps: int = 1
    gradient_checkpointing: bool = False
    max_length: int | None = 1024
    beta: float = 0.1
    # unset: the export stage's kto_weights.json beside the dataset, else 1.0 / 1.0
    desirable_weight: float = 1.0
    undesirable_weight: float = 1.0
    logging_steps: int = 10
    save_steps: int = 100
    save_total_limit: int | None = 3
    seed: int = 42
    fast_path: bool = True  # vlcultura's fast KTO path where exact; stock TRL otherwise
    use_cpu: bool = False
    merge_adapter: bool = False
    preflight_rows: int | None = None  # rows measured for the token budget; None: all
    license: str | None = None  # of the adapter; None: the base model family's license
    extra_args: dict[str, Any] = Field(default_factory=dict)  # passed through to KTOConfig/DPOConfig


class EvalConfig(StrictModel):
    """Captioning + scoring of held-out images (docs/evaluation.md). The base model is `model`."""

    dataset: str | None = None  # the exported KTO DatasetDict folder; default: train.dataset
    split: str = "test"  # its desirable rows are the references, grouped by image_id
    tuned: str | None = None  # a `vlcultura train` output folder; default: train.output_dir
    tuned_kind: Literal["adapter", "merged", "model"] = "adapter"  # base+adapter, merged copy, or any model folder
    include_base: bool = True  # also caption with the base model (needed for base-vs-tuned)
    output_dir: str = "outputs/eval"
    batch_size: int = 8
    max_new_tokens: int = 96
    num_beams: int = 1
    do_sample: bool = False  # greedy by default: deterministic captions
    temperature: float | None = None  # only with do_sample
    repetition_penalty: float = 1.0
    max_images: int | None = None  # cap for quick runs
    tokenizer: Literal["coco", "es", "pt", "auto"] = "auto"
    meteor: bool = True  # when Java is present
    cider_idf: Literal["auto", "eval", "train"] = "auto"  # auto: train split when < 100 eval images
    bootstrap_samples: int = 1000
    gallery_size: int = 24
    judge: bool = False  # Cohere judge (needs CO_API_KEY); settings from `judge` and `generate.cohere`
    judge_mode: Literal["clair", "rubric", "both"] = "both"
    judge_backend: Literal["cohere", "local"] = "cohere"
    judge_model: str | None = None  # local backend: a VLM folder or Hub id (loaded like `model`)
    judge_budget_usd: float = 10.0  # cap on the judge ledger (all it ever recorded)
    judge_ledger_path: str | None = None  # default: <output_dir>/judge_ledger.sqlite
    seed: int = 0


class PublishConfig(StrictModel):
    organization: str = "somosnlp-hackathon-2026"
    dataset_repo: str | None = None
    model_repo: str | None = None
    private: bool = False


class PipelineConfig(StrictModel):
    """A whole recipe: `vlcultura run configs/quickstart.yaml`."""

    output_dir: str = "outputs"
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    generate: GenerateConfig = Field(default_factory=GenerateConfig)
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    filters: FilterConfig = Field(default_factory=FilterConfig)
    review: ReviewConfig = Field(default_factory=ReviewConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    emissions: EmissionsConfig = Field(default_factory=EmissionsConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    publish: PublishConfig = Field(default_factory=PublishConfig)

    @model_validator(mode="before")
    @classmethod
    def _no_secret_fields(cls, data: Any) -> Any:
        _reject_secrets(data)  # before field validation: the message must name the real problem
        return data


_SECRET_NAMES = ("api_key", "token", "password", "secret")


def _reject_secrets(tree: Any, path: str = "") -> None:
    """Secrets belong in the environment; a recipe that holds one is refused."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            name = str(key).lower()
            if value and any(name == n or name.endswith("_" + n) for n in _SECRET_NAMES):
                raise ValueError(f"config key {path}{key} looks like a secret: set it in the "
                                 "environment (CO_API_KEY, HF_TOKEN, ARGILLA_API_KEY), not in a recipe")
            _reject_secrets(value, f"{path}{key}.")


def load_config(path: str | os.PathLike[str], overrides: dict[str, Any] | None = None) -> PipelineConfig:
    """Read a YAML recipe into a validated `PipelineConfig`; `overrides` use dotted keys."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a recipe must be a YAML mapping of stage sections")
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return PipelineConfig.model_validate(data)


def dump_config(config: BaseModel, path: str | os.PathLike[str]) -> None:
    """Write the resolved config next to a stage's outputs (it holds no secrets by design)."""
    Path(path).write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False,
                                         allow_unicode=True), encoding="utf-8")


class Secrets(BaseModel):
    """Keys read from the environment; `repr` never shows their values."""

    model_config = ConfigDict(frozen=True)
    cohere_api_key: str | None = Field(default=None, repr=False)
    hf_token: str | None = Field(default=None, repr=False)
    argilla_api_key: str | None = Field(default=None, repr=False)

    def __repr__(self) -> str:  # pragma: no cover - trivial
        flags = {k: ("set" if getattr(self, k) else "unset") for k in type(self).model_fields}
        return f"Secrets({flags})"

    __str__ = __repr__


def secrets_from_env() -> Secrets:
    """Cohere: CO_API_KEY or COHERE_API_KEY; Hub: HF_TOKEN; Argilla: ARGILLA_API_KEY."""
    return Secrets(
        cohere_api_key=os.environ.get("CO_API_KEY") or os.environ.get("COHERE_API_KEY") or None,
        hf_token=os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN") or None,
        argilla_api_key=os.environ.get("ARGILLA_API_KEY") or None,
    )
