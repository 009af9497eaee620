"""Decode one image, normalise it, and re-encode it without any metadata, or say exactly why not.

Every photo that leaves the machine (to Cohere, to the Hub) is the output of `normalise`: EXIF
orientation applied, colour converted to sRGB RGB (RGBA when transparency is really used), size
capped, and re-encoded from bare pixels so that no EXIF, GPS, XMP, IPTC or ICC block can survive.
The real format is sniffed from the bytes (Pillow ignores the extension), so an AVIF or WebP
named `.jpg` is read for what it is and the mismatch is noted.
"""
from __future__ import annotations

import hashlib
import io
import math
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import imagehash
import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from vlcultura.config import IngestConfig

_SRGB = ImageCms.createProfile("sRGB")
_GPS_IFD = 0x8825
_ORIENTATION = 0x0112
_EXTENSION_FORMATS = {
    "jpg": "JPEG", "jpeg": "JPEG", "jfif": "JPEG", "png": "PNG", "webp": "WEBP", "avif": "AVIF",
    "gif": "GIF", "bmp": "BMP", "tif": "TIFF", "tiff": "TIFF", "heic": "HEIF", "heif": "HEIF",
}
# Formats whose extra frames are not an animation: MPO is a phone photo plus its depth/gain map.
_STILL_MULTIFRAME = {"MPO"}
# Byte patterns of metadata blocks, searched in every output as a last line of defence.
_METADATA_BYTES = {
    b"Exif\x00\x00": "exif", b"http://ns.adobe.com/xap/1.0/": "xmp", b"<x:xmpmeta": "xmp",
    b"ICC_PROFILE": "icc", b"Photoshop 3.0": "iptc",
}
_PNG_METADATA_CHUNKS = {b"eXIf": "exif", b"iCCP": "icc", b"tEXt": "text", b"zTXt": "text",
                        b"iTXt": "text", b"tIME": "time"}


