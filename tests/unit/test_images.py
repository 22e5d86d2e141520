"""Photos are re-encoded from pixels only: no EXIF/GPS survives, size and type are bounded."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from burgerwacht.media.images import PhotoRejected, reencode
from tests.helpers.photos import GPS_TAGS, has_exif, jpeg_with_gps, png, webp


def test_jpeg_with_gps_loses_all_exif_and_shrinks_to_mms_size():
    raw = jpeg_with_gps(2400, 1600)
    with Image.open(io.BytesIO(raw)) as before:
        assert before.getexif().get_ifd(0x8825)[2] == GPS_TAGS[2]
    assert len(raw) > 300_000
    photo = reencode(raw)
    assert not has_exif(photo.data)
    assert b"SERIAL-123456" not in photo.data and b"PhoneMaker" not in photo.data
    assert photo.size <= 300_000
    assert (photo.width, photo.height) == (1280, 853)
    with Image.open(io.BytesIO(photo.data)) as after:
        assert after.format == "JPEG" and after.size == (1280, 853)


def test_orientation_is_applied_before_exif_is_dropped():
    photo = reencode(jpeg_with_gps(400, 200, orientation=6))  # 6: rotate 90° clockwise
    assert (photo.width, photo.height) == (200, 400)


def test_png_with_transparency_and_webp_become_jpeg():
    for data, fmt in ((png(alpha=True), "PNG"), (webp(), "WEBP")):
        photo = reencode(data)
        assert photo.source_format == fmt and photo.content_type == "image/jpeg"
        assert photo.data[:3] == b"\xff\xd8\xff"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"GIF89a" + b"\0" * 100, "not a readable"),
        (b"%PDF-1.7 not a photo", "not a readable"),
        (jpeg_with_gps(64, 64)[:200], "damaged"),
    ],
)
def test_bad_files_are_refused_with_a_reason(data, reason):
    with pytest.raises(PhotoRejected, match=reason):
        reencode(data)


def test_gif_is_refused_by_content_not_name():
    out = io.BytesIO()
    Image.new("P", (10, 10)).save(out, "GIF")
    with pytest.raises(PhotoRejected, match="only JPEG, PNG and WebP"):
        reencode(out.getvalue())


def test_size_and_pixel_bombs_are_refused_before_decoding():
    with pytest.raises(PhotoRejected, match="larger than 5 MB"):
        reencode(b"\xff\xd8\xff" + b"\0" * (5 * 1024 * 1024))
    # A PNG header claiming 50,000 × 50,000 pixels (2.5 GP) with almost no data.
    header = (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", 13)
        + b"IHDR"
        + struct.pack(">IIBBBBB", 50_000, 50_000, 8, 2, 0, 0, 0)
    )
    idat = b"IDAT" + zlib.compress(b"\0" * 64)
    bomb = (
        header
        + struct.pack(">I", zlib.crc32(header[12:29]))
        + struct.pack(">I", len(idat) - 4)
        + idat
        + struct.pack(">I", zlib.crc32(idat))
    )
    with pytest.raises(PhotoRejected, match="million pixels"):
        reencode(bomb)


def test_jpeg_comment_icc_and_xmp_do_not_survive():
    out = io.BytesIO()
    Image.effect_noise((300, 200), 40).convert("RGB").save(
        out,
        "JPEG",
        comment=b"SECRET-COMMENT",
        icc_profile=b"ICC-SECRET" * 20,
        xmp=b"<x:xmpmeta>XMP-SECRET</x:xmpmeta>",
    )
    assert b"SECRET-COMMENT" in out.getvalue() and b"XMP-SECRET" in out.getvalue()
    photo = reencode(out.getvalue())
    for secret in (b"SECRET-COMMENT", b"ICC-SECRET", b"XMP-SECRET"):
        assert secret not in photo.data
    with Image.open(io.BytesIO(photo.data)) as clean:
        assert "comment" not in clean.info and "icc_profile" not in clean.info


def test_a_large_jpeg_is_decoded_at_reduced_scale_into_the_same_size():
    out = io.BytesIO()
    Image.linear_gradient("L").resize((5000, 3000)).convert("RGB").save(out, "JPEG", quality=90)
    photo = reencode(out.getvalue())
    assert (photo.width, photo.height) == (1280, 768)
