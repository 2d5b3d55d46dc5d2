"""Where uploaded files live: the storage beside the database, in the app's instance folder. Photos go to
UPLOAD_FOLDER (else the instance folder's uploads/), roster files waiting for their import to roster-imports/."""

from __future__ import annotations

from pathlib import Path

from flask import current_app


def folder() -> Path:
    """The photos' folder."""
    return _made(Path(current_app.config.get("UPLOAD_FOLDER") or Path(current_app.instance_path) / "uploads"))


def imports_folder() -> Path:
    """The folder of the roster files whose import runs in the background."""
    return _made(Path(current_app.instance_path) / "roster-imports")


def _made(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
