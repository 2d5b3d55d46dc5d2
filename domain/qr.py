"""QR codes: the one place they are drawn (rotating event and personal codes, posters, pickup codes, certificates).

Drawing one is costly (bench/README.md). A rotating code's token is the same for everyone who shows it during its
30-second step, and a screen asks for it again when it reloads, so the images are kept in a small LRU cache keyed by
the text they encode: within a process a token is drawn once. Across processes the browser's cache and `etag` (which
needs no drawing) keep a client from fetching the same token twice.
"""

from __future__ import annotations

import functools
import hashlib
import io

#: Images kept per process. An SVG is about 18 KB: 128 of them are about 2.3 MB, the codes of 128 screens or
#: people in one step.
CACHED = 128


@functools.lru_cache(maxsize=CACHED)
def svg(text: str) -> str:
    """The QR code of `text` as an SVG document (no XML declaration, so it also goes inline in a page)."""
    import qrcode.image.svg  # here, not at the top: qrcode and its SVG writer cost a worker ~4 MB

    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    return image.to_string(encoding="unicode")


@functools.lru_cache(maxsize=CACHED)
def png(text: str, border: int = 2) -> bytes:
    """The QR code of `text` as a PNG image, with a quiet zone of `border` modules."""
    import qrcode  # lazily, as in `svg` (it brings Pillow too)

    buffer = io.BytesIO()
    qrcode.make(text, border=border).save(buffer, format="PNG")
    return buffer.getvalue()


def etag(text: str) -> str:
    """An entity tag of the image of `text`, without drawing it: the same text always gives the same image."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]
