"""Photos people upload (needs, rewards, nominations): images only, re-encoded, size-limited, random names.

An upload is trusted for nothing: its name and declared type are ignored, Pillow decides from the content
whether it is a JPEG, PNG, WebP or GIF image at all, refuses decompression bombs, and the picture is
re-encoded as a fresh JPEG (metadata, scripts and trailing bytes are left behind) under a random name.
Photos are served only by blueprints/photos.py, as attachments with `nosniff` and a CSP that runs nothing.
"""

from __future__ import annotations

import re
import secrets
import warnings
from io import BytesIO
from typing import IO

from flask_babel import lazy_gettext as _l

from domain.errors import Invalid
from models.files import folder

#: The largest upload accepted, in bytes.
MAX_BYTES = 8 * 1024 * 1024
#: The most pixels an upload may decode to (an 8,000 × 5,000 photo); more is treated as a decompression bomb.
MAX_PIXELS = 40_000_000
#: Longest side of the stored picture: enough for a phone screen and a printout (static/js/tasks-photos.js
#: scales to the same before sending).
MAX_SIDE = 2048
#: A large JPEG is stored at least this long: decoding at 1/2 or 1/4 scale may leave it between this and MAX_SIDE.
DRAFT_SIDE = MAX_SIDE * 3 // 4
FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
NAME = re.compile(r"[0-9a-f]{32}\.jpg")


def _not_an_image() -> Invalid:
    return Invalid("photo_invalid", _l("This file is not a photo. Send a JPEG, PNG, WebP or GIF picture."))


def _too_many_pixels() -> Invalid:
    return Invalid("photo_too_large", _l("The picture is larger than %(mp)s megapixels: take it at a lower "
                                         "resolution or send a smaller copy.", mp=MAX_PIXELS // 1_000_000))


def save(stream: IO[bytes]) -> str:
    """Store the photo in `stream` and return its new name. Raises Invalid(photo_invalid, photo_too_large).

    The picture's size is read from its header before anything is decoded: over MAX_PIXELS it is refused
    unread. A JPEG is then decoded straight at a reduced scale (1/2, 1/4 or 1/8: libjpeg's draft mode), other
    formats once at full size and reduced at once, so a 40 MP upload costs one decoded copy at most (the memory it
    saves: bench/README.md, measured by bench/uploads.py).
    """
    from PIL import ExifTags, Image, ImageOps  # here, not at the top: only uploads need Pillow (~2 MB a worker)

    data = stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise Invalid("photo_too_large", _l("The photo is larger than %(mb)s MB.", mb=MAX_BYTES // 2**20))
    if not data:
        raise _not_an_image()
    # Pillow itself warns when a header claims more than this and refuses twice as much: both are refusals here.
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(BytesIO(data), formats=FORMATS) as probe:
                if probe.width * probe.height > MAX_PIXELS:  # Image.open read the header only
                    raise _too_many_pixels()
                probe.verify()
            with Image.open(BytesIO(data), formats=FORMATS) as image:
                image.seek(0)
                orientation = image.getexif().get(ExifTags.Base.Orientation)
                if image.mode in ("P", "1"):  # a palette is scaled by picking pixels: give it colours first
                    image = image.convert("RGB")
                # A JPEG decoded at the smallest scale (1/2, 1/4, 1/8) still DRAFT_SIDE long (a 40 MP photo at
                # 1/4: 0.06 s instead of 0.5), then a reduction by a whole factor before the final resampling:
                # memory and time bounded by what is kept, not by what was sent.
                shrink = min(1.0, DRAFT_SIDE / max(image.size))  # the box of the picture's own shape
                image.draft("RGB", (max(1, round(image.width * shrink)), max(1, round(image.height * shrink))))
                image.thumbnail((MAX_SIDE, MAX_SIDE), reducing_gap=2.0)
                picture = image.convert("RGB")
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_many_pixels() from None
        except (OSError, SyntaxError, ValueError, EOFError):
            raise _not_an_image() from None
    if orientation:
        # Turned upright as the camera meant; the picture is re-encoded without any EXIF, so no viewer turns it
        # again.
        picture.getexif()[ExifTags.Base.Orientation] = orientation
        picture = ImageOps.exif_transpose(picture)
    name = f"{secrets.token_hex(16)}.jpg"
    picture.save(folder() / name, "JPEG", quality=85, optimize=True)
    return name


def delete(name: str) -> None:
    if isinstance(name, str) and NAME.fullmatch(name):
        (folder() / name).unlink(missing_ok=True)
