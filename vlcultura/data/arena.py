"""The Arena preference data (`somosnlp-hackathon-2025/dataset-preferencias-dpo-v0`).

Two published column schemas exist (challenge.md): the raw one (`system_message`,
`user_message`, `accepted_response`, `rejected_response`, `tie`, `both_bad`, `country`...) and a
later export (`country`, `system_prompt`, `question`, `chosen`, `rejected`). Both load through one
canonical mapping (or a user's explicit mapping); ties and both-bad votes are dropped, malformed
rows are dropped with a reason, countries map to language varieties, the chosen-longer length
bias is measured, and the pairs become unpaired, text-only KTO rows plus country x topic seeds
for new image-grounded prompts. Voter usernames are never carried forward.
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from vlcultura.cultures import fold, normalize_country, variety_for_country
from vlcultura.data.report import StageReport

ARENA_HUB_ID = "somosnlp-hackathon-2025/dataset-preferencias-dpo-v0"
CANONICAL = ("system", "question", "chosen", "rejected", "country", "tie", "both_bad",
             "chosen_model", "rejected_model")
SCHEMAS: dict[str, dict[str, str]] = {
    "raw": {"system_message": "system", "user_message": "question", "accepted_response": "chosen",
            "rejected_response": "rejected", "accepted_model": "chosen_model",
            "rejected_model": "rejected_model", "tie": "tie", "both_bad": "both_bad",
            "country": "country"},
    "export": {"system_prompt": "system", "question": "question", "chosen": "chosen",
               "rejected": "rejected", "country": "country"},
}
_REQUIRED = ("question", "chosen", "rejected")
TOPIC_KEYWORDS: dict[str, tuple[str, ...]] = {
    "comida": ("comida", "plato", "receta", "comer", "se come", "asado", "desayuno", "almuerzo", "cena", "bebida",
               "postre", "cocina", "ingrediente", "gastronomia", "pan", "fruta"),
    "musica": ("musica", "cancion", "baile", "bailar", "instrumento", "ritmo", "cantante"),
    "fiestas": ("fiesta", "celebra", "navidad", "carnaval", "festival", "feria", "semana santa",
                "muertos", "tradicion", "festividad", "independencia"),
    "deporte": ("deporte", "futbol", "equipo", "partido", "jugar", "atleta", "mundial"),
    "religion": ("religion", "iglesia", "santo", "virgen", "dios", "misa", "fe "),
    "vestimenta": ("ropa", "vestimenta", "traje", "vestido", "poncho", "sombrero", "pollera"),
    "familia": ("familia", "madre", "padre", "abuel", "hijos", "boda", "matrimonio"),
    "educacion": ("escuela", "colegio", "universidad", "educacion", "estudiar", "profesor"),
    "trabajo": ("trabajo", "empleo", "oficina", "sueldo", "jefe", "laburo", "chamba"),
    "transporte": ("transporte", "bus", "autobus", "colectivo", "metro", "taxi", "tren"),
    "arquitectura": ("edificio", "casa", "arquitectura", "catedral", "plaza", "monumento"),
    "paisaje": ("paisaje", "montana", "playa", "rio", "selva", "volcan", "lago"),
    "artesania": ("artesania", "tejido", "ceramica", "artesano", "textil"),
    "mercado": ("mercado", "tienda", "comprar", "vender", "feria libre"),
}


class ArenaError(ValueError):
    """The Arena source cannot be read or mapped (the message says what to do)."""


def _read_file(path: Path) -> list[dict[str, Any]]:
    """Rows of a local file, values as written (no type coercion, so bad rows stay visible)."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    if suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))
    if suffix in (".json", ".jsonl"):
        text = path.read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except json.JSONDecodeError:  # JSON Lines
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
        if isinstance(data, dict):  # {"train": [...]} or a column-oriented table
            data = data.get("train") or data.get("rows") or [dict(zip(data, v)) for v in zip(*data.values())]
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise ArenaError(f"{path}: expected a list of row objects")
        return data
    raise ArenaError(f"{path}: unsupported file type {path.suffix!r}; use Parquet, CSV or JSON(L)")


