"""Hours as people read them: star levels, rounding, and the approved minutes of a person by month and year.

Pure arithmetic and the monthly totals' one read; the rest of the package builds on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from domain.ledger import month_of
from models import Area, User, db, utcnow
from models.service import HoursMonthly, ServiceStatus

__all__ = ["LIVE", "STAR_HOURS", "Hours", "hours_of", "hours_text", "round_down", "star_level"]

#: Star volunteer thresholds in hours, 1 to 5 stars (Ministry of Civil Affairs draft, 2012).
STAR_HOURS = (100, 300, 600, 1000, 1500)


#: Records that stand or may still stand: among them a person is in one place at a time.
LIVE = (ServiceStatus.submitted, ServiceStatus.approved)


def star_level(minutes: int) -> int:
    hours = minutes / 60
    return sum(1 for threshold in STAR_HOURS if hours >= threshold)


def round_down(minutes: int, step: int) -> int:
    return minutes - minutes % step if step > 0 else minutes


def hours_text(minutes: int) -> str:
    """Hours shown rounded down to the half hour: 95 minutes → '1.5'."""
    return f"{round_down(minutes, 30) / 60:.1f}"


@dataclass(frozen=True)
class Hours:
    month: int
    year: int
    total: int

    @property
    def stars(self) -> int:
        return star_level(self.total)


def hours_of(person: User, now: datetime | None = None, community: Area | None = None) -> Hours:
    """Approved minutes this month, this year and in all (Beijing calendar), from the monthly totals."""
    this_month = month_of(now or utcnow())
    query = select(HoursMonthly.month, func.sum(HoursMonthly.minutes)).where(HoursMonthly.person_id == person.id)
    if community is not None:
        query = query.where(HoursMonthly.community_id == community.id)
    rows = db.session.execute(query.group_by(HoursMonthly.month)).all()
    return Hours(month=sum(m for month, m in rows if month == this_month),
                 year=sum(m for month, m in rows if month // 100 == this_month // 100),
                 total=sum(m for _, m in rows))
