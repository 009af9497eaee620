"""Arena preference rows in both published schemas, with ties, both-bad votes and bad rows."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

# (country, system, question, chosen, rejected, tie, both_bad)
VOTES: list[tuple[Any, ...]] = [
    ("Argentina", "Respondé como un argentino nativo.", "¿Qué se come en un asado de domingo?",
     "Che, en un asado de domingo no pueden faltar el vacío, las achuras, el chori para arrancar y una buena "
     "ensalada mixta; todo regado con un tinto y charlando alrededor de la parrilla.",
     "Se come carne asada.", False, False),
    ("México", "Responde como un mexicano nativo.", "¿Cómo se celebra el Día de Muertos en tu familia?",
     "Ponemos la ofrenda con cempasúchil, pan de muerto, veladoras y la comida favorita de los abuelitos; en la "
     "noche vamos al panteón a acompañarlos.",
     "Es una fiesta de disfraces parecida a Halloween.", False, False),
    ("España", "Responde como un español nativo.", "¿Qué música se escucha en las fiestas del pueblo?",
     "Pues en las verbenas del pueblo suena de todo: pasodobles para los mayores, la orquesta con éxitos de "
     "siempre y, ya de madrugada, reguetón para los chavales.",
     "Se escucha música.", "false", "0"),
    ("Colombia", "Responde como un colombiano nativo.", "¿Cuál es un desayuno típico?",
     "Un buen calentado paisa con arepa, huevo y chocolate.",
     "Un calentado con arepa y chocolate, parcero.", True, False),
    ("Chile", "Responde como un chileno nativo.", "¿Qué es la once?",
     "La once es una comida.", "Es un número.", False, True),
    ("Perú", "Responde como un peruano nativo.", "¿Qué deporte se juega más en tu barrio?",
     "El fulbito en la losa del barrio, pata, todas las tardes después de la chamba.",
     "", False, False),
    ("Venezuela", "Responde como un venezolano nativo.", "¿Qué se come en Navidad?",
     "Hallacas, pan de jamón, ensalada de gallina y dulce de lechosa, chamo.",
     "Hallacas, pan de jamón, ensalada de gallina y dulce de lechosa, chamo.", False, False),
    ("Ecuador", "Responde como un ecuatoriano nativo.", "¿Qué es la fanesca?",
     "La fanesca es la sopa de Semana Santa, con doce granos tiernos y bacalao.",
     "Una crema de verduras.", "quizás", False),
    ("Atlántida", "Responde como un atlante.", "¿Qué se come en tu ciudad?",
     "Pescado fresco con algas del arrecife y pan de trigo marino.",
     "Comida.", 0, 0),
]
SCHEMA_RAW = ("country", "system_message", "user_message", "accepted_response", "rejected_response",
              "tie", "both_bad")
SCHEMA_EXPORT = ("country", "system_prompt", "question", "chosen", "rejected")


def rows(schema: str) -> list[dict[str, Any]]:
    """The votes as rows of the `raw` or `export` schema (the export has no tie/both_bad)."""
    out = []
    for i, vote in enumerate(VOTES):
        if schema == "raw":
            row = dict(zip(SCHEMA_RAW, vote))
            row.update(accepted_model="modelo-a", rejected_model="modelo-b", username=f"votante{i}")
        else:
            if vote[5] is True or vote[6] is True:
                continue  # the later export only kept clear votes
            row = dict(zip(SCHEMA_EXPORT, vote[:5]))
        out.append(row)
    return out


def write(rows_: list[dict[str, Any]], path: Path) -> Path:
    """Write rows as Parquet, CSV or JSON(L), by the file's suffix."""
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        norm = [{k: (None if v is None else str(v)) if k in ("tie", "both_bad") else v for k, v in r.items()}
                for r in rows_]
        pq.write_table(pa.Table.from_pylist(norm), path)
    elif path.suffix == ".csv":
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows_[0]))
            writer.writeheader()
            writer.writerows(rows_)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows_), encoding="utf-8")
    else:
        path.write_text(json.dumps(rows_, ensure_ascii=False), encoding="utf-8")
    return path
