"""Synthetic sample photos drawn with Pillow, so the quickstart runs offline on images we own.

The set covers several countries and varieties (BO, MX, PE, BR, AR, ES) with the culturally
specific names a captioner should learn ("cuñapé", "salteña", "Chichén Itzá", "pão de queijo").
Each scene is drawn from shapes with seeded jitter (position, scale, colours, light, grain), so
the bytes are identical for a seed and the images differ enough not to be near duplicates of each
other. Output is an imagefolder: JPEGs plus `metadata.jsonl`, ready for `vlcultura ingest DIR`.
"""
from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

Color = tuple[int, int, int]
Painter = Callable[[ImageDraw.ImageDraw, int, random.Random], None]
LICENSE = "CC0-1.0"
ATTRIBUTION = "vlcultura synthetic sample"


def _jitter(rng: random.Random, color: Color, amount: int = 24) -> Color:
    return tuple(max(0, min(255, c + rng.randint(-amount, amount))) for c in color)  # type: ignore[return-value]


def _plate(draw: ImageDraw.ImageDraw, size: int, rng: random.Random) -> tuple[float, float, float]:
    """A white plate on a wooden table; returns its centre and radius."""
    draw.rectangle([0, 0, size, size], fill=_jitter(rng, (140, 95, 55)))
    for y in range(0, size, max(4, size // rng.randint(6, 12))):
        draw.line([0, y, size, y + rng.randint(-6, 6)], fill=_jitter(rng, (110, 70, 40)), width=2)
    cx, cy = size * rng.uniform(0.4, 0.6), size * rng.uniform(0.4, 0.6)
    r = size * rng.uniform(0.33, 0.45)
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=_jitter(rng, (238, 236, 230), 10),
                 outline=_jitter(rng, (190, 190, 200), 10), width=3)
    return cx, cy, r


def _cunape(draw: ImageDraw.ImageDraw, size: int, rng: random.Random) -> None:
    """Round cheese-bread rolls on a plate (Bolivia)."""
    cx, cy, r = _plate(draw, size, rng)
    for _ in range(rng.randint(3, 5)):
        bx, by = cx + rng.uniform(-0.45, 0.45) * r, cy + rng.uniform(-0.45, 0.45) * r
        br = r * rng.uniform(0.22, 0.32)
        draw.ellipse([bx - br, by - br, bx + br, by + br], fill=_jitter(rng, (222, 170, 80)),
                     outline=_jitter(rng, (170, 110, 40)), width=2)


def _saltena(draw: ImageDraw.ImageDraw, size: int, rng: random.Random) -> None:
    """An oval baked pastry with a braided seam on top (Bolivia)."""
    cx, cy, r = _plate(draw, size, rng)
    w, h = r * rng.uniform(0.75, 0.9), r * rng.uniform(0.45, 0.6)
    draw.ellipse([cx - w, cy - h, cx + w, cy + h], fill=_jitter(rng, (205, 120, 45)))
    steps = 8
    for i in range(steps):
        x = cx - w * 0.8 + i * (1.6 * w / steps)
        draw.arc([x, cy - h * 0.35, x + 1.6 * w / steps, cy + h * 0.05], 180, 360,
                 fill=_jitter(rng, (150, 75, 25)), width=3)


def _pao_de_queijo(draw: ImageDraw.ImageDraw, size: int, rng: random.Random) -> None:
    """Many small pale cheese breads in a basket (Brazil)."""
    draw.rectangle([0, 0, size, size], fill=_jitter(rng, (60, 110, 70)))
    cx, cy, r = size / 2 + rng.uniform(-8, 8), size / 2 + rng.uniform(-8, 8), size * 0.44
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=_jitter(rng, (170, 130, 80)))
    for _ in range(rng.randint(7, 11)):
        bx, by = cx + rng.uniform(-0.6, 0.6) * r, cy + rng.uniform(-0.6, 0.6) * r
        br = r * rng.uniform(0.14, 0.2)
        draw.ellipse([bx - br, by - br, bx + br, by + br], fill=_jitter(rng, (240, 215, 150)))


