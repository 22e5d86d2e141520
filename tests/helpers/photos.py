"""Test photos: real JPEG/PNG/WebP bytes made with Pillow, optionally carrying EXIF GPS tags."""

from __future__ import annotations

import io

from PIL import Image

GPS_IFD = 0x8825
# GPSLatitude 52°22'N, GPSLongitude 4°53'E: Amsterdam, as a phone writes it.
GPS_TAGS = {1: "N", 2: (52.0, 22.0, 12.5), 3: "E", 4: (4.0, 53.0, 30.2)}


def jpeg_with_gps(width: int = 2400, height: int = 1600, *, orientation: int | None = None) -> bytes:
    """A noisy JPEG (so it does not compress to nothing) with GPS, a camera serial and,
    when asked, an EXIF orientation."""
    image = Image.effect_noise((width, height), 64).convert("RGB")
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0xA431] = "SERIAL-123456"  # BodySerialNumber
    exif.get_ifd(GPS_IFD).update(GPS_TAGS)
    if orientation is not None:
        exif[0x0112] = orientation
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95, exif=exif.tobytes())
    return out.getvalue()


def png(width: int = 64, height: int = 48, *, alpha: bool = False) -> bytes:
    image = Image.new(
        "RGBA" if alpha else "RGB", (width, height), (200, 30, 30, 128) if alpha else (200, 30, 30)
    )
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def webp(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(out, "WEBP")
    return out.getvalue()


def has_exif(data: bytes) -> bool:
    with Image.open(io.BytesIO(data)) as image:
        return bool(image.getexif()) or "exif" in image.info
