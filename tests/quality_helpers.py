"""Small, realistic candidate datasets for the filter / judge / export / card tests.

Rows are `records.Candidate` dumps plus `image` (PIL, saved as PNG bytes) and `prompt`, the shape
the generation stage writes.
"""
from __future__ import annotations

import io
from typing import Any

from PIL import Image

from vlcultura.records import Candidate

# (country, variety, gold label, desirable texts, undesirable (type, text) pairs)
SCENES: list[tuple[str, str, str, list[str], list[tuple[str, str]]]] = [
    ("BO", "es-BO", "cuñapé",
     ["Unos cuñapés dorados, panecitos de almidón de yuca y queso típicos de Santa Cruz, servidos en una canasta de palma.",
      "En la mesa hay cuñapés recién horneados, la masita cruceña que se come caliente con café a media tarde."],
     [("generic", "Unos panes redondos sobre una mesa, parecen bollos caseros comunes de cualquier panadería."),
      ("wrong_culture", "Unas chipas paraguayas de almidón con anís, como las que se venden en los buses de Asunción.")]),
    ("MX", "es-MX", "ofrenda",
     ["Una ofrenda de Día de Muertos con pan de muerto, cempasúchil y papel picado para recibir a los difuntos de la familia.",
      "El altar lleva veladoras, calaveritas de azúcar y la foto del abuelo, como se pone cada noviembre en Michoacán."],
     [("stereotype", "Una mesa exótica y misteriosa donde los mexicanos, siempre fiesteros, adoran a la muerte sin parar."),
      ("wrong_variety", "Vale, aquí tenéis una mesa con flores naranjas y un zumo, vosotros podéis coger las velas.")]),
    ("PE", "es-PE", "causa limeña",
     ["Una causa limeña de papa amarilla con ají, rellena de pollo y palta, decorada con aceituna de botija.",
      "Porciones de causa rellena, el plato frío de papa prensada que se sirve en los almuerzos de Lima."],
     [("hallucination", "Un pastel de papas servido en la Fiesta del Sol Naciente de 1820, cuando se inventó con chocolate y queso azul."),
      ("register", "¡Qué pintoresco! Los simpáticos nativos preparan esta comidita sencilla para los turistas curiosos que llegan.")]),
    ("BR", "pt-BR", "pão de queijo",
     ["Pães de queijo quentinhos numa cesta, o lanche mineiro feito com polvilho e queijo, ótimo com um cafezinho.",
      "Uma fornada de pão de queijo de Minas Gerais, crocante por fora e macio por dentro, servida no café da tarde."],
     [("generic", "Umas bolinhas de pão numa cesta em cima da mesa, parecem um lanche comum qualquer."),
      ("wrong_variety", "Um pequeno-almoço com bolinhas de queijo, apanhadas no comboio e guardadas no frigorífico.")]),
]
PROMPTS = {"es": "Describe la imagen como lo haría una persona del lugar.",
           "pt": "Descreva a imagem como o faria uma pessoa do lugar."}


def png_bytes(color: tuple[int, int, int], exif_gps: bool = False) -> bytes:
    """A 32x32 PNG; with `exif_gps` it carries an EXIF block with a GPS tag."""
    img = Image.new("RGB", (32, 32), color)
    buf = io.BytesIO()
    if exif_gps:
        exif = Image.Exif()
        exif[0x8825] = {2: (19.0, 25.0, 0.0)}  # GPSInfo: latitude
        exif[0x010F] = "CameraMaker"
        img.save(buf, format="PNG", exif=exif.tobytes())
    else:
        img.save(buf, format="PNG")
    return buf.getvalue()


def candidate_rows(copies: int = 2, exif_first: bool = False) -> list[dict[str, Any]]:
    """`copies` images per scene, 2 desirable + 2 undesirable rows per image."""
    rows: list[dict[str, Any]] = []
    for s, (country, variety, gold, good, bad) in enumerate(SCENES):
        for c in range(copies):
            image_id = f"img-{country.lower()}-{c}"
            color = (40 * s + 10, 30 * c + 20, 200 - 30 * s)
            image = {"bytes": png_bytes(color, exif_gps=exif_first and not rows), "path": None}
            meta = dict(country=country, variety=variety, topic="comida", labels=[gold],
                        license="CC BY-SA 4.0" if s % 2 == 0 else "MIT",
                        attribution=f"Autor {s}", source=f"photos/{image_id}.png")
            texts = [(t, True, None) for t in good] + [(t, False, nt) for nt, t in bad]
            for k, (text, label, ntype) in enumerate(texts):
                cand = Candidate(id=f"{image_id}-{k}", image_id=image_id, completion=text, label=label,
                                 negative_type=ntype, strategy="template", backend="template",
                                 prompt_version="v1", **meta)
                rows.append({**cand.model_dump(mode="json"), "image": image,
                             "prompt": PROMPTS[variety[:2]]})
    return rows


def candidates_dataset(copies: int = 2, exif_first: bool = False, extra: list[dict[str, Any]] | None = None) -> Any:
    """The rows above as a `datasets.Dataset` with an Image column."""
    import datasets

    rows = candidate_rows(copies, exif_first) + (extra or [])
    ds = datasets.Dataset.from_list(rows)
    return ds.cast_column("image", datasets.Image())
