"""The judge: rubric scores per candidate, then a keep/drop decision with a recorded reason.

Two backends. `cohere`: a vision model sees the image and the description, answers the rubric
(`judge_rubric`) as schema-checked JSON at temperature 0 with a fixed seed; every call goes through
the generation stage's ledger (paid once, budgeted, resumable), and an unparsable answer is asked
again up to `parse_retries` times. `rules`: offline, deterministic heuristics from the rule filters
and the cultural lexicon, labelled `rules` everywhere; it never pretends to be a language model
and leaves `hallucination` unscored unless a date-like claim gives it away.

Decision: a desirable row is kept when its mean score reaches `min_desirable_score`; an
undesirable row is kept when it scores at most `max_undesirable_score` on the criterion of its
type (a `generic` negative must be unspecific...), i.e. it is confirmed worse in its intended way.
"""
from __future__ import annotations

import asyncio
import hashlib
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlcultura.config import CohereConfig, JudgeConfig, secrets_from_env
from vlcultura.cultures import COUNTRIES, VARIETIES, fold, language_of, normalize_variety
from vlcultura.data.filters import detect_language, variety_conflicts, variety_markers, variety_markers_of
from vlcultura.data.judge_rubric import CRITERIA, INTENDED_CRITERION, judge_schema, rubric_messages
from vlcultura.data.report import StageReport

_STEREOTYPE = ("exótic", "exotic", "primitiv", "misterios", "salvaje", "selvagem", "nativos",
               "siempre fiester", "perezos", "preguiços", "país pobre", "país pobre", "ancestrales",
               "como hace siglos", "gente sencilla", "gente simples")
_REGISTER = ("pintoresc", "pitoresc", "turista", "viajero", "viajante", "comidita", "simpátic",
             "encantador", "paraíso", "imperdible", "imperdível", "descubr", "magia", "experiencia única",
             "experiência única", "inolvidable", "inesquecível", "pobrecit", "coitad", "muy simple",
             "¡qué", "que lindo")
_GENERIC = ("común", "comum", "normal", "cualquier", "qualquer", "algún tipo de", "algum tipo de",
            "parece un", "parece uma", "parece um", "un alimento", "um alimento", "una fiesta", "una cosa",
            "un objeto", "sobre un fondo")
# Colloquial Peninsular words (beyond each variety's `avoid` list; "es" applies to American
# Spanish, "pt" to Brazilian Portuguese) and English slipped into the text: the usual shapes of
# a wrong-variety rewrite.
_OTHER_SIDE = {"es": ("tío", "mola", "mogollón", "guay", "chaval", "vale,", "vosotros"),
               "pt": ("giro", "pá", "cá", "vê-se", "miúdo", "fixe", "estás a")}
_ENGLISH = ("nice", "cool", "awesome", "the", "really", "very")
# Markers of one variety that are ordinary words elsewhere: never evidence of a wrong variety.
_AMBIGUOUS = frozenset({"once", "padre", "po", "pata", "causa", "luego", "api", "bo", "pana", "mate",
                        "completo", "tinto", "factura", "vale", "legal", "trem", "chela", "vos", "nde",
                        "arepa", "bacán", "chévere", "elote", "mandado", "masitas", "salteña"})


def other_variety_markers(text: str, tag: str | None) -> list[str]:
    """Distinctive markers of other varieties of the same language found in `text`."""
    if tag is None:
        return []
    own = set(VARIETIES[tag].markers)
    words = {w for t, v in VARIETIES.items() if t != tag and v.language == VARIETIES[tag].language
             for w in v.markers if w not in own and w not in _AMBIGUOUS}
    return variety_markers_of(text, tuple(sorted(words)))


_DATE = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})\b|\bsiglo\s+[xvi]+\b|\bséculo\s+[xvi]+\b", re.IGNORECASE)


_DEMONYM_ENDINGS = "(?:a|o|as|os|no|na|nos|nas|ano|ana|anos|anas|eno|ena|enos|enas|eño|eña|eiro|eira)?"


def _country_word(name: str) -> re.Pattern[str]:
    """The country's name or a demonym built on it (paraguayas, chileno, mexicana), as a word."""
    full = fold(name)
    stems = [re.escape(full)]
    if full[-1] in "aeiou" and len(full) > 4:
        stems.append(re.escape(full[:-1]))
    return re.compile(rf"(?<!\w)(?:{'|'.join(stems)}){_DEMONYM_ENDINGS}(?!\w)")


