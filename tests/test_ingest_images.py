"""Normalisation of single images: every bad kind gets its reason, odd modes become clean RGB(A)."""
from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from ingest_helpers import (SECRET_DESCRIPTION, SECRET_XMP, animated, bad_and_odd_files, encode,
                            exif_blob, jpeg_with_metadata, photo)
from PIL import Image

from vlcultura.config import IngestConfig
from vlcultura.data.images import ImageRejected, extension_mismatch, metadata_markers, normalise

FILES = bad_and_odd_files()
REJECTED = {name: reason for name, (_, reason) in FILES.items() if reason}
ACCEPTED = [name for name, (_, reason) in FILES.items() if reason is None]


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_each_bad_kind_gets_its_reason(name: str) -> None:
    with pytest.raises(ImageRejected) as caught:
        normalise(FILES[name][0], IngestConfig())
    assert caught.value.reason == REJECTED[name]
    assert len(caught.value.detail) > 20  # says what happened and what to do


@pytest.mark.parametrize("name", ACCEPTED)
def test_accepted_outputs_are_metadata_free_rgb(name: str) -> None:
    image = normalise(FILES[name][0], IngestConfig())
    assert metadata_markers(image.data) == []
    decoded = Image.open(io.BytesIO(image.data))
    assert decoded.format == image.format and decoded.size == (image.width, image.height)
    assert decoded.mode in ("RGB", "RGBA")
    assert not decoded.getexif() and not {"exif", "xmp", "icc_profile"} & set(decoded.info)


def test_exif_gps_xmp_stripped_and_orientation_applied() -> None:
    raw = jpeg_with_metadata()
    assert {"exif", "xmp"} <= set(metadata_markers(raw))  # the input really carries them
    image = normalise(raw, IngestConfig())
    assert {"exif", "gps", "orientation", "xmp"} <= set(image.notes)
    for marker in (b"Exif", SECRET_XMP, SECRET_DESCRIPTION.encode(), b"xmpmeta", exif_blob().tobytes()):
        assert marker not in image.data
    pixels = np.asarray(Image.open(io.BytesIO(image.data)).convert("RGB"), dtype=int)
    # stored 60x40 with red left, blue right; orientation 6 turns it clockwise: red on top
    assert pixels.shape[:2] == (60, 40)
    top, bottom = pixels[:25].mean(axis=(0, 1)), pixels[-25:].mean(axis=(0, 1))
    assert top[0] > 200 and top[2] < 60 and bottom[2] > 200 and bottom[0] < 60


def test_modes_are_converted_faithfully() -> None:
    cmyk = normalise(FILES["cmyk.jpg"][0], IngestConfig())
    assert cmyk.format == "JPEG" and "mode:CMYK->RGB" in cmyk.notes
    reference = np.asarray(photo(4, mode="CMYK").convert("RGB"), dtype=float)
    assert np.abs(np.asarray(Image.open(io.BytesIO(cmyk.data)), dtype=float) - reference).mean() < 12

    for name in ("rgba.png", "la.png"):  # real transparency: lossless RGBA PNG
        kept = normalise(FILES[name][0], IngestConfig())
        assert kept.format == "PNG" and Image.open(io.BytesIO(kept.data)).mode == "RGBA"
    opaque = normalise(FILES["opaque_rgba.png"][0], IngestConfig())  # alpha unused: a photo
    assert opaque.format == "JPEG" and "mode:RGBA->RGB" in opaque.notes
    palette = normalise(FILES["palette.png"][0], IngestConfig())  # flat colours stay exact
    assert palette.format == "PNG" and Image.open(io.BytesIO(palette.data)).mode == "RGB"

    deep = normalise(FILES["deep.png"][0], IngestConfig())
    assert "mode:I;16->L" in deep.notes
    ramp = np.asarray(Image.open(io.BytesIO(deep.data)).convert("L"), dtype=int)[0]
    assert ramp[0] == 0 and ramp[-1] == 255 and 120 <= ramp[len(ramp) // 2] <= 135  # scaled, not clipped


def test_real_format_is_sniffed_not_taken_from_the_name() -> None:
    for name, real in (("webp_named.jpg", "WEBP"), ("avif_named.jpg", "AVIF")):
        image = normalise(FILES[name][0], IngestConfig())
        assert image.source_format == real and image.format == "JPEG"
        assert extension_mismatch(name, image.source_format) == f"JPEG->{real}"
    assert extension_mismatch("photo.jpeg", "JPEG") is None


def test_size_limits() -> None:
    big = encode(photo(20, (400, 300)), "JPEG")
    capped = normalise(big, IngestConfig(max_side=100))
    assert (capped.width, capped.height) == (100, 75) and "resized" in capped.notes
    # a large JPEG is decoded at reduced scale (libjpeg draft), yet looks like a full-size resize
    reference = photo(20, (400, 300)).resize((100, 75), Image.Resampling.LANCZOS)
    got = Image.open(io.BytesIO(capped.data)).convert("RGB")
    assert np.abs(np.asarray(got, dtype=float) - np.asarray(reference, dtype=float)).mean() < 6
    with pytest.raises(ImageRejected) as caught:
        normalise(big, IngestConfig(max_encoded_bytes=500))
    assert caught.value.reason == "oversize_encoded" and "max_encoded_bytes=500" in caught.value.detail


def test_animation_policy_first_frame() -> None:
    image = normalise(animated("GIF"), IngestConfig(animated="first_frame"))
    assert "first_frame" in image.notes
    first = np.asarray(photo(100).convert("RGB"), dtype=float)
    assert np.abs(np.asarray(Image.open(io.BytesIO(image.data)).convert("RGB"), dtype=float) - first).mean() < 25


def test_output_is_deterministic() -> None:
    raw = FILES["cmyk.jpg"][0]
    first, second = normalise(raw, IngestConfig()), normalise(raw, IngestConfig())
    assert first.sha256 == second.sha256
    assert first == second and first.sha256 == hashlib.sha256(first.data).hexdigest()  # the hash is of these bytes


def test_phone_mpo_is_a_still_not_an_animation() -> None:
    mpo = encode(photo(12), "MPO", save_all=True, append_images=[photo(13)])  # photo + depth map
    image = normalise(mpo, IngestConfig())
    assert image.source_format == "MPO" and extension_mismatch("IMG_0001.JPG", "MPO") is None
    first = np.asarray(photo(12), dtype=float)
    assert np.abs(np.asarray(Image.open(io.BytesIO(image.data)), dtype=float) - first).mean() < 8


def test_stored_bytes_reads_inline_bytes_then_the_file(tmp_path) -> None:
    from vlcultura.data.images import stored_bytes

    data = FILES["cmyk.jpg"][0]
    (tmp_path / "a.jpg").write_bytes(data)
    assert stored_bytes({"bytes": data, "path": "ignored.jpg"}) == data
    assert stored_bytes({"bytes": None, "path": str(tmp_path / "a.jpg")}) == data
    with pytest.raises(ValueError, match="re-run ingest"):
        stored_bytes({"bytes": None, "path": None})
