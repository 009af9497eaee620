"""Makers of good and bad image files for the ingest tests: every kind is built here, in bytes.

Content is low-frequency seeded noise (a photo-like blur), so two different seeds never look like
near duplicates, and a JPEG of it compresses like a photo.
"""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

SECRET_XMP = b"vlcultura-secret-place"
SECRET_DESCRIPTION = "vlcultura-secret-description"
GPS = {1: "N", 2: (40.0, 26.0, 46.0), 3: "W", 4: (3.0, 42.0, 9.0)}


def photo(seed: int, size: tuple[int, int] = (96, 64), mode: str = "RGB") -> Image.Image:
    """A smooth random picture, different for every seed."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), "RGB")
    return small.resize(size, Image.Resampling.BICUBIC).convert(mode)


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def halves(size: tuple[int, int] = (60, 40)) -> Image.Image:
    """Left half red, right half blue: shows where a rotation put each side."""
    image = Image.new("RGB", size, (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, size[0] // 2, size[1]))
    return image


def exif_blob(orientation: int = 6) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010E] = SECRET_DESCRIPTION
    exif.get_ifd(0x8825).update(GPS)
    return exif


def jpeg_with_metadata() -> bytes:
    """A JPEG carrying EXIF (GPS, orientation 6 = rotate 90 degrees clockwise) and XMP."""
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">' + SECRET_XMP + b"</x:xmpmeta>"
    return encode(halves(), "JPEG", quality=95, exif=exif_blob(), xmp=xmp)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int, height: int) -> bytes:
    """Only a header that claims a huge image: the decoder must refuse before allocating it."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IEND", b"")


def animated(fmt: str) -> bytes:
    frames = [photo(100 + i) for i in range(3)]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def sixteen_bit_png() -> bytes:
    """A 16-bit greyscale ramp from 0 to 65535 across the width."""
    ramp = np.tile(np.linspace(0, 65535, 64), (48, 1)).astype(np.uint16)
    image = Image.fromarray(ramp)
    assert image.mode.startswith("I;16")
    return encode(image, "PNG")


def bad_and_odd_files() -> dict[str, tuple[bytes, str | None]]:
    """file name -> (bytes, expected rejection reason or None when it must be accepted)."""
    truncated = encode(photo(1, (128, 96)), "JPEG", quality=95)
    alpha = photo(7, mode="RGBA")
    alpha.putalpha(Image.linear_gradient("L").resize(alpha.size))
    la = photo(8, mode="LA")
    la.putalpha(Image.linear_gradient("L").resize(la.size))
    return {
        "empty.jpg": (b"", "empty"),
        "random.jpg": (np.random.default_rng(3).bytes(4096), "unreadable"),
        "truncated.jpg": (truncated[: len(truncated) * 6 // 10], "truncated"),
        "bomb_header.png": (bomb_png(100_000, 100_000), "decompression_bomb"),
        "bomb_over_limit.png": (bomb_png(9_000, 9_000), "decompression_bomb"),
        "animated.gif": (animated("GIF"), "animated"),
        "animated.webp": (animated("WEBP"), "animated"),
        "cmyk.jpg": (encode(photo(4, mode="CMYK"), "JPEG"), None),
        "palette.png": (encode(photo(5).quantize(16), "PNG"), None),
        "la.png": (encode(la, "PNG"), None),
        "rgba.png": (encode(alpha, "PNG"), None),
        "opaque_rgba.png": (encode(photo(9, mode="RGBA"), "PNG"), None),
        "deep.png": (sixteen_bit_png(), None),
        "webp_named.jpg": (encode(photo(10), "WEBP"), None),
        "avif_named.jpg": (encode(photo(11), "AVIF"), None),
        "gps_orientation_xmp.jpg": (jpeg_with_metadata(), None),
    }


def write_files(folder: Path, files: dict[str, tuple[bytes, str | None]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, (data, _reason) in files.items():
        (folder / name).write_bytes(data)
    return folder
