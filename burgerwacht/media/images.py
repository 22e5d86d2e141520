"""Re-encode an untrusted image into a small, clean JPEG.

Every photo that enters the service (an operator's alert photo, a resident's picture
message, a photo on the public page's tip form) goes through :func:`reencode` before it
is stored or shown:

- only JPEG, PNG and WebP are accepted, by content (Pillow's decoder), never by the
  declared type or file name; anything else is :class:`PhotoRejected`;
- the input size and the pixel count are bounded before decoding (a decompression bomb
  is refused, not decoded);
- a JPEG is decoded at a reduced scale when it is much larger than needed (Pillow's
  ``draft``), so a 24 MP photo costs a few MB, not a hundred;
- the EXIF orientation is applied, then the pixels are copied onto a fresh canvas and
  only that is saved: EXIF (GPS position, camera serial, time), XMP, ICC profiles, JPEG
  comments, PNG text and any trailing data are gone;
- the longest side is at most ``max_side`` (1280 px by default) and the JPEG at most
  ``max_bytes`` (300 kB by default, what MMS carriers accept): the quality steps down,
  then the picture shrinks, until it fits.

Decoding takes memory and a CPU for a moment: callers use :func:`reencode_async`, which
runs it in a thread and lets at most ``DECODE_SLOTS`` decodes run at once per process
(others wait their turn), whichever route the photo came in by.
"""

from __future__ import annotations

import asyncio
import io
import warnings
import weakref
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})
ACCEPTED_TYPES = ("image/jpeg", "image/png", "image/webp")
MAX_INPUT_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 24_000_000  # 24 MP: a phone camera's full size; a bomb is far larger
MAX_SIDE = 1280
MAX_JPEG_BYTES = 300_000
_QUALITIES = (85, 75, 65, 55, 45)
DECODE_SLOTS = 2
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


class PhotoRejected(ValueError):
    """The upload is not a usable photo; ``reason`` is a short English sentence for a
    problem-details answer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Photo:
    data: bytes
    width: int
    height: int
    source_format: str
    content_type: str = "image/jpeg"

    @property
    def size(self) -> int:
        return len(self.data)


def reencode(
    data: bytes,
    *,
    max_side: int = MAX_SIDE,
    max_bytes: int = MAX_JPEG_BYTES,
    max_input_bytes: int = MAX_INPUT_BYTES,
    max_pixels: int = MAX_PIXELS,
) -> Photo:
    """A clean JPEG of ``data`` (see the module docstring), or :class:`PhotoRejected`."""
    if not data:
        raise PhotoRejected("the photo is empty")
    if len(data) > max_input_bytes:
        raise PhotoRejected(f"the photo is larger than {max_input_bytes // (1024 * 1024)} MB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                fmt = probe.format or ""
                if fmt not in ACCEPTED_FORMATS:
                    raise PhotoRejected("only JPEG, PNG and WebP photos are accepted")
                width, height = probe.size
                if width < 1 or height < 1 or width * height > max_pixels:
                    raise PhotoRejected(f"the photo has more than {max_pixels // 1_000_000} million pixels")
                if fmt == "JPEG":
                    # decode at 1/2, 1/4 or 1/8 scale when that still covers max_side
                    probe.draft("RGB", (max_side, max_side))
                probe.load()
                ImageOps.exif_transpose(probe, in_place=True)
                image = probe
    except PhotoRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PhotoRejected(f"the photo has more than {max_pixels // 1_000_000} million pixels") from None
    except UnidentifiedImageError:
        raise PhotoRejected("the file is not a readable JPEG, PNG or WebP photo") from None
    except (OSError, ValueError, SyntaxError, EOFError):
        raise PhotoRejected("the photo is damaged or cut off") from None
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)  # in place, before any copy
    image = _flatten(image)
    clean = Image.new("RGB", image.size)
    clean.paste(image)  # pixels only: nothing of image.info (comment, ICC, EXIF) comes along
    image = clean
    while True:
        for quality in _QUALITIES:
            out = io.BytesIO()
            image.save(out, "JPEG", quality=quality, optimize=True, progressive=True)
            if out.tell() <= max_bytes:
                return Photo(out.getvalue(), image.width, image.height, fmt)
        if max(image.size) <= 160:
            raise PhotoRejected("the photo cannot be made small enough")
        image = image.resize(
            (max(1, image.width * 3 // 4), max(1, image.height * 3 // 4)), Image.Resampling.LANCZOS
        )


async def reencode_async(data: bytes, **limits: int) -> Photo:
    """:func:`reencode` in a thread, at most ``DECODE_SLOTS`` at once in this process."""
    loop = asyncio.get_running_loop()
    slots = _slots.get(loop)
    if slots is None:
        slots = _slots[loop] = asyncio.Semaphore(DECODE_SLOTS)
    async with slots:
        return await asyncio.to_thread(reencode, data, **limits)


def _flatten(image: Image.Image) -> Image.Image:
    """RGB pixels only: transparency on white, greys expanded."""
    if image.mode in ("RGBA", "LA"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    if image.mode != "RGB":
        return image.convert("RGB")
    return image