def _read_source(source: str, split: str) -> list[dict[str, Any]]:
    """Rows from a local Parquet/CSV/JSON(L) file or a Hub dataset id."""
    path = Path(source)
    if path.exists():
        try:
            return _read_file(path)
        except ArenaError:
            raise
        except Exception as err:  # parsers raise many types; the user needs the file name
            raise ArenaError(f"{source}: could not be read ({type(err).__name__}: {err})") from err
    if source.count("/") != 1 or source.startswith((".", "/")):
        raise ArenaError(f"{source}: no such file, and not a Hub dataset id (owner/name)")
    import datasets

    try:
        return list(datasets.load_dataset(source, split=split))
    except Exception as err:
        raise ArenaError(f"could not load {source!r} from the Hugging Face Hub ({type(err).__name__}: "
                         f"{err}). Offline? Download it once elsewhere and pass the Parquet/CSV/JSON "
                         "file with --source.") from err


def resolve_mapping(columns: list[str], mapping: dict[str, str] | None = None) -> tuple[str, dict[str, str]]:
    """(schema name, source column -> canonical field) for these columns.

    An explicit `mapping` (source -> canonical) wins; otherwise the known schema whose required
    columns are all present is used.
    """
    if mapping:
        unknown = sorted(set(mapping.values()) - set(CANONICAL))
        missing = sorted(set(mapping) - set(columns))
        if unknown or missing:
            raise ArenaError(f"bad column mapping: unknown targets {unknown} (allowed: {list(CANONICAL)}), "
                             f"columns not in the data {missing} (data has: {columns})")
        return "custom", dict(mapping)
    for name, schema in SCHEMAS.items():
        present = {src: dst for src, dst in schema.items() if src in columns}
        if set(_REQUIRED) <= set(present.values()):
            return name, present
    raise ArenaError(f"columns {columns} match neither Arena schema (raw: {sorted(SCHEMAS['raw'])}; "
                     f"export: {sorted(SCHEMAS['export'])}); pass an explicit mapping, e.g. "
                     "--column-map pregunta=question --column-map elegida=chosen")


def _as_bool(value: Any) -> bool | None:
    """Votes arrive as bools, 0/1 or strings; None when the value means nothing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "si", "sí", "t"):
        return True
    if text in ("false", "0", "no", "f", ""):
        return False
    return None


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def detect_topic(question: str) -> str:
    """The first topic whose keywords occur in the question ('otro' when none)."""
    folded = fold(question)
    for topic, keys in TOPIC_KEYWORDS.items():
        if any(k in folded for k in keys):
            return topic
    return "otro"


def clean_pairs(rows: list[dict[str, Any]], mapping: dict[str, str],
                report: StageReport) -> list[dict[str, Any]]:
    """Canonical pairs that are clear preferences; every other row is a recorded drop."""
    canon_fields = set(mapping.values())
    if not {"tie", "both_bad"} <= canon_fields:
        report.notes.append("this schema has no tie/both_bad columns: every row is taken as a clear "
                            "preference (the raw schema lets ties and both-bad votes be dropped)")
    pairs = []
    for i, row in enumerate(rows):
        rec = {dst: row.get(src) for src, dst in mapping.items()}
        rid = f"arena-{i}"
        tie, both_bad = _as_bool(rec.get("tie")), _as_bool(rec.get("both_bad"))
        question, chosen, rejected = (_text(rec.get(k)) for k in _REQUIRED)
        missing = [k for k, v in (("question", question), ("chosen", chosen), ("rejected", rejected)) if not v]
        if tie is None or both_bad is None:
            report.drop(rid, "malformed_vote", f"tie={rec.get('tie')!r}, both_bad={rec.get('both_bad')!r}")
        elif tie:
            report.drop(rid, "tie", "the voter found both answers equally good")
        elif both_bad:
            report.drop(rid, "both_bad", "the voter rejected both answers")
        elif missing:
            report.drop(rid, "malformed_row", f"missing or non-text {', '.join(missing)}")
        elif fold(chosen) == fold(rejected):
            report.drop(rid, "identical_answers", "chosen and rejected are the same text")
        else:
            iso = normalize_country(_text(rec.get("country")))
            pairs.append({"pair_id": rid, "system": _text(rec.get("system")), "question": question,
                          "chosen": chosen, "rejected": rejected, "country": iso,
                          "country_raw": _text(rec.get("country")) or None,
                          "variety": variety_for_country(iso), "topic": detect_topic(question),
                          "chosen_model": _text(rec.get("chosen_model")) or None,
                          "rejected_model": _text(rec.get("rejected_model")) or None})
    return pairs


def length_bias(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    """How much longer chosen answers are than rejected ones (in words), overall and per country."""
    def summary(ps: list[dict[str, Any]]) -> dict[str, float]:
        c = [len(p["chosen"].split()) for p in ps]
        r = [len(p["rejected"].split()) for p in ps]
        mean_c, mean_r = sum(c) / len(c), sum(r) / len(r)
        return {"n": len(ps), "mean_words_chosen": round(mean_c, 1), "mean_words_rejected": round(mean_r, 1),
                "chosen_over_rejected": round(mean_c / mean_r, 3) if mean_r else float("inf"),
                "share_chosen_longer": round(sum(a > b for a, b in zip(c, r)) / len(ps), 3)}
    if not pairs:
        return {}
    by_country: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for p in pairs:
        by_country[p["country"] or "unknown"].append(p)
    return {"overall": summary(pairs), "by_country": {k: summary(v) for k, v in sorted(by_country.items())}}


def _conversation(role: str, text: str) -> dict[str, Any]:
    return {"role": role, "content": [{"type": "text", "text": text}]}


def to_kto_rows(pairs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two unpaired, text-only KTO rows per pair, in the export's conversational format."""
    rows = []
    for p in pairs:
        prompt = ([_conversation("system", p["system"])] if p["system"] else []) + [_conversation("user", p["question"])]
        for label, key in ((True, "chosen"), (False, "rejected")):
            text = p[key]
            rows.append({
                "id": hashlib.sha256(f"{p['pair_id']}|{key}|{text}".encode()).hexdigest()[:16],
                "prompt": prompt, "completion": [_conversation("assistant", text)], "label": label,
                "country": p["country"], "variety": p["variety"], "topic": p["topic"],
                "source": "arena", "pair_id": p["pair_id"], "model": p[f"{key}_model"],
            })
    return rows


