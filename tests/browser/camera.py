"""A fake camera for Chromium: a .y4m video showing a QR code, and the flags that make Chromium play it.

Measured recipe (docs in NOTES): the file must be 4:2:0 (`C420jpeg`) with grey chroma planes of 128, a mono file
fails with a misleading "device not found"; the camera permission is granted for the exact origin and port.
"""

from __future__ import annotations

from pathlib import Path

import qrcode
from PIL import Image

from tests.browser import CHROMIUM, CHROMIUM_ARGS

#: The picture: 640×480, the code 360 px wide in the middle of a white frame.
WIDTH, HEIGHT, QR_SIZE = 640, 480, 360


def write_y4m(path: Path, text: str) -> Path:
    """A one-frame YUV4MPEG2 video showing `text` as a QR code (Chromium plays it in a loop): the grey picture
    is the luma plane, both chroma planes are 128 (no colour)."""
    code = qrcode.make(text, border=4).get_image().convert("L").resize((QR_SIZE, QR_SIZE), Image.Resampling.NEAREST)
    frame = Image.new("L", (WIDTH, HEIGHT), 255)
    frame.paste(code, ((WIDTH - QR_SIZE) // 2, (HEIGHT - QR_SIZE) // 2))
    chroma = bytes([128]) * (WIDTH // 2 * HEIGHT // 2)
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F30:1 Ip A1:1 C420jpeg\n".encode())
        out.write(b"FRAME\n" + frame.tobytes() + chroma + chroma)
    return path


def launch_with_camera(browser_type, video: Path):
    """Headless Chromium whose camera plays `video`, asking nobody for permission."""
    return browser_type.launch(
        executable_path=str(CHROMIUM), headless=True,
        args=[*CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
              f"--use-file-for-fake-video-capture={video.resolve()}"])
