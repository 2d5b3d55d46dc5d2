"""Uploaded photos: only real images get in, re-encoded under a random name, and go out as attachments."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image

from domain import photos
from domain.errors import DomainError, NotFound
from tests.conftest import UPLOADS


@pytest.fixture
def uploads(app, tmp_path):
    app.config["UPLOAD_FOLDER"] = str(tmp_path)
    with app.test_request_context():
        yield tmp_path
    app.config["UPLOAD_FOLDER"] = UPLOADS


def jpeg(size=(640, 480), **save) -> BytesIO:
    out = BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(out, "JPEG", **save)
    out.seek(0)
    return out


def refusal(data: bytes) -> str:
    with pytest.raises(DomainError) as caught:
        photos.save(BytesIO(data))
    return caught.value.code


def test_a_photo_is_re_encoded_without_its_metadata_under_a_random_name(uploads):
    exif = Image.Exif()
    exif[0x010F] = "Secret Camera Maker"
    exif[0x0112] = 6  # rotated: the stored picture is turned upright
    original = jpeg((640, 480), exif=exif.tobytes())
    name = photos.save(original)
    assert photos.NAME.fullmatch(name)
    stored = (uploads / name).read_bytes()
    assert b"Secret Camera Maker" not in stored
    with Image.open(BytesIO(stored)) as image:
        assert image.format == "JPEG" and image.size == (480, 640)
    assert photos.save(jpeg()) != name


def test_a_large_picture_is_scaled_down(uploads):
    name = photos.save(jpeg((4000, 3000)))
    with Image.open(uploads / name) as image:
        assert photos.DRAFT_SIDE <= max(image.size) <= photos.MAX_SIDE == 2048
    # A picture the browser already scaled keeps its size.
    with Image.open(uploads / photos.save(jpeg((2048, 1536)))) as image:
        assert image.size == (2048, 1536)
    out = BytesIO()
    Image.new("P", (5000, 3000), 3).save(out, "PNG")
    with Image.open(uploads / photos.save(BytesIO(out.getvalue()))) as image:
        assert image.size == (2048, 1229) and image.mode == "RGB"


def test_png_webp_and_gif_are_accepted(uploads):
    for fmt in ("PNG", "WEBP", "GIF"):
        out = BytesIO()
        Image.new("RGB", (50, 50), (1, 2, 3)).save(out, fmt)
        assert photos.NAME.fullmatch(photos.save(BytesIO(out.getvalue())))


def test_a_renamed_html_file_and_other_non_images_are_refused(uploads):
    assert refusal(b"<html><script>alert(1)</script></html>") == "photo_invalid"
    assert refusal(b"") == "photo_invalid"
    assert refusal(b"%PDF-1.4 not a picture") == "photo_invalid"
    truncated = jpeg().getvalue()[:300]
    assert refusal(truncated) == "photo_invalid"
    # An SVG is an image to a browser but can carry script: refused.
    assert refusal(b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>') == "photo_invalid"
    assert list(uploads.iterdir()) == []


def test_an_oversized_file_is_refused_before_decoding(uploads):
    assert refusal(b"\xff\xd8" + b"0" * photos.MAX_BYTES) == "photo_too_large"


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge picture: a decompression bomb."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def test_a_decompression_bomb_is_refused(uploads):
    assert refusal(_png_claiming(60_000, 60_000)) == "photo_too_large"
    assert refusal(_png_claiming(10_000, 5_000)) == "photo_too_large"
    assert list(uploads.iterdir()) == []


def test_one_pixel_over_40_megapixels_is_refused_from_the_header_with_a_clear_message(uploads):
    with pytest.raises(DomainError) as caught:
        photos.save(BytesIO(_png_claiming(8_000, 5_001)))  # its few bytes of pixel data were never decoded
    assert caught.value.code == "photo_too_large"
    assert "40" in str(caught.value.message)  # the limit is named
    # Exactly 40 MP is a photo: decoded (and here found damaged), not refused for its size.
    assert refusal(_png_claiming(8_000, 5_000)) == "photo_invalid"


#: Stores one photo in a process of its own and prints how much its peak memory (VmHWM: its own, where ru_maxrss
#: would count the test process's memory at the fork) grew meanwhile, in KB.
PEAK = """
import sys
from flask import Flask
from domain import photos
import PIL.Image, PIL.PngImagePlugin, PIL.JpegImagePlugin
def peak():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
app = Flask("peak")
app.config["UPLOAD_FOLDER"] = sys.argv[2]
before = peak()
with app.app_context(), open(sys.argv[1], "rb") as stream:
    photos.save(stream)
print(peak() - before)
"""


@pytest.mark.parametrize(("kind", "most_mb"), [("png-7999x5000", 240), ("jpeg-40mp", 60)])
def test_the_largest_photos_are_stored_with_bounded_memory(kind, most_mb, tmp_path):
    """Issue 17: a 117 KB PNG of 7,999 x 5,000 took ~460 MB (copied whole to turn, convert and scale it), and so
    did a 40 MP JPEG. Now a JPEG is decoded at a reduced scale (~30 MB), and a PNG once (its 160 MB of pixels)
    and reduced at once."""
    path = tmp_path / kind
    if kind.startswith("png"):
        Image.new("RGB", (7999, 5000), (90, 140, 200)).save(path, "PNG")
    else:
        Image.linear_gradient("L").resize((8000, 5000)).convert("RGB").save(path, "JPEG", quality=90)
    stored = tmp_path / "stored"
    stored.mkdir()
    done = subprocess.run([sys.executable, "-c", PEAK, str(path), str(stored)], capture_output=True, text=True,
                          timeout=120, check=True, cwd=Path(__file__).resolve().parent.parent)
    assert int(done.stdout) < most_mb * 1024, f"{int(done.stdout) // 1024} MB"
    (name,) = [p.name for p in stored.iterdir()]
    with Image.open(stored / name) as image:
        assert max(image.size) <= photos.MAX_SIDE


def test_photos_go_out_as_attachments_that_run_nothing(uploads):
    from blueprints.photos import send

    name = photos.save(jpeg())
    response = send(name)
    # Shown only to people in scope: no shared cache keeps one, and a need's photo is not kept on the device.
    assert set(response.headers["Cache-Control"].split(", ")) == {"private", "no-store"}
    response.close()
    response = send(name, cacheable=True)
    assert set(response.headers["Cache-Control"].split(", ")) == {"private", "max-age=3600"}
    assert response.mimetype == "image/jpeg"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    response.close()
    for bad in ("../secret_key", name.replace(".jpg", ".html"), "x" * 32 + ".jpg", 7):
        with pytest.raises(NotFound):
            send(bad)
    photos.delete(name)
    with pytest.raises(NotFound):
        send(name)