def _paella(draw: ImageDraw.ImageDraw, size: int, rng: random.Random) -> None:
    """A wide pan of saffron rice with prawns and peas (Spain)."""
    draw.rectangle([0, 0, size, size], fill=_jitter(rng, (200, 200, 190)))
    cx, cy, r = size / 2 + rng.uniform(-6, 6), size / 2 + rng.uniform(-6, 6), size * rng.uniform(0.38, 0.46)
    draw.ellipse([cx - r - 4, cy - r - 4, cx + r + 4, cy + r + 4], fill=_jitter(rng, (50, 50, 55)))
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=_jitter(rng, (235, 180, 40)))
    for _ in range(rng.randint(5, 8)):
        px, py = cx + rng.uniform(-0.7, 0.7) * r, cy + rng.uniform(-0.7, 0.7) * r
        draw.arc([px - 6, py - 6, px + 6, py + 6], 0, 270, fill=_jitter(rng, (230, 90, 60)), width=4)
    for _ in range(rng.randint(8, 14)):
        px, py = cx + rng.uniform(-0.75, 0.75) * r, cy + rng.uniform(-0.75, 0.75) * r
        draw.ellipse([px - 2, py - 2, px + 2, py + 2], fill=_jitter(rng, (80, 160, 60)))


def _mate(draw: ImageDraw.ImageDraw, size: int, rng: random.Random) -> None:
    """A gourd of yerba mate with a metal straw (Argentina)."""
    draw.rectangle([0, 0, size, size], fill=_jitter(rng, (225, 215, 190)))
    cx, cy, r = size * rng.uniform(0.42, 0.58), size * rng.uniform(0.55, 0.65), size * rng.uniform(0.25, 0.3)
    draw.ellipse([cx - r, cy - r, cx + r, cy + r * 1.1], fill=_jitter(rng, (120, 70, 35)))
    draw.ellipse([cx - r * 0.7, cy - r * 0.95, cx + r * 0.7, cy - r * 0.55], fill=_jitter(rng, (90, 140, 50)))
    draw.line([cx + r * 0.1, cy - r * 0.75, cx + r * 0.6, cy - r * 1.9], fill=_jitter(rng, (200, 200, 210)), width=4)


def _pyramid(draw: ImageDraw.ImageDraw, size: int, rng: random.Random) -> None:
    """A stepped stone pyramid with a temple on top under a blue sky (Mexico)."""
    horizon = size * rng.uniform(0.7, 0.8)
    draw.rectangle([0, 0, size, horizon], fill=_jitter(rng, (110, 170, 230)))
    draw.rectangle([0, horizon, size, size], fill=_jitter(rng, (80, 140, 60)))
    cx, base = size * rng.uniform(0.4, 0.6), size * rng.uniform(0.75, 0.9)
    half, levels = size * rng.uniform(0.35, 0.45), rng.randint(5, 8)
    step = base * 0.6 / levels
    for i in range(levels):
        w = half * (1 - i / (levels + 1))
        draw.rectangle([cx - w, base - (i + 1) * step, cx + w, base - i * step],
                       fill=_jitter(rng, (170, 160, 130), 12), outline=(120, 110, 90))
    top = base - levels * step
    draw.rectangle([cx - half * 0.18, top - step * 1.5, cx + half * 0.18, top], fill=(150, 140, 115))
    draw.rectangle([cx - half * 0.08, base - levels * step, cx + half * 0.08, base], fill=(140, 130, 105))


def _mountain_ruins(draw: ImageDraw.ImageDraw, size: int, rng: random.Random) -> None:
    """A green peak over terraces of stone ruins in the mist (Peru)."""
    draw.rectangle([0, 0, size, size], fill=_jitter(rng, (200, 210, 220)))
    peak = (size * rng.uniform(0.55, 0.75), size * rng.uniform(0.1, 0.2))
    draw.polygon([(size * 0.3, size * 0.7), peak, (size * 1.05, size * 0.7)], fill=_jitter(rng, (50, 110, 60)))
    for i in range(rng.randint(4, 6)):
        y = size * 0.62 + i * size * 0.07
        draw.rectangle([size * 0.05 + i * 3, y, size * 0.95 - i * 3, y + size * 0.05],
                       fill=_jitter(rng, (150, 145, 135), 10), outline=(100, 95, 90))


def _textile(draw: ImageDraw.ImageDraw, size: int, rng: random.Random) -> None:
    """A woven Andean cloth in bright bands with diamond motifs (Peru)."""
    palette = [(200, 30, 50), (240, 200, 40), (30, 120, 60), (30, 60, 160), (240, 120, 30)]
    rng.shuffle(palette)
    y = 0.0
    while y < size:
        band = size * rng.uniform(0.08, 0.18)
        color = _jitter(rng, palette[int(y) % len(palette)], 16)
        draw.rectangle([0, y, size, y + band], fill=color)
        for x in range(0, size, max(8, int(band))):
            d = band / 2.5
            draw.polygon([(x + d, y + band / 2 - d), (x + 2 * d, y + band / 2), (x + d, y + band / 2 + d),
                          (x, y + band / 2)], fill=_jitter(rng, palette[(int(y) + 1) % len(palette)], 16))
        y += band