_COUNTRY_WORDS = {iso: _country_word(name) for iso, name in COUNTRIES.items()}


class NoLedgerError(ValueError):
    """A paid judge run without the ledger that enforces the budget and makes it resumable."""


@dataclass
class Verdict:
    """Scores (1-5, None when not assessed) and reasons for one row, and who gave them."""

    scores: dict[str, float | None]
    reasons: dict[str, str]
    backend: str
    model: str | None = None
    ledger_key: str | None = None
    error: str | None = None


@dataclass
class JudgeRun:
    """Backend choice and the per-row verdicts of one judging pass."""

    backend: str
    verdicts: list[Verdict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    spent_usd: float = 0.0


def _words_in(text: str, words: tuple[str, ...]) -> list[str]:
    """Which of `words` occur as whole words (punctuation in an entry must match too)."""
    lower = text.lower()
    return [w for w in words if re.search(rf"(?<!\w){re.escape(w)}(?!\w)", lower)]


def _hits(text: str, words: tuple[str, ...]) -> list[str]:
    lower = text.lower()
    return [w for w in words if w in lower]


def rules_verdict(row: dict[str, Any]) -> Verdict:
    """Deterministic heuristic scores from the lexicon and the rule filters (no model involved)."""
    text = row["completion"]
    folded = fold(text)
    tag = normalize_variety(row.get("variety"))
    scores: dict[str, float | None] = {}
    reasons: dict[str, str] = {}

    gold = [g for g in (row.get("labels") or []) if fold(g) in folded]
    others = [name for iso, name in COUNTRIES.items()
              if iso != row.get("country") and _COUNTRY_WORDS[iso].search(folded)]
    scores["cultural_accuracy"] = 1 if others else (5 if gold else 3)
    reasons["cultural_accuracy"] = (f"names another country: {', '.join(others)}" if others else
                                    f"names the gold label(s): {', '.join(gold)}" if gold else
                                    "gold label not named; no other country named")

    markers = variety_markers(text, tag)
    generic = _hits(text, _GENERIC)
    scores["specificity"] = 1 if generic and not gold else (5 if gold else (4 if markers else 3))
    reasons["specificity"] = (f"generic wording: {', '.join(generic)}" if generic and not gold else
                              "local name present" if gold else "no local name")

    expected = language_of(tag) if tag else None
    other_side = _OTHER_SIDE["pt"] if tag == "pt-BR" else (
        _OTHER_SIDE["es"] if expected == "es" and tag != "es-ES" else ())
    conflicts = (variety_conflicts(text, tag) + _words_in(text, _ENGLISH + other_side)
                 + other_variety_markers(text, tag))
    found = detect_language(text)
    wrong_language = expected in ("es", "pt") and found is not None and found != expected
    scores["variety_fidelity"] = 1 if wrong_language else (2 if conflicts else min(5, 3 + len(markers)))
    reasons["variety_fidelity"] = (f"reads as {found}, expected {expected}" if wrong_language else
                                   f"other-variety words: {', '.join(conflicts)}" if conflicts else
                                   f"{tag} markers: {', '.join(markers) or 'none'}")

    dates = _DATE.findall(text)
    scores["hallucination"] = 2 if dates else None
    reasons["hallucination"] = ("date-like claim that a photo cannot show" if dates else
                                "not assessable by rules (needs the image)")

    stereo, register = _hits(text, _STEREOTYPE), _hits(text, _REGISTER)
    scores["respect"] = 1 if stereo else (2 if register else 5)
    reasons["respect"] = (f"stereotyping words: {', '.join(stereo)}" if stereo else
                          f"tourist/condescending tone: {', '.join(register)}" if register else "no marker found")
    return Verdict(scores, reasons, backend="rules")


def mean_score(verdict: Verdict) -> float | None:
    vals = [v for v in verdict.scores.values() if v is not None]
    return round(statistics.mean(vals), 3) if vals else None


def decide(row: dict[str, Any], verdict: Verdict, config: JudgeConfig) -> tuple[str, str | None, str]:
    """(verdict code, drop reason or None, detail)."""
    if verdict.error:
        return "error", "judge_error", verdict.error
    if row["label"]:
        mean = mean_score(verdict)
        if mean is not None and mean < config.min_desirable_score:
            weakest = min((v, c) for c, v in verdict.scores.items() if v is not None)
            return ("weak_desirable", "weak_desirable",
                    f"mean {mean} < {config.min_desirable_score}; weakest {weakest[1]}={weakest[0]}: "
                    f"{verdict.reasons.get(weakest[1], '')}")
        return "strong_desirable", None, f"mean {mean}"
    criterion = INTENDED_CRITERION.get(row.get("negative_type") or "")
    if criterion is None:
        return "untyped_negative", None, "no negative type: nothing to confirm"
    score = verdict.scores.get(criterion)
    if score is None:
        return "unverified_negative", None, f"{criterion} not assessed by the {verdict.backend} judge"
    if score > config.max_undesirable_score:
        return ("unconfirmed_negative", "negative_not_confirmed",
                f"{row.get('negative_type')} row scores {criterion}={score} > {config.max_undesirable_score}: "
                f"{verdict.reasons.get(criterion, '')}")
    return "confirmed_negative", None, f"{criterion}={score}"


def choose_backend(config: JudgeConfig) -> str:
    """`auto`: cohere when a key is in the environment, else rules."""
    if config.backend != "auto":
        return config.backend
    return "cohere" if secrets_from_env().cohere_api_key else "rules"


def cohere_verdicts(rows: list[dict[str, Any]], image_of: Callable[[int], bytes], config: JudgeConfig,
                    cohere_config: CohereConfig, ledger_path: str | Path, budget_usd: float) -> JudgeRun:
    """Rubric verdicts from Cohere's vision model: the one paid rubric path of the project.

    The data stage's judge (`judge_dataset`) and the evaluation's rubric judge
    (`vlcultura.eval.judge`) both call this, so they share the ledger keys, retries and budget.
    `rows[i]` needs `completion` and, for the rubric's wording, `variety`, `country`, `labels`
    (`id` is recorded in the ledger); `image_of(i)` gives row i's metadata-free image bytes.
    One schema-checked call per row, paid once (a re-run reads the ledger); an unusable answer
    is asked again up to `config.parse_retries` times, then the row's verdict carries `error`.
    Budget, quota or key problems raise `StopRun` (paid answers stay in the ledger).
    """
    return asyncio.run(_cohere_verdicts(rows, image_of, config, cohere_config, Path(ledger_path), budget_usd))


async def _cohere_verdicts(rows: list[dict[str, Any]], image_of: Callable[[int], bytes], config: JudgeConfig,
                           cohere_config: CohereConfig, ledger_path: Path, budget_usd: float) -> JudgeRun:
    import cohere
    from rich.progress import Progress

    from vlcultura.data.generators.base import ItemError
    from vlcultura.data.generators.cohere import CohereChat, data_url
    from vlcultura.data.ledger import BilledInvalid, Ledger, MaybeBilled, StopRun, request_key

    model = cohere_config.judge_model or cohere_config.model
    chat = CohereChat.from_env(cohere_config)
    schema = judge_schema()
    run = JudgeRun("cohere")
    ledger = Ledger(ledger_path, budget_usd=budget_usd, prices=cohere_config.prices)
    before = ledger.committed_usd()

    async def one(row: dict[str, Any], image: bytes) -> Verdict:
        system, user = rubric_messages(row)
        try:
            url, size = data_url(image)
        except ItemError as err:
            return Verdict({}, {}, "cohere", model, error=f"{err}")
        key = request_key(backend="cohere", model=model, prompt_version=config.prompt_version,
                          image_sha256=hashlib.sha256(image).hexdigest(),
                          strategy=f"judge:{hashlib.sha256(user.encode()).hexdigest()[:16]}", seed=config.seed)
        messages = [cohere.SystemChatMessageV2(content=system), cohere.UserChatMessageV2(content=[
            cohere.TextContent(text=user),
            cohere.ImageUrlContent(image_url=cohere.ImageUrl(url=url, detail=cohere_config.image_detail))])]
        try:
            entry = await ledger.run(
                key, stage="judge", backend="cohere", model=model,
                estimate=chat.estimate([system, user], [size], schema, config.max_tokens),
                call=lambda: chat.complete(messages, schema, model=model, idempotency_key=key,
                                           max_tokens=config.max_tokens, seed=config.seed,
                                           temperature=config.temperature),
                billed_attempts=config.parse_retries + 1, meta={"row_id": row.get("id")})
        except StopRun:
            raise  # budget, quota or key: the whole run stops; paid answers stay in the ledger
        except (BilledInvalid, MaybeBilled, RuntimeError) as err:
            return Verdict({}, {}, "cohere", model, key, error=f"{type(err).__name__}: {err}")
        answer = entry.response
        return Verdict({c: float(answer[c]["score"]) for c in CRITERIA},
                       {c: str(answer[c]["reason"]) for c in CRITERIA}, "cohere", model, key)

    try:
        with Progress(transient=True) as progress:
            task = progress.add_task("judging", total=len(rows))

            window = asyncio.Semaphore(2 * cohere_config.concurrency)  # images in memory at once

            async def tracked(i: int) -> Verdict:
                async with window:
                    verdict = await one(rows[i], image_of(i))
                progress.advance(task)
                return verdict

            run.verdicts = list(await asyncio.gather(*(tracked(i) for i in range(len(rows)))))
    finally:
        run.spent_usd = round(ledger.committed_usd() - before, 6)
        ledger.close()
        await chat.aclose()
    return run


def _judge_columns(verdicts: list[Verdict], codes: list[str]) -> list[tuple[str, list[Any], Any]]:
    """The `judge_*` columns with fixed types (a column of all-None scores stays float)."""
    from datasets import Value

    score_type = {c: Value("float64") for c in CRITERIA}
    reason_type = {c: Value("string") for c in CRITERIA}
    return [
        ("judge_scores", [{c: v.scores.get(c) for c in CRITERIA} for v in verdicts], score_type),
        ("judge_reasons", [{c: v.reasons.get(c) for c in CRITERIA} for v in verdicts], reason_type),
        ("judge_mean", [mean_score(v) for v in verdicts], Value("float64")),
        ("judge_verdict", codes, Value("string")),
        ("judge_backend", [v.backend for v in verdicts], Value("string")),
        ("judge_model", [v.model for v in verdicts], Value("string")),
        ("judge_ledger_key", [v.ledger_key for v in verdicts], Value("string")),
    ]


def judge_dataset(dataset: Any, config: JudgeConfig, cohere_config: CohereConfig | None = None, *,
                  ledger_path: str | Path | None = None, budget_usd: float | None = None) -> tuple[Any, StageReport]:
    """Score every row, add `judge_*` columns, and drop what fails `decide` (with reasons).

    `budget_usd` caps the whole ledger (all stages); default: the judge's own budget.
    """
    from datasets import Image

    cohere_config = cohere_config or CohereConfig()
    backend = choose_backend(config)
    text_cols = [c for c in ("id", "completion", "label", "negative_type", "variety", "country", "labels")
                 if c in dataset.column_names]
    rows = list(dataset.select_columns(text_cols))
    report = StageReport(stage="judge", n_in=len(rows))
    if backend == "rules":
        run = JudgeRun("rules", [rules_verdict(r) for r in rows],
                       ["rules backend: deterministic heuristics from the lexicon and filters, not a "
                        "language model; hallucination is only scored when a date-like claim appears"])
    else:
        if ledger_path is None:
            raise NoLedgerError("the cohere judge pays through the generation stage's ledger, so one budget "
                                "covers both: pass --ledger <generate output>/ledger.sqlite (or set "
                                "judge.ledger_path in the recipe)")
        from vlcultura.data.images import stored_bytes

        raw = dataset.cast_column("image", Image(decode=False))
        run = cohere_verdicts(rows, lambda i: stored_bytes(raw[i]["image"]), config, cohere_config, ledger_path,
                              config.budget_usd if budget_usd is None else budget_usd)
    report.notes.extend(run.notes)
    keep: list[int] = []
    codes: list[str] = []
    for i, (row, verdict) in enumerate(zip(rows, run.verdicts)):
        code, reason, detail = decide(row, verdict, config)
        codes.append(code)
        if reason:
            report.drop(str(row.get("id", i)), reason, detail, label=row["label"])
        else:
            keep.append(i)
    judged = dataset
    for name, values, feature in _judge_columns(run.verdicts, codes):
        judged = judged.add_column(name, values, feature=feature)
    report.n_out = len(keep)
    report.stats.update(backend=run.backend, spent_usd=run.spent_usd,
                        verdicts={c: codes.count(c) for c in sorted(set(codes))})
    return judged.select(keep), report