def seeds(pairs: list[dict[str, Any]], examples: int = 3) -> list[dict[str, Any]]:
    """Country x topic cells with counts and example questions: what to photograph and ask next."""
    cells: dict[tuple[str, str], list[str]] = defaultdict(list)
    for p in pairs:
        cells[(p["country"] or "unknown", p["topic"])].append(p["question"])
    return [{"country": c, "variety": variety_for_country(c), "topic": t, "n": len(qs),
             "examples": qs[:examples]} for (c, t), qs in sorted(cells.items())]


def convert_arena(source: str, out_dir: str | Path, column_map: dict[str, str] | None = None,
                  split: str = "train") -> StageReport:
    """Load, clean and convert the Arena data; write `kto/` (dataset + Parquet), seeds, report."""
    import datasets

    rows = _read_source(source, split)
    columns = sorted({k for r in rows for k in r})
    schema, mapping = resolve_mapping(columns, column_map)
    report = StageReport(stage="arena", n_in=len(rows))
    report.stats.update(source=source, schema=schema, mapping=mapping)
    pairs = clean_pairs(rows, mapping, report)
    report.n_out = len(pairs)
    report.stats["clear_preference_share"] = round(len(pairs) / len(rows), 3) if rows else 0.0
    report.stats["pairs_by_country"] = dict(Counter(p["country"] or "unknown" for p in pairs).most_common())
    unknown = Counter(p["country_raw"] for p in pairs if p["country"] is None)
    if unknown:
        report.notes.append(f"countries not recognised (kept, no variety): {dict(unknown)}")
    report.stats["length_bias"] = length_bias(pairs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    kto = datasets.Dataset.from_list(to_kto_rows(pairs)) if pairs else None
    if kto is not None:
        kto.save_to_disk(str(out / "kto"))
        kto.to_parquet(str(out / "arena_kto.parquet"))
    seed_rows = seeds(pairs)
    (out / "seeds.jsonl").write_text("".join(json.dumps(s, ensure_ascii=False) + "\n" for s in seed_rows),
                                     encoding="utf-8")
    report.stats["n_kto_rows"] = 0 if kto is None else len(kto)
    report.stats["n_seed_cells"] = len(seed_rows)
    report.write(out / "arena_report.json")
    return report
