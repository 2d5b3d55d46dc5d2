"""Browser tests and the README screenshots: the app served for real, driven by Debian's headless Chromium.

Shared by the pytest fixtures (conftest.py) and the screenshot script (screenshots.py): where Chromium
lives and how to launch it, the viewports we care about, and serving a Flask app on a free local port.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server

#: Debian's build; Playwright's own browser downloads are never used (the machines are offline).
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # the tests run as root in a container
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

#: Browser context options per device: a laptop, and a small phone of the kind older volunteers carry.
DEVICES = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 375, "height": 667}, "is_mobile": True, "has_touch": True},
}


class _QuietHandler(WSGIRequestHandler):
    """Logs errors only: a line per request would bury the test output and the script's."""

    def log_request(self, code="-", size="-"):
        pass


def assert_fits_the_screen(page) -> None:
    """Nothing sticks out sideways: a page that scrolls horizontally is broken on a phone."""
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{page.url} is {overflow}px wider than the screen"


def image_width(page, selector: str) -> int:
    """The drawn width of the image at `selector`, once it has loaded (images load asynchronously)."""
    image = page.locator(selector).first
    image.scroll_into_view_if_needed()  # images below the fold may load lazily
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    return image.evaluate("img => img.naturalWidth")


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)


@contextlib.contextmanager
def serve(app: Flask) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 and a free port in a background thread; yield its base URL.

    On exit the server stops and every request thread is joined (socketserver's `block_on_close`),
    so close the browser contexts that talk to it first: their keep-alive connections end with them.
    """
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name=f"live-server-{server.server_port}")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
