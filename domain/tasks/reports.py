"""收集问题台账, the needs register: the tasks of a board as .xlsx, with where each is, who took it on, and the hours
it took to take it on and to resolve it."""

from __future__ import annotations

from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import Select, select

from domain import reports
from domain.tasks.queries import area_label, category_names
from domain.tasks.states import channel_name, status_name
from domain.tasks.tiers import tier_title
from models import Area, db, utcnow
from models.area import path_under

__all__ = ["register_xlsx"]


def _hours_between(start: datetime | None, end: datetime | None) -> float | str:
    if start is None or end is None:
        return ""
    return round((end - start).total_seconds() / 3600, 1)


def register_xlsx(query: Select, now: datetime | None = None):
    """收集问题台账: the tasks of a board as .xlsx, with the hours it took to claim and to resolve each."""
    now = now or utcnow()

    def rows():
        # Per community, once: its category names and the names of its areas (not a query per row).
        categories_of: dict[int, dict[str, str]] = {}
        places: dict[int, str] = {}
        for task in db.session.scalars(query.execution_options(yield_per=500)):
            if task.community_id not in categories_of:
                categories_of[task.community_id] = category_names(task.community)
                places |= dict(db.session.execute(select(Area.id, Area.name).where(
                    path_under(Area.path, task.community.path))).all())
            yield [task.id, reports.local(task.posted_at), task.community.name,
                   area_label(task.area, places, task.community),
                   categories_of[task.community_id].get(task.category, task.category), task.title,
                   channel_name(task.channel),
                   task.asker_name, status_name(task.status), tier_title(task.community, task.tier),
                   task.claimant.name if task.claimant else "", reports.local(task.first_claimed_at),
                   _hours_between(task.posted_at, task.first_claimed_at), reports.local(task.done_at),
                   reports.local(task.resolved_at), _hours_between(task.posted_at, task.resolved_at),
                   task.points if task.points is not None else ""]

    headers = [_("No."), _("Posted at"), _("Community"), _("Area"), _("Category"), _("Need"), _("Channel"),
               _("Asked by"), _("Status"), _("Answerable now"), _("Taken on by"), _("Taken on at"),
               _("Hours to take on"), _("Done at"), _("Resolved at"), _("Hours to resolve"), _("Points")]
    return reports.write_xlsx(_("Needs register"), headers, rows(), now)