def _papel_picado(draw: ImageDraw.ImageDraw, size: int, rng: random.Random) -> None:
    """Strings of coloured cut-paper flags across a street (Mexico)."""
    draw.rectangle([0, 0, size, size], fill=_jitter(rng, (120, 180, 235)))
    colors = [(230, 50, 120), (250, 160, 30), (60, 170, 90), (90, 80, 200), (240, 230, 60)]
    for row in range(rng.randint(2, 3)):
        top = size * (0.1 + row * 0.3) + rng.uniform(-4, 4)
        width = size / rng.randint(4, 6)
        x = rng.uniform(-width / 2, 0)
        while x < size:
            draw.rectangle([x + 2, top, x + width - 2, top + width * 1.1], fill=_jitter(rng, rng.choice(colors), 10))
            draw.ellipse([x + width * 0.35, top + width * 0.3, x + width * 0.65, top + width * 0.6], fill=(255, 255, 255))
            x += width
        draw.line([0, top, size, top], fill=(60, 60, 60), width=1)


@dataclass(frozen=True)
class SampleClass:
    """One kind of sample picture and the metadata every copy carries."""

    slug: str
    label: str
    country: str
    variety: str
    topic: str
    paint: Painter


SAMPLE_CLASSES: tuple[SampleClass, ...] = (
    SampleClass("cunape", "cuñapé", "BO", "es-BO", "comida", _cunape),
    SampleClass("saltena", "salteña", "BO", "es-BO", "comida", _saltena),
    SampleClass("pao_de_queijo", "pão de queijo", "BR", "pt-BR", "comida", _pao_de_queijo),
    SampleClass("paella", "paella valenciana", "ES", "es-ES", "comida", _paella),
    SampleClass("mate", "mate con bombilla", "AR", "es-AR", "comida", _mate),
    SampleClass("chichen_itza", "Chichén Itzá", "MX", "es-MX", "arquitectura", _pyramid),
    SampleClass("papel_picado", "papel picado", "MX", "es-MX", "fiestas", _papel_picado),
    SampleClass("machu_picchu", "Machu Picchu", "PE", "es-PE", "arquitectura", _mountain_ruins),
    SampleClass("tejido_andino", "tejido andino", "PE", "es-PE", "artesania", _textile),
)


def draw_sample(kind: SampleClass, index: int, seed: int = 0, size: int = 96) -> Image.Image:
    """One picture: shapes, then light falloff, blur and sensor grain so it reads like a photo."""
    rng = random.Random(f"{seed}:{kind.slug}:{index}")
    scale = 2  # draw at twice the size and downsample: smooth edges like a camera's
    image = Image.new("RGB", (size * scale, size * scale))
    kind.paint(ImageDraw.Draw(image), size * scale, rng)
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.6, 1.4))).resize((size, size), Image.Resampling.LANCZOS)
    noise = np.random.default_rng(rng.getrandbits(32))
    pixels = np.asarray(image, dtype=np.float32)
    yy, xx = np.mgrid[0:size, 0:size] / size
    light = 1.0 + rng.uniform(-0.15, 0.15) * (xx - 0.5) + rng.uniform(-0.15, 0.15) * (yy - 0.5)
    pixels = pixels * light[..., None] * rng.uniform(0.85, 1.1) + noise.normal(0, 5, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def make_sample_images(out_dir: str | Path, n_per_class: int = 3, seed: int = 0, size: int = 96) -> Path:
    """Write the sample imagefolder (JPEGs + metadata.jsonl) and return its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for kind in SAMPLE_CLASSES:
        for index in range(n_per_class):
            name = f"{kind.slug}_{index}.jpg"
            draw_sample(kind, index, seed, size).save(out / name, "JPEG", quality=90)
            rows.append({"file_name": name, "labels": [kind.label], "country": kind.country,
                         "variety": kind.variety, "topic": kind.topic, "license": LICENSE,
                         "attribution": ATTRIBUTION, "source": f"vlcultura.data.samples:{kind.slug}:{seed}:{index}"})
    (out / "metadata.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return out
