"""The generate stage: ingested images -> a candidates dataset of desirable and typed undesirable rows.

`generate(input_path, output_dir, config)` reads the ingest output (its folder or its `dataset/`:
ImageRecord columns + an `image` column), asks a backend for `desirable_per_image` descriptions per image, derives one
undesirable row per configured `NegativeType` (LLM rewrite or rule), and writes
`<output_dir>/candidates` (datasets, on disk) next to `<output_dir>/ledger.sqlite`.

Re-running is the resume: every paid answer is in the ledger under its idempotency key, so a run
killed at any point rebuilds all rows and pays only for what is missing. The dataset is written
once at the end, to a temporary folder renamed into place, so a kill never leaves a torn dataset.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlcultura.config import GenerateConfig, dump_config, secrets_from_env
from vlcultura.cultures import variety_for_country
from vlcultura.data.generators.base import Generated, Generator, ImageItem, ItemError, check_image
from vlcultura.data.generators.negatives import rule_negative
from vlcultura.data.ledger import BilledInvalid, Ledger, StopRun
from vlcultura.data.prompts import kto_prompt, load_prompts
from vlcultura.records import Candidate, ImageMeta, ImageRecord, NegativeType

_RECORD_FIELDS = tuple(ImageRecord.model_fields)


@dataclass
class GenerateResult:
    """What a run produced and why some images produced nothing."""

    dataset_path: Path
    ledger_path: Path
    backend: str
    rows: int = 0
    images_done: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)  # image id, reason, detail
    stopped: str | None = None  # why the run stopped early (budget, quota): re-run to continue
    spent_usd: float = 0.0


def choose_backend(config: GenerateConfig) -> str:
    """`auto` is cohere when a key is in the environment, else the offline template backend."""
    if config.backend != "auto":
        return config.backend
    return "cohere" if secrets_from_env().cohere_api_key else "template"


def make_generator(backend: str, config: GenerateConfig, ledger: Ledger) -> Generator:
    """The backend instance (imports lazily: the local one needs torch)."""
    if backend == "template":
        from vlcultura.data.generators.template import TemplateGenerator

        return TemplateGenerator(ledger, config.seed)
    if backend == "cohere":
        from vlcultura.data.generators.cohere import CohereChat, CohereGenerator

        return CohereGenerator(CohereChat.from_env(config.cohere), ledger, config.seed)
    if backend == "local":
        from vlcultura.data.generators.local import LocalGenerator

        return LocalGenerator(config, ledger)
    raise ValueError(f"unknown generation backend {backend!r}: use cohere, template, local or auto")


def _negative_types(config: GenerateConfig) -> list[NegativeType]:
    try:
        return [NegativeType(t) for t in config.negative_types]
    except ValueError as exc:
        known = ", ".join(t.value for t in NegativeType)
        raise ValueError(f"generate.negative_types: {exc}; known types: {known}") from None


def _candidate_id(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _row(item: ImageItem, prompt: str, text: str, got: Generated, gen: Generator, *, label: bool,
         strategy: str, negative: NegativeType | None) -> dict[str, Any]:
    rec = item.record
    cand = Candidate(**rec.model_dump(include=set(ImageMeta.model_fields)) | {
        "id": _candidate_id(got.ledger_key, strategy, text), "image_id": rec.id, "completion": text,
        "label": label, "negative_type": negative, "strategy": strategy, "backend": gen.name,
        "model": got.model, "prompt_version": item.prompt_version, "ledger_key": got.ledger_key})
    row = cand.model_dump(mode="json")
    row.update(prompt=prompt, image={"bytes": item.image_bytes, "path": None}, image_sha256=rec.sha256,
               width=rec.width, height=rec.height)
    return row


async def candidates_for(item: ImageItem, gen: Generator, config: GenerateConfig) -> list[dict[str, Any]]:
    """All rows of one image: desirable descriptions, then one undesirable row per type."""
    seed = f"{config.seed}:{item.record.sha256}"
    prompt = kto_prompt(item.prompts, seed)
    got = await gen.describe(item, config.desirable_per_image)
    desirable = [got.texts[str(i)].strip() for i in range(config.desirable_per_image)]
    if gen.on_policy:  # the model's own captions: labelled provisionally, no negatives derived
        from vlcultura.data.generators.local import provisional_label

        return [_row(item, prompt, t, got, gen, label=label, strategy=f"{gen.name}:on_policy", negative=neg)
                for t in desirable for label, neg in [provisional_label(item.record, t)]]
    rows = [_row(item, prompt, t, got, gen, label=True, strategy=gen.name, negative=None) for t in desirable]
    types = _negative_types(config)
    rewrite = config.negative_strategy == "rewrite" or (config.negative_strategy == "auto" and gen.paid)
    if types and rewrite:
        neg = await gen.rewrite(item, desirable[0], [t.value for t in types])
        rows += [_row(item, prompt, neg.texts[t.value].strip(), neg, gen, label=False,
                      strategy=f"rewrite:{t.value}", negative=t) for t in types]
    else:
        rows += [_row(item, prompt, rule_negative(item.prompts, item.record, desirable[0], t, seed), got, gen,
                      label=False, strategy=f"rule:{t.value}", negative=t) for t in types]
    return rows


def load_items(dataset: Any, config: GenerateConfig) -> Iterator[ImageItem | ItemError]:
    """ImageItems from the ingest dataset; a bad row yields an ItemError (with `.image_id`)."""
    from datasets import Image as ImageFeature

    from vlcultura.data.images import stored_bytes

    if "image" not in dataset.column_names:
        raise ValueError("the input dataset has no `image` column: give the output of `vlcultura ingest`")
    dataset = dataset.cast_column("image", ImageFeature(decode=False))
    for row in dataset:
        image_id = str(row.get("id") or row.get("original_name") or "?")
        try:
            record = ImageRecord.model_validate({k: row.get(k) for k in _RECORD_FIELDS if k in row})
            tag = record.variety or variety_for_country(record.country)
            if tag is None:
                raise ItemError("no_variety", "the image has neither a language variety nor a known "
                                "country; set `variety` in the manifest or ingest.default_variety")
            try:
                prompts = load_prompts(tag, config.prompts_dir)
            except (KeyError, ValueError) as exc:
                raise ItemError("no_prompts", str(exc).strip("'\"")) from None
            record = record.model_copy(update={"variety": prompts.tag})
            try:
                data = stored_bytes(row["image"])
            except ValueError as exc:
                raise ItemError("no_image", str(exc)) from None
            check_image(data)
            yield ImageItem(record, data, prompts, f"{config.prompt_version}-{prompts.digest}")
        except ItemError as exc:
            exc.image_id = image_id  # type: ignore[attr-defined]
            yield exc
        except ValueError as exc:  # pydantic ValidationError is a ValueError
            err = ItemError("bad_record", f"{str(exc).splitlines()[0]}; re-run ingest")
            err.image_id = image_id  # type: ignore[attr-defined]
            yield err


def _features() -> Any:
    from datasets import Features, Image, Sequence, Value

    s = Value("string")
    return Features({
        "country": s, "variety": s, "topic": s, "labels": Sequence(s), "license": s, "attribution": s,
        "source": s, "id": s, "image_id": s, "completion": s, "label": Value("bool"), "negative_type": s,
        "strategy": s, "backend": s, "model": s, "prompt_version": s, "ledger_key": s, "prompt": s,
        "image": Image(), "image_sha256": s, "width": Value("int32"), "height": Value("int32")})


def write_dataset(rows: list[dict[str, Any]], path: Path) -> None:
    """Write atomically enough: a temporary folder, then swapped in (a kill leaves the old or new)."""
    from datasets import Dataset

    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    features = _features()
    columns = {name: [row[name] for row in rows] for name in features}  # also right when empty
    Dataset.from_dict(columns, features=features).save_to_disk(str(tmp))
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)


@contextmanager
def _exclusive(out: Path) -> Iterator[None]:
    """One generate process per output folder (a second one would pay for the same keys)."""
    import fcntl

    with open(out / ".generate.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StopRun(f"another `vlcultura generate` is writing to {out}: wait for it, or use "
                          "another --out") from None
        yield  # the lock goes with the file: also when the process is killed


@contextmanager
def _progress(total: int, ledger: Ledger, budget: float, enabled: bool) -> Iterator[Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = [TextColumn("generate"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.fields[spend]}")]
    with Progress(*columns, disable=not enabled, transient=False) as progress:
        task = progress.add_task("generate", total=total, spend="")

        def advance() -> None:
            progress.update(task, advance=1, spend=f"${ledger.committed_usd():.4f} / ${budget:.2f}")

        yield advance


async def _run(items: list[ImageItem], gen: Generator, config: GenerateConfig, result: GenerateResult,
               advance: Any, workers: int) -> list[list[dict[str, Any]]]:
    """Process images with `workers` concurrent workers. A StopRun (budget, quota, key) stops
    taking new images but lets requests already in flight finish, so nothing reserved is wasted."""
    out: list[list[dict[str, Any]]] = [[] for _ in items]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(items)):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty() and not result.stopped:
            i = queue.get_nowait()
            try:
                out[i] = await candidates_for(items[i], gen, config)
                result.images_done += 1
            except ItemError as exc:
                result.errors.append({"image_id": items[i].record.id, "reason": exc.reason, "detail": exc.detail})
            except StopRun as exc:
                result.stopped = result.stopped or str(exc)
            except BilledInvalid as exc:  # every paid try answered off the schema
                result.errors.append({"image_id": items[i].record.id, "reason": "invalid_answer",
                                      "detail": f"the model's answers did not fit the expected JSON ({exc}); "
                                                "they are paid and kept in the ledger: re-run to ask again, or "
                                                "raise generate.cohere.invalid_answer_retries"})
            except Exception as exc:  # one image's failure never takes the run down
                result.errors.append({"image_id": items[i].record.id, "reason": "request_failed",
                                      "detail": f"{exc} (re-run to retry; paid answers are kept)"})
            advance()

    await asyncio.gather(*(worker() for _ in range(max(1, min(workers, len(items))))))
    return out


def generate(input_path: str | Path, output_dir: str | Path, config: GenerateConfig | None = None, *,
             progress: bool = True, log: Any = print) -> GenerateResult:
    """Run the stage (see the module docstring); returns counts, errors and spend."""
    from vlcultura.data.ingest import load_images

    config = config or GenerateConfig()
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    backend = choose_backend(config)
    if config.backend == "auto" and backend == "template":
        log("no Cohere key (CO_API_KEY) set: using the offline `template` backend (descriptions from metadata)")
    ledger_path = Path(config.ledger_path) if config.ledger_path else out / "ledger.sqlite"
    result = GenerateResult(out / "candidates", ledger_path, backend)
    dump_config(config, out / "generate_config.yaml")
    loaded = list(load_items(load_images(input_path), config))
    items = [x for x in loaded if isinstance(x, ImageItem)]
    result.errors += [{"image_id": e.image_id, "reason": e.reason, "detail": e.detail}  # type: ignore[attr-defined]
                      for e in loaded if isinstance(e, ItemError)]
    with _exclusive(out), \
            Ledger(ledger_path, budget_usd=config.budget_usd, prices=config.cohere.prices) as ledger:
        gen = make_generator(backend, config, ledger)
        if config.negative_strategy == "rewrite" and not gen.paid:
            raise ValueError(f"generate.negative_strategy: rewrite needs an LLM backend (cohere), not "
                             f"{backend}; use `rule` or `auto`")
        workers = config.cohere.concurrency if backend == "cohere" else max(1, config.local_batch_size)

        async def main() -> list[list[dict[str, Any]]]:
            try:
                return await _run(items, gen, config, result, advance, workers)
            finally:
                await gen.aclose()

        with _progress(len(items), ledger, config.budget_usd, progress) as advance:
            per_item = asyncio.run(main())
        result.spent_usd = ledger.committed_usd()
    rows = [row for item_rows in per_item for row in item_rows]
    write_dataset(rows, result.dataset_path)
    result.rows = len(rows)
    (out / "generate_errors.jsonl").write_text(
        "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in result.errors), encoding="utf-8")
    for err in result.errors:
        log(f"image {err['image_id']}: {err['reason']}: {err['detail']}")
    if result.stopped:
        log(f"stopped early: {result.stopped}")
    return result
