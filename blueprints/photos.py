"""Serving stored photos (domain/photos.py checks and stores them): only to people a view has let see them."""

from __future__ import annotations

from flask import Response, send_file
from flask_babel import lazy_gettext as _l

from domain.errors import NotFound
from domain.photos import NAME
from models.files import folder


def send(name: str, *, cacheable: bool = False) -> Response:
    """The stored photo, as an attachment that no browser will run or sniff as anything else.

    Every photo is shown only to signed-in people in scope, so no shared cache may keep one (`private`); a photo
    of a need or a nomination shows people's homes and faces and is not kept on the device either (`no-store`).
    `cacheable` (a reward's picture) lets the browser keep it an hour.
    """
    if not isinstance(name, str) or not NAME.fullmatch(name) or not (folder() / name).is_file():
        raise NotFound("not_found", _l("There is no such photo."))
    response = send_file(folder() / name, mimetype="image/jpeg", as_attachment=True, download_name=name,
                         max_age=3600 if cacheable else None)
    response.headers["Cache-Control"] = "private, max-age=3600" if cacheable else "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
