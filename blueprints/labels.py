"""Display names of codes (levels, roles) and display filters for templates."""

from __future__ import annotations

from flask import Flask
from flask_babel import format_datetime, get_locale
from flask_babel import lazy_gettext as _l

from domain.access import can
from models import Level, Role

LEVEL_NAMES = {
    Level.district: _l("District"),
    Level.street: _l("Street"),
    Level.community: _l("Community"),
    Level.estate: _l("Estate"),
    Level.grid: _l("Grid"),
    Level.building: _l("Building"),
    Level.unit: _l("Unit"),
}

ROLE_NAMES = {
    Role.resident: _l("Resident"),
    Role.volunteer: _l("Volunteer"),
    Role.head: _l("Head"),
    Role.team_leader: _l("Team leader"),
    Role.staff: _l("Community staff"),
    Role.admin: _l("Administrator"),
}


def level_name(level) -> str:
    return str(LEVEL_NAMES[Level(level)])


def role_name(role) -> str:
    return str(ROLE_NAMES[Role(role)])


def local_time(value, style: str = "yyyy-MM-dd HH:mm") -> str:
    return format_datetime(value, style) if value else ""


def init_app(app: Flask) -> None:
    app.add_template_filter(level_name)
    app.add_template_filter(role_name)
    app.add_template_filter(local_time)
    app.add_template_global(can)
    app.add_template_global(get_locale)
