"""What a browser or a chat app fetches on its own: the favicon at the site's root (browsers and WeChat ask for
/favicon.ico whatever the page links)."""

from __future__ import annotations

from flask import Blueprint, current_app, send_from_directory

bp = Blueprint("share", __name__)


@bp.route("/favicon.ico")
def favicon():
    return send_from_directory(current_app.static_folder, "favicon.ico", mimetype="image/vnd.microsoft.icon",
                               max_age=86400)
