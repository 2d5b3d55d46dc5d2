"""Template filters and globals: display names of codes, local times, the access check."""

from __future__ import annotations

from flask import Flask
from flask_babel import format_datetime, get_locale

from domain.access import can
from domain.labels import (
    deadline_text,
    level_name,
    points_line_text,
    role_name,
    service_status_name,
    txn_kind_name,
)
from domain.service import hours_text


def local_time(value, style: str = "yyyy-MM-dd HH:mm") -> str:
    return format_datetime(value, style) if value else ""


def deadline(value, with_year: bool = False) -> str:
    """A deadline: its last day at 24:00 when it ends at midnight (domain.labels.deadline_text)."""
    return deadline_text(value, with_year) if value else ""


def init_app(app: Flask) -> None:
    for name in (level_name, role_name, txn_kind_name, points_line_text, service_status_name, local_time, deadline):
        app.add_template_filter(name)
    app.add_template_global(can)
    app.add_template_global(hours_text)
    app.add_template_global(get_locale)
