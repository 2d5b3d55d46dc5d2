"""Photos people upload (needs, rewards, nominations): images only, re-encoded, size-limited, random names.

An upload is trusted for nothing: its name and declared type are ignored, Pillow decides from the content
whether it is a JPEG, PNG, WebP or GIF image at all, refuses decompression bombs, and the picture is
re-encoded as a fresh JPEG (metadata, scripts and trailing bytes are left behind) under a random name.
Photos are served only through `send`, as an attachment with `nosniff` and a CSP that runs nothing.
"""

from __future__ import annotations

import re
import secrets
import warnings
from io import BytesIO
from pathlib import Path
from typing import IO

from flask import Response, current_app, send_file
from flask_babel import lazy_gettext as _l

from domain.errors import Invalid, NotFound

#: The largest upload accepted, in bytes.
MAX_BYTES = 8 * 1024 * 1024
#: The most pixels an upload may decode to (an 8,000 × 5,000 photo); more is treated as a decompression bomb.
MAX_PIXELS = 40_000_000
#: Longest side of the stored picture: enough for a phone screen and a printout.
MAX_SIDE = 1600
FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
NAME = re.compile(r"[0-9a-f]{32}\.jpg")


def folder() -> Path:
    path = Path(current_app.config.get("UPLOAD_FOLDER") or Path(current_app.instance_path) / "uploads")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _not_an_image() -> Invalid:
    return Invalid("photo_invalid", _l("This file is not a photo. Send a JPEG, PNG, WebP or GIF picture."))


def save(stream: IO[bytes]) -> str:
    """Store the photo in `stream` and return its new name. Raises Invalid(photo_invalid, photo_too_large)."""
    from PIL import Image, ImageOps  # here, not at the top: only uploads need Pillow (~2 MB a worker)

    data = stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise Invalid("photo_too_large", _l("The photo is larger than %(mb)s MB.", mb=MAX_BYTES // 2**20))
    if not data:
        raise _not_an_image()
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(BytesIO(data), formats=FORMATS) as probe:
                probe.verify()
            with Image.open(BytesIO(data), formats=FORMATS) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise Invalid("photo_too_large", _l("The picture has too many pixels."))
                image.seek(0)
                picture = ImageOps.exif_transpose(image).convert("RGB")
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise Invalid("photo_too_large", _l("The picture has too many pixels.")) from None
        except (OSError, SyntaxError, ValueError, EOFError):
            raise _not_an_image() from None
    picture.thumbnail((MAX_SIDE, MAX_SIDE))
    name = f"{secrets.token_hex(16)}.jpg"
    picture.save(folder() / name, "JPEG", quality=85, optimize=True)
    return name


def send(name: str) -> Response:
    """The stored photo, as an attachment that no browser will run or sniff as anything else."""
    if not isinstance(name, str) or not NAME.fullmatch(name) or not (folder() / name).is_file():
        raise NotFound("not_found", _l("There is no such photo."))
    response = send_file(folder() / name, mimetype="image/jpeg", as_attachment=True, download_name=name,
                         max_age=3600)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def delete(name: str) -> None:
    if isinstance(name, str) and NAME.fullmatch(name):
        (folder() / name).unlink(missing_ok=True)
