"""What a dashboard section is and produces (Series, Chart, Figure over a Frame of months), the register of sections
(`register_section`), and the small helpers every section shares.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from statistics import median

from flask_babel import lazy_gettext as _l

from domain.errors import Invalid
from domain.leaderboards import Scope, add_months, month_text, months_back, scope_of
from domain.ledger import SHANGHAI
from models import (
    Area,
    utcnow,
)

__all__ = [
    "_SECTIONS", "MAX_MONTHS", "MONTHS", "Chart", "Figure", "Frame", "Section", "Series", "by_month", "frame_for",
    "hours", "median_hours", "month_start", "register_section", "sections",
]

#: Months a dashboard shows unless asked otherwise, and the most it may show.
MONTHS = 12
MAX_MONTHS = 36
#: Teams on the "top teams" chart.


# --- what a section produces -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Series:
    name: str
    values: list
    #: "bar" or "line".
    kind: str = "bar"
    #: Series with the same stack name are drawn on top of each other.
    stack: str | None = None
    #: 0: the left axis; 1: the right one (a second unit, e.g. points beside hours).
    axis: int = 0


@dataclass(frozen=True)
class Chart:
    """One chart and the table under it: a column of categories (months, areas, teams) and one column per series."""

    key: str
    title: str
    #: Header of the category column: "Month", "Grid", "Team" ...
    category: str
    x: list[str]
    series: list[Series]
    #: Bars lying down, for long category names (teams).
    horizontal: bool = False
    #: Axis names, left then right.
    axes: tuple[str, ...] = ()
    note: str | None = None

    @property
    def headers(self) -> list[str]:
        return [self.category, *(s.name for s in self.series)]

    @property
    def rows(self) -> list[list]:
        return [[label, *(s.values[i] for s in self.series)] for i, label in enumerate(self.x)]

    @property
    def empty(self) -> bool:
        return not self.x or not any(v for s in self.series for v in s.values)

    def spec(self) -> dict:
        """What static/js/charts.js draws, as plain JSON."""
        return {"x": self.x, "horizontal": self.horizontal, "axes": list(self.axes),
                "series": [{"name": s.name, "data": s.values, "kind": s.kind, "stack": s.stack, "axis": s.axis}
                           for s in self.series]}

    def as_dict(self) -> dict:
        return {"key": self.key, "title": self.title, "note": self.note, "chart": self.spec(),
                "table": {"headers": self.headers, "rows": self.rows}}


@dataclass(frozen=True)
class Figure:
    """One line of a roll-up: a value per community, and the total over all of them."""

    key: str
    label: str
    #: community id → value (missing: 0 for counts, nothing for ratios and medians).
    values: dict[int, float | int | None]
    total: float | int | None
    #: Drawn on the section's roll-up chart.
    charted: bool = False


@dataclass(frozen=True)
class Frame:
    """What a section is asked about: an area, the rows that count for it, the months shown (oldest first)."""

    area: Area
    scope: Scope
    months: list[int]
    now: datetime

    @property
    def first(self) -> int:
        return self.months[0]

    @property
    def last(self) -> int:
        return self.months[-1]

    @property
    def labels(self) -> list[str]:
        return [month_text(m) for m in self.months]

    @property
    def since(self) -> datetime:
        """The start of the first month shown, Beijing time."""
        return month_start(self.first)

    @property
    def until(self) -> datetime:
        """The start of the month after the last one shown."""
        return month_start(add_months(self.last, 1))


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    charts: Callable[[Frame], list[Chart]]
    #: Roll-up figures for the communities of a street or district: (frame over the street, communities) → figures.
    rollup: Callable[[Frame, list[Area]], list[Figure]] | None = None
    #: Place on the page: lower first. Built-in sections use 10–40; needs 50, market 60, honours 70.
    order: int = 100


_SECTIONS: dict[str, Section] = {}


def register_section(section: Section) -> Section:
    """Add (or replace, by key) a dashboard section. Call it once from the capability's own module."""
    _SECTIONS[section.key] = section
    return section


def sections() -> list[Section]:
    return sorted(_SECTIONS.values(), key=lambda s: (s.order, s.key))


# --- small helpers sections share ------------------------------------------------------------------------------

def month_start(month: int) -> datetime:
    return datetime(month // 100, month % 100, 1, tzinfo=SHANGHAI)


def hours(minutes) -> float:
    """Minutes as hours with one decimal, for figures and charts (sums, not a person's credited hours)."""
    return round((minutes or 0) / 60, 1)


def by_month(frame: Frame, rows, width: int) -> dict[int, list]:
    """Rows of (month, *`width` values) → month → values, for the frame's months (missing months: zeros)."""
    found = {int(row[0]): list(row[1:]) for row in rows}
    return {m: found.get(m, [0] * width) for m in frame.months}


def frame_for(area: Area, *, months: int = MONTHS, now: datetime | None = None) -> Frame:
    if not isinstance(months, int) or not 1 <= months <= MAX_MONTHS:
        raise Invalid("months_invalid", _l("Show 1 to %(n)s months.", n=MAX_MONTHS),
                      {"months": [_l("1 to %(n)s", n=MAX_MONTHS)]})
    now = now or utcnow()
    return Frame(area=area, scope=scope_of(area), months=months_back(now, months), now=now)


def _in_months(frame: Frame, column) -> list:
    return [column >= frame.first, column <= frame.last]


def median_hours(pairs) -> float | None:
    """The median of (start, end) spans in hours, one decimal; None when there is none. For sections that report
    how long something took (e.g. a need from posting to its first claim)."""
    spans = [(end - start).total_seconds() / 3600 for start, end in pairs if start is not None and end is not None]
    return round(median(spans), 1) if spans else None
