"""The evaluate stage: caption held-out images with base and tuned models, score, report.

`evaluate(config)` is what `vlcultura evaluate --config ...` and notebooks call. Systems are
captioned one after the other (one model in memory at a time); only images every system
captioned are scored, so the comparison is paired.
"""
from __future__ import annotations

import gc
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vlcultura.config import PipelineConfig, dump_config
from vlcultura.cultures import language_of, normalize_variety
from vlcultura.eval.eval_set import EvalDataError, EvalImage, load_eval_images, train_references
from vlcultura.eval.generation import CaptionCache, Decoding, cached_captions, caption_images, pending
from vlcultura.eval.metrics.lexical import DocumentFrequency
from vlcultura.eval.metrics.tokenizers import TokenizerUnavailable, java_available, resolve_tokenizer
from vlcultura.eval.report import model_index, write_report
from vlcultura.eval.scoring import CIDER_MIN_IMAGES, score_system, tokenize_refs
from vlcultura.eval.summary import per_image_rows, summarize


@dataclass
class EvalRun:
    """What an evaluation produced: the summary and where the files are."""

    output_dir: Path
    summary: dict[str, Any]
    files: dict[str, Path]
    problems: list[str] = field(default_factory=list)


def _systems(config: PipelineConfig) -> list[tuple[str, str, str | None]]:
    """(name, kind, source) of every system to caption."""
    ev = config.eval
    tuned = ev.tuned or (config.train.output_dir if (Path(config.train.output_dir) / "config.yaml").is_file()
                         else None)
    systems = [("base", "base", None)] if ev.include_base else []
    if tuned:
        systems.append(("tuned", ev.tuned_kind, tuned))
    if not systems:
        raise EvalDataError("nothing to caption: set eval.include_base: true or eval.tuned to a training output")
    return systems


def _language(items: list[EvalImage]) -> str | None:
    """The most common language of the images' varieties (es, pt...), None when unknown."""
    tags = [normalize_variety(i.meta.variety) for i in items]
    counts = Counter(language_of(t) for t in tags if t)
    return counts.most_common(1)[0][0] if counts else None


def _idf(config: PipelineConfig, dataset: str, n_images: int, tokenizer: str) -> DocumentFrequency | None:
    mode = config.eval.cider_idf
    if mode == "eval" or (mode == "auto" and n_images >= CIDER_MIN_IMAGES):
        return None
    try:
        refs = train_references(dataset, "train")
    except EvalDataError:
        if mode == "train":
            raise
        return None
    _, tokens = tokenize_refs(tokenizer, [], refs)
    return DocumentFrequency.from_references(tokens, "fixed, from the train split's desirable descriptions")


def _caption(config: PipelineConfig, systems: list[tuple[str, str, str | None]], items: list[EvalImage],
             out: Path, decoding: Decoding, problems: list[str]) -> dict[str, dict[str, str]]:
    """Captions per system; a system whose captions are all cached is not even loaded."""
    from vlcultura.eval.systems import load_system, system_id

    captions: dict[str, dict[str, str]] = {}
    for name, kind, source in systems:
        model_id = system_id(kind, config.model, source)  # type: ignore[arg-type]
        cache = CaptionCache(out / "captions" / f"{name}.jsonl")
        if not pending(items, decoding, cache, model_id):
            captions[name] = cached_captions(items, decoding, cache, model_id)
            continue
        model, processor = load_system(kind, config.model, source)  # type: ignore[arg-type]
        captions[name], failed = caption_images(model, processor, items, decoding, cache, model_id,
                                                config.eval.batch_size, label=f"captioning ({name})")
        problems.extend(f"{name}: {p}" for p in failed)
        del model, processor  # one model in memory at a time
        _free_memory()
    return captions


