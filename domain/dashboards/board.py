"""A dashboard of an area (every section's charts), one chart by its key and its .xlsx, and the roll-up of the
communities under a street or a district with its .xlsx.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from domain import reports
from domain.access import require
from domain.dashboards.sections import (
    _SECTIONS,
    MONTHS,
    Chart,
    Figure,
    Frame,
    Section,
    Series,
    frame_for,
    sections,
)
from domain.errors import NotFound
from domain.figures import kept_or_made
from domain.leaderboards import ABOVE_COMMUNITY
from models import (
    Area,
    Level,
    db,
    utcnow,
)

__all__ = ["Dashboard", "Rollup", "chart_xlsx", "dashboard", "find_chart", "rollup", "rollup_xlsx"]

# --- the dashboard, one chart, the roll-up ---------------------------------------------------------------------

@dataclass(frozen=True)
class Dashboard:
    frame: Frame
    #: (section, its charts) in page order; a section with nothing to draw keeps its charts (they say so).
    sections: list[tuple[Section, list[Chart]]] = field(default_factory=list)
    #: When the figures were computed (UTC): up to DASHBOARD_CACHE_SECONDS ago when they were kept (domain/figures.py).
    as_of: datetime | None = None


def dashboard(viewer, area: Area, *, months: int = MONTHS, now: datetime | None = None) -> Dashboard:
    """Every section's charts for `area`, as computed for any viewer of it in the last DASHBOARD_CACHE_SECONDS.
    Raises NotFound outside the viewer's staff scope (checked before anything kept is read), Invalid(months_invalid).
    """
    require(viewer, "area.manage", area)
    frame = frame_for(area, months=months, now=now)

    def compute() -> tuple[datetime, list[tuple[str, list[Chart]]]]:
        return utcnow(), [(section.key, section.charts(frame)) for section in sections()]

    # Chart titles and series names are in the reader's language; the months shown move on with the calendar.
    as_of, parts = kept_or_made(f"dashboard:{area.id}:{frame.first}:{frame.last}:{get_locale()}", compute)
    if any(key not in _SECTIONS for key, _charts in parts):  # kept by a process with other sections registered
        as_of, parts = compute()
    return Dashboard(frame, [(_SECTIONS[key], charts) for key, charts in parts], as_of)


def find_chart(viewer, area: Area, key: str, *, months: int = MONTHS, now: datetime | None = None) -> Chart:
    """One chart of the dashboard by its key (for its .xlsx). Raises NotFound."""
    for _section, charts in dashboard(viewer, area, months=months, now=now).sections:
        for chart in charts:
            if chart.key == key:
                return chart
    raise NotFound("not_found", _l("Not found."))


def chart_xlsx(area: Area, chart: Chart, now: datetime):
    """A chart's table as an .xlsx register: its title and area, the generated date, Chinese headers."""
    return reports.write_xlsx(f"{area.name} {chart.title}", chart.headers, chart.rows, now)


@dataclass(frozen=True)
class Rollup:
    frame: Frame
    communities: list[Area]
    #: The street each community lies in (for a district's roll-up).
    streets: dict[int, Area]
    #: (section, its figures, its chart of the charted figures).
    sections: list[tuple[Section, list[Figure], Chart | None]]


def _rollup_chart(section: Section, communities: list[Area], figures: list[Figure]) -> Chart | None:
    charted = [f for f in figures if f.charted]
    if not charted:
        return None
    return Chart(f"rollup_{section.key}", str(section.title), _("Community"), [c.name for c in communities],
                 [Series(f.label, [f.values.get(c.id) or 0 for c in communities]) for f in charted])


def rollup(viewer, area: Area, *, months: int = MONTHS, now: datetime | None = None) -> Rollup:
    """The same figures for each community under a street or district, side by side.

    Raises NotFound outside the viewer's staff scope or for an area that is not a street or district."""
    require(viewer, "area.manage", area)
    if area.level not in ABOVE_COMMUNITY:
        raise NotFound("not_found", _l("Roll-ups are made for a street or a district."))
    frame = frame_for(area, months=months, now=now)
    communities = sorted(db.session.scalars(select(Area).where(Area.id.in_(frame.scope.community_ids))),
                         key=lambda c: c.ancestor_ids)
    streets = {}
    if area.level == Level.district:
        street_by_id = {s.id: s for s in db.session.scalars(
            select(Area).where(Area.parent_id == area.id, Area.level == Level.street))}
        streets = {c.id: street_by_id[c.parent_id] for c in communities if c.parent_id in street_by_id}
    parts = []
    for section in sections():
        if section.rollup is None:
            continue
        figures = section.rollup(frame, communities) if communities else []
        parts.append((section, figures, _rollup_chart(section, communities, figures)))
    return Rollup(frame, communities, streets, parts)


def rollup_xlsx(result: Rollup, now: datetime):
    """The roll-up as one sheet: a line per figure, a column per community, and the total."""
    headers = [_("Figure"), *(c.name for c in result.communities), _("Total")]

    def rows():
        for section, figures, _chart in result.sections:
            for figure in figures:
                yield [f"{section.title} · {figure.label}", *(figure.values.get(c.id) for c in result.communities),
                       figure.total]

    title = f"{result.frame.area.name} {_('Roll-up')} {result.frame.labels[0]}–{result.frame.labels[-1]}"
    return reports.write_xlsx(title, headers, rows(), now)
