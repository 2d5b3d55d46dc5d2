"""Where uploaded files live: the storage beside the database, one folder per app (UPLOAD_FOLDER, else the instance
folder's uploads/)."""

from __future__ import annotations

from pathlib import Path

from flask import current_app


def folder() -> Path:
    path = Path(current_app.config.get("UPLOAD_FOLDER") or Path(current_app.instance_path) / "uploads")
    path.mkdir(parents=True, exist_ok=True)
    return path