class ImageRejected(Exception):
    """A bad input: `reason` is a stable code, `detail` tells the user what to do."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class NormalisedImage:
    """Metadata-free encoded bytes plus what ingest records about them."""

    data: bytes
    format: str  # "JPEG" or "PNG"
    width: int
    height: int
    sha256: str
    phash: str
    source_format: str  # sniffed from the bytes: "JPEG", "WEBP", "AVIF"...
    notes: tuple[str, ...]  # what was found and changed: "gps", "orientation", "mode:CMYK->RGB"...


def normalise(raw: bytes, config: IngestConfig) -> NormalisedImage:
    """Turn raw file bytes into a clean image, or raise `ImageRejected` with a reason code."""
    notes: list[str] = []
    image, source_format = _decode(raw, config, notes)
    image = _to_srgb(_to_8bit(image, notes), notes)
    if max(image.size) > config.max_side:
        image.thumbnail((config.max_side, config.max_side), Image.Resampling.LANCZOS)
        if "resized" not in notes:
            notes.append("resized")
    # Bare pixels: a fresh image has an empty `info`, so no metadata can ride along.
    clean = Image.frombytes(image.mode, image.size, image.tobytes())
    data, fmt = _encode(clean, config)
    if len(data) > config.max_encoded_bytes:
        raise ImageRejected("oversize_encoded", (
            f"{len(data):,} bytes after re-encoding as {fmt}, over max_encoded_bytes="
            f"{config.max_encoded_bytes:,} (Cohere takes at most 20 MB per request): lower "
            "ingest.max_side or ingest.jpeg_quality"))
    leaks = metadata_markers(data)
    if leaks:  # never expected: re-encoding from bare pixels writes no metadata
        raise ImageRejected("metadata_leak", f"encoder wrote {', '.join(leaks)}: refusing to keep it")
    return NormalisedImage(data=data, format=fmt, width=clean.width, height=clean.height,
                           sha256=hashlib.sha256(data).hexdigest(),
                           phash=str(imagehash.phash(clean)), source_format=source_format,
                           notes=tuple(notes))


def _decode(raw: bytes, config: IngestConfig, notes: list[str]) -> tuple[Image.Image, str]:
    """Open, bound, decode and orient; every failure becomes a specific rejection."""
    if not raw:
        raise ImageRejected("empty", "the file has 0 bytes: re-download or re-export it")
    try:
        image = Image.open(io.BytesIO(raw))
    except Image.DecompressionBombError as err:
        raise ImageRejected("decompression_bomb", f"{err} Lower-resolution copy needed.") from err
    except UnidentifiedImageError as err:
        raise ImageRejected("unreadable", (
            "not an image format Pillow can read (random bytes, a document, or HEIC without a "
            "plugin): convert it to JPEG or PNG")) from err
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise _decode_error(err) from err
    width, height = image.size
    if width * height > config.max_pixels:
        raise ImageRejected("decompression_bomb", (
            f"declares {width}x{height} = {width * height:,} pixels, over max_pixels="
            f"{config.max_pixels:,}: a decompression bomb or a scan too large to use; "
            "downscale it first"))
    try:
        _note_metadata(image, notes)
        if getattr(image, "is_animated", False) and image.format not in _STILL_MULTIFRAME:
            if config.animated == "reject":
                raise ImageRejected("animated", (
                    f"{image.format} with {image.n_frames} frames: one caption cannot describe an "
                    "animation; export a still, or set ingest.animated: first_frame"))
            notes.append("first_frame")
        image.seek(0)
        if image.format == "JPEG" and max(width, height) > config.max_side:
            # libjpeg decodes straight at 1/2..1/8 scale, never below the final size: much faster
            scale = config.max_side / max(width, height)
            image.draft(None, (math.ceil(width * scale), math.ceil(height * scale)))
            if image.size != (width, height):
                notes.append("resized")
        image.load()
        return ImageOps.exif_transpose(image), str(image.format)
    except ImageRejected:
        raise
    except Exception as err:  # Pillow raises many types for broken data; all mean the same here
        raise _decode_error(err) from err


def _decode_error(err: BaseException) -> ImageRejected:
    text = str(err) or type(err).__name__
    if "truncat" in text.lower():
        return ImageRejected("truncated", f"{text}: the file ends early; re-download or re-export it")
    return ImageRejected("corrupt", f"{text}: the data is damaged; re-export it from the original")


def extension_mismatch(name: str, real: str) -> str | None:
    """Say "JPEG->WEBP" when the extension lies (a WebP named .jpg): the bytes decide, not the name."""
    claimed = _EXTENSION_FORMATS.get(PurePath(name).suffix.lower().lstrip("."))
    if claimed and claimed != real and {claimed, real} != {"JPEG", "MPO"}:
        return f"{claimed}->{real}"
    return None


def _note_metadata(image: Image.Image, notes: list[str]) -> None:
    """Say what was present, so the report can tell how much GPS/EXIF was removed."""
    exif = image.getexif()
    if exif:
        notes.append("exif")
        if exif.get_ifd(_GPS_IFD):
            notes.append("gps")
        if exif.get(_ORIENTATION, 1) != 1:
            notes.append("orientation")
    for key, note in (("xmp", "xmp"), ("XML:com.adobe.xmp", "xmp"), ("icc_profile", "icc"),
                      ("photoshop", "iptc"), ("comment", "comment")):
        if image.info.get(key) and note not in notes:
            notes.append(note)


def _to_8bit(image: Image.Image, notes: list[str]) -> Image.Image:
    """16-bit and float greyscale scaled (not clipped) to 8 bits."""
    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        notes.append(f"mode:{image.mode}->L")
        pixels = np.asarray(image, dtype=np.float64)
        if image.mode.startswith("I;16") or pixels.max() > 255:
            pixels = pixels / 257.0
        image = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "L")
    return image


def _uses_alpha(image: Image.Image) -> bool:
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        return image.convert("RGBA").getchannel("A").getextrema()[0] < 255
    return False


def _to_srgb(image: Image.Image, notes: list[str]) -> Image.Image:
    """RGB (or RGBA if transparency is used) in sRGB, honouring an embedded ICC profile."""
    target = "RGBA" if _uses_alpha(image) else "RGB"
    if image.mode != target:
        notes.append(f"mode:{image.mode}->{target}")
    icc = image.info.get("icc_profile")
    if icc and image.mode in ("RGB", "RGBA", "CMYK", "L"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode=target)
            notes.append("icc->sRGB")
            return converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            notes.append("icc_unusable")
    return image.convert(target)


def _encode(image: Image.Image, config: IngestConfig) -> tuple[bytes, str]:
    """PNG keeps transparency and flat graphics (256 colours or fewer) exact; photos are JPEG."""
    buffer = io.BytesIO()
    if image.mode == "RGBA" or image.getcolors(256) is not None:
        image.save(buffer, "PNG")
        return buffer.getvalue(), "PNG"
    image.save(buffer, "JPEG", quality=config.jpeg_quality, optimize=True)
    return buffer.getvalue(), "JPEG"


def stored_bytes(value: Any) -> bytes:
    """The encoded bytes of a `datasets.Image(decode=False)` value: inline bytes, else its file.

    Every stage that sends or re-checks images (generate, judge, export) reads them this one way.
    """
    if isinstance(value, dict) and value.get("bytes"):
        return value["bytes"]
    if isinstance(value, dict) and value.get("path"):
        return Path(value["path"]).read_bytes()
    raise ValueError("the image has neither bytes nor a path: re-run ingest")


def metadata_markers(data: bytes) -> list[str]:
    """Metadata blocks present in encoded bytes (JPEG segments, PNG chunks, known signatures)."""
    found = {name for pattern, name in _METADATA_BYTES.items() if pattern in data}
    if data.startswith(b"\xff\xd8"):
        found.update(_jpeg_segments(data))
    elif data.startswith(b"\x89PNG\r\n\x1a\n"):
        found.update(_png_chunks(data))
    return sorted(found)


def _jpeg_segments(data: bytes) -> set[str]:
    """APP1..APP15 and COM segments before the image data: where EXIF, XMP, ICC and IPTC live."""
    found: set[str] = set()
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if 0xE1 <= marker <= 0xEF:
            found.add(f"jpeg_app{marker - 0xE0}")
        elif marker == 0xFE:
            found.add("jpeg_comment")
        pos += 2 + length
    return found


def _png_chunks(data: bytes) -> set[str]:
    found: set[str] = set()
    pos = 8
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        if kind in _PNG_METADATA_CHUNKS:
            found.add(_PNG_METADATA_CHUNKS[kind])
        pos += 12 + length
    return found