def _free_memory() -> None:
    """Release a model just dropped, so the next one fits."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _add_judge_scores(config: PipelineConfig, systems: dict[str, Any], scored: list[EvalImage],
                      language: str | None, out: Path, problems: list[str]) -> None:
    """Judge every system's captions; a stop (no key, budget, quota) is reported, not fatal."""
    from vlcultura.data.ledger import StopRun
    from vlcultura.eval.judge import JudgeItem, judge_captions, png_bytes

    ev = config.eval
    local = _load_local_judge(config) if ev.judge_backend == "local" else None
    pngs = {i.id: png_bytes(i.images[0]) if i.images else None for i in scored} if local is None else {}
    for name, scores in systems.items():
        items = [JudgeItem(i.id, cap, i.references, pngs.get(i.id), i.meta.country, i.meta.variety, i.meta.labels)
                 for i, cap in zip(scored, scores.predictions)]
        if local is not None:
            from vlcultura.eval.local_judge import local_judge

            result = local_judge(items, {i.id: i.images[0] for i in scored if i.images}, ev.judge_mode, language,
                                 *local, out / "captions", ev.batch_size)
            scores.notes.append(f"judge: local {ev.judge_model} (reads JSON or `name: number` answers)")
        else:
            try:
                result = judge_captions(items, ev.judge_mode, language, config.judge, config.generate.cohere,
                                        ev.judge_ledger_path or out / "judge_ledger.sqlite", ev.judge_budget_usd)
            except StopRun as err:
                problems.append(f"{name}: judge stopped ({err}); paid answers are kept in the ledger, "
                                "run again to resume")
                continue
            scores.notes.append(f"judge: Cohere {config.generate.cohere.judge_model or config.generate.cohere.model}, "
                                f"spent {result.spent_usd:.4f} USD this run")
        scores.metrics.update({m.name: m for m in result.metrics})
        problems.extend(f"{name}: {p}" for p in result.problems)
    del local
    _free_memory()


def _load_local_judge(config: PipelineConfig) -> tuple[Any, Any, str]:
    """(model, processor, fingerprint) of the local judge VLM."""
    from vlcultura.eval.systems import load_system, system_id

    if not config.eval.judge_model:
        raise EvalDataError("eval.judge_backend: local needs eval.judge_model (a VLM folder or Hub id)")
    model, processor = load_system("model", config.model, config.eval.judge_model)
    return model, processor, system_id("model", config.model, config.eval.judge_model)


def evaluate(config: PipelineConfig) -> EvalRun:
    """Caption, score (lexical, chrF++, METEOR, cultural), bootstrap and write the report."""
    ev = config.eval
    dataset = ev.dataset or config.train.dataset
    if not dataset:
        raise EvalDataError("set eval.dataset (or train.dataset) to the exported KTO dataset folder")
    out = Path(ev.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    dump_config(config, out / "config.yaml")
    items, problems = load_eval_images(dataset, ev.split, ev.max_images)
    language = _language(items)
    tokenizer = resolve_tokenizer(ev.tokenizer, language)
    if tokenizer == "coco" and not java_available():  # say so before any captioning
        raise TokenizerUnavailable("eval.tokenizer resolves to coco (the images have no es/pt variety), which "
                                   "needs Java: install a Java runtime or set eval.tokenizer: es|pt")
    decoding = Decoding(ev.max_new_tokens, ev.num_beams, ev.do_sample, ev.temperature, ev.repetition_penalty, ev.seed)
    to_caption = _systems(config)
    tuned = next(((kind, source) for name, kind, source in to_caption if name == "tuned"), None)
    captions = _caption(config, to_caption, items, out, decoding, problems)
    scored = [i for i in items if all(i.id in c for c in captions.values())]
    if not scored:
        raise EvalDataError("no image was captioned by every system: see the reasons above")
    idf = _idf(config, dataset, len(scored), tokenizer)
    ids = [i.id for i in scored]
    refs = [i.references for i in scored]
    metas = [i.meta for i in scored]
    systems = {name: score_system(ids, [c[i] for i in ids], refs, tokenizer, metas, language, idf, ev.meteor)
               for name, c in captions.items()}
    if ev.judge:
        _add_judge_scores(config, systems, scored, language, out, problems)
    countries = [m.country for m in metas]
    varieties = [m.variety for m in metas]
    info = {"dataset": str(dataset), "split": ev.split, "base model": config.model.name_or_path,
            "tuned": f"{tuned[0]}: {tuned[1]}" if tuned else "none",
            "tokenizer": tokenizer, "decoding": json.dumps(asdict(decoding)),
            "prompts": "the training prompts of each image's rows"}
    summary = summarize(systems, countries, varieties, ev.bootstrap_samples, ev.seed, info=info)
    summary["problems"] = problems
    tuned_source = tuned[1] if tuned else None
    headline = "tuned" if "tuned" in systems else next(iter(systems))
    model_name = Path(tuned_source).name if tuned_source else config.model.name_or_path
    entry = model_index(summary, model_name, Path(dataset).name, str(dataset), system=headline, split=ev.split)
    files = write_report(summary, per_image_rows(systems, refs, countries, varieties), out,
                         images={i.id: i.images[0] for i in scored if i.images}, gallery_size=ev.gallery_size,
                         model_index_entry=entry)
    return EvalRun(out, summary, files, problems)
