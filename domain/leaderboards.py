"""Leaderboards (排行榜): points or hours, for a month, a year or all time, over an area the caller's roles cover.

Read from the monthly totals (points: `MonthlyTotal.earned`; hours: `HoursMonthly.minutes`), never by scanning
the ledger: one grouped query over at most (people × months) rows, ranked by the database with RANK(), so
equal totals share a place and the next place is skipped (1, 2, 2, 4). Months are calendar months in Beijing
time, as the ledger and the hours count them.

Only people who consented to public lists are named, and then masked (王**); everyone else is "a volunteer".
A community's ranking of a month is kept once the month is over (`snapshot`, run by `flask leaderboards
snapshot`), so a board that was published reads the same later.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, insert, select

from domain.access import require
from domain.errors import Invalid, NotFound, Refused
from domain.figures import kept_or_made
from domain.ledger import month_of
from domain.membership import members
from domain.org import community_of
from models import (
    Area,
    HoursMonthly,
    LeaderboardLine,
    LeaderboardSnapshot,
    Level,
    Metric,
    MonthlyTotal,
    User,
    db,
    utcnow,
)
from models.area import path_under
from models.sql import upsert
from models.user import mask_name

#: Places shown on a board unless the caller asks for another number; and the most that may be asked for.
TOP = 10
MAX_TOP = 100
#: A board never lists more lines than this, even when very many people share the last place shown.
MAX_LINES = 200
#: Places kept in a published monthly ranking.
SNAPSHOT_SIZE = 100

#: Levels that hold communities, and levels inside one.
ABOVE_COMMUNITY = frozenset({Level.district, Level.street})


# --- months and periods ----------------------------------------------------------------------------------------

def month_text(month: int) -> str:
    """202611 → '2026-11'."""
    return f"{month // 100}-{month % 100:02d}"


def add_months(month: int, n: int) -> int:
    """202611 + 2 months → 202701."""
    index = (month // 100) * 12 + (month % 100 - 1) + n
    return (index // 12) * 100 + index % 12 + 1


def months_back(now: datetime, count: int) -> list[int]:
    """The last `count` months up to and including the current one (Beijing time), oldest first."""
    current = month_of(now)
    return [add_months(current, -n) for n in range(count - 1, -1, -1)]


@dataclass(frozen=True)
class Period:
    """A month ('2026-11'), a year ('2026') or all time ('all'), as months from `first` to `last` inclusive."""

    text: str
    first: int | None
    last: int | None

    @property
    def kind(self) -> str:
        return "all" if self.first is None else "year" if len(self.text) == 4 else "month"


_PERIOD = re.compile(r"^(?:(\d{4})-(\d{2})|(\d{4})|all)$")


def parse_period(text: str | None, now: datetime | None = None) -> Period:
    """'2026-11', '2026' or 'all'; nothing means this month (Beijing time). Raises Invalid(period_invalid)."""
    if not text:
        return month_period(month_of(now or utcnow()))
    found = _PERIOD.match(text.strip())
    if found is None or (found[2] and not 1 <= int(found[2]) <= 12) or \
            any(group and not 2000 <= int(group) <= 2999 for group in (found[1], found[3])):
        raise Invalid("period_invalid", _l("Give the period as a month (2026-11), a year (2026) or all."),
                      {"period": [_l("A month (2026-11), a year (2026) or all.")]})
    if found[1]:
        return month_period(int(found[1]) * 100 + int(found[2]))
    if found[3]:
        return Period(found[3], int(found[3]) * 100 + 1, int(found[3]) * 100 + 12)
    return Period("all", None, None)


def month_period(month: int) -> Period:
    return Period(month_text(month), month, month)


def parse_metric(text: str | None) -> Metric:
    """'points' (the default) or 'hours'. Raises Invalid(metric_invalid)."""
    try:
        return Metric(text or Metric.points)
    except ValueError:
        raise Invalid("metric_invalid", _l("The metric is points or hours."),
                      {"metric": [_l("points or hours")]}) from None


# --- the area a board or a figure covers ------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """Which rows of the per-community monthly tables count for an area.

    At or above a community: the rows of every community under it. Inside a community (a grid, a building ...):
    the rows of its community, of the people who belong under the area only.
    """

    area: Area
    community_ids: tuple[int, ...]
    #: Ids of the people under the area, when it lies inside a community; None: everybody in the communities.
    people: Select | None

    def where(self, community_column, person_column) -> list:
        clauses = [community_column.in_(self.community_ids)]
        if self.people is not None:
            clauses.append(person_column.in_(self.people))
        return clauses


def scope_of(area: Area) -> Scope:
    if area.level == Level.community or area.level in ABOVE_COMMUNITY:
        ids = tuple(db.session.scalars(select(Area.id).where(
            Area.level == Level.community, path_under(Area.path, area.path)).order_by(Area.path)))
        return Scope(area, ids, None)
    community = community_of(area)
    return Scope(area, (community.id,) if community else (), members(area))


def scopes_for(user: User) -> list[Area]:
    """The areas whose boards the user may open, widest first: each area a role of theirs sits on, and from it
    down the user's own grid, building and unit when their household lies under it."""
    found: dict[int, Area] = {}
    for grant in user.grants:
        areas = [grant.area] if grant.area is not None else list(db.session.scalars(
            select(Area).where(Area.parent_id.is_(None)).order_by(Area.name)))
        for area in areas:
            found.setdefault(area.id, area)
    home = user.household.unit if user.household is not None else None
    chain = home.ancestor_ids if home is not None else []
    covered = [chain.index(area_id) for area_id in found if area_id in chain]
    if covered:
        for area in db.session.scalars(select(Area).where(Area.id.in_(chain[min(covered) + 1:]))):
            found.setdefault(area.id, area)
    return sorted(found.values(), key=lambda a: (len(a.ancestor_ids), a.ancestor_ids))


def default_scope(user: User) -> Area | None:
    """The widest area the user's roles cover: where a board opens when none is asked for."""
    scopes = scopes_for(user)
    return scopes[0] if scopes else None


# --- boards ----------------------------------------------------------------------------------------------------

def display_name(person: User) -> str:
    """What a public list shows: the masked name of a person who consented, otherwise "a volunteer"."""
    return _shown_name(person.name, person.public_consent)


def _shown_name(name: str, consent: bool) -> str:
    return mask_name(name) if consent else str(_l("a volunteer"))


@dataclass(frozen=True)
class Line:
    rank: int
    person_id: int
    #: Points, or minutes for the hours metric.
    value: int
    name: str
    named: bool
    me: bool


@dataclass(frozen=True)
class Board:
    area: Area
    metric: Metric
    period: Period
    lines: list[Line]
    #: The viewer's own line, wherever it is (None: nothing to rank yet in this area and period).
    mine: Line | None
    #: How many people have anything to rank.
    ranked: int
    #: When the ranking was published (a kept monthly board); None for a live board.
    taken_at: datetime | None = None


def _source(scope: Scope, metric: Metric, period: Period) -> tuple:
    """(the monthly table a metric is summed from, the summed column, the conditions of the scope and period)."""
    table, value = (MonthlyTotal, MonthlyTotal.earned) if metric == Metric.points else \
        (HoursMonthly, HoursMonthly.minutes)
    where = scope.where(table.community_id, table.person_id)
    if period.first is not None:
        where = [*where, table.month >= period.first, table.month <= period.last]
    return table, value, where


def _totals(scope: Scope, metric: Metric, period: Period):
    table, value, where = _source(scope, metric, period)
    return select(table.person_id.label("person_id"), func.sum(value).label("total")) \
        .where(*where).group_by(table.person_id).having(func.sum(value) > 0).subquery()


def _ranked(scope: Scope, metric: Metric, period: Period):
    """Each person's total with their rank, and how many are ranked (the same on every row)."""
    totals = _totals(scope, metric, period)
    return select(totals.c.person_id, totals.c.total,
                  func.rank().over(order_by=totals.c.total.desc()).label("rank"),
                  func.count().over().label("ranked")).subquery()


def _line(rank: int, person: User, value: int, viewer: User | None) -> Line:
    return _line_of(rank, person.id, person.name, person.public_consent, value, viewer)


def _line_of(rank: int, person_id: int, name: str, consent: bool, value: int, viewer: User | None) -> Line:
    return Line(rank=int(rank), person_id=person_id, value=int(value), name=_shown_name(name, consent),
                named=bool(consent), me=viewer is not None and person_id == viewer.id)


def ranking(scope: Scope, metric: Metric, period: Period, *, top: int = TOP) -> tuple[list[Line], int]:
    """(the lines ranked `top` or better, how many are ranked) — from one query, so the totals are summed once (over
    a whole district they are most of the work). The lines are the same for every reader: none is marked `me`."""
    ranked = _ranked(scope, metric, period)
    # The people as three columns, not as User objects: loading those brings their household and roles along.
    rows = db.session.execute(
        select(User.id, User.name, User.public_consent, ranked.c.total, ranked.c.rank, ranked.c.ranked)
        .join(User, User.id == ranked.c.person_id).where(ranked.c.rank <= top)
        .order_by(ranked.c.rank, User.id).limit(MAX_LINES)).all()
    # Rank 1 is always within `top`: no row means nobody is ranked.
    return [_line_of(row.rank, *row[:4], None) for row in rows], int(rows[0].ranked) if rows else 0


def leaderboard(viewer: User, area: Area, *, metric: Metric | str = Metric.points, period: Period | str | None = None,
                top: int = TOP, now: datetime | None = None) -> Board:
    """The live board of `area`. Raises NotFound (the viewer's roles do not cover the area),
    Invalid(period_invalid, metric_invalid, top_invalid)."""
    require(viewer, "leaderboard.view", area)
    metric = parse_metric(metric) if not isinstance(metric, Metric) else metric
    period = period if isinstance(period, Period) else parse_period(period, now)
    if not isinstance(top, int) or not 1 <= top <= MAX_TOP:
        raise Invalid("top_invalid", _l("Ask for 1 to %(n)s places.", n=MAX_TOP))
    scope = scope_of(area)
    # The lines are the same for every reader (names in the reader's language): kept DASHBOARD_CACHE_SECONDS
    # (domain/figures.py); the reader's own line is found apart.
    lines, count = kept_or_made(
        f"board:{area.id}:{metric.value}:{period.text}:{top}:{get_locale()}",
        lambda: ranking(scope, metric, period, top=top))
    lines = [replace(line, me=True) if line.person_id == viewer.id else line for line in lines]
    mine = next((line for line in lines if line.me), None)
    if mine is None and lines:
        mine = _own_line(scope, metric, period, viewer)
    return Board(area=area, metric=metric, period=period, lines=lines, mine=mine, ranked=count)


def _own_line(scope: Scope, metric: Metric, period: Period, viewer: User) -> Line | None:
    """The viewer's line when it is not among the best: their total (their own rows), and their rank, one more than
    the people with more. None when they have nothing to rank (no totals are summed then)."""
    table, value, where = _source(scope, metric, period)
    total = db.session.scalar(select(func.sum(value)).where(*where, table.person_id == viewer.id))
    if not total or total <= 0:
        return None
    totals = _totals(scope, metric, period)
    better = db.session.scalar(select(func.count()).select_from(totals).where(totals.c.total > total))
    return _line_of(better + 1, viewer.id, viewer.name, viewer.public_consent, total, viewer)


# --- published monthly boards ----------------------------------------------------------------------------------

def _community_ids_with_rows(month: int) -> list[int]:
    points = select(MonthlyTotal.community_id).where(MonthlyTotal.month == month, MonthlyTotal.earned > 0)
    hours = select(HoursMonthly.community_id).where(HoursMonthly.month == month, HoursMonthly.minutes > 0)
    return sorted(set(db.session.scalars(points.union(hours))))


def _take(community: Area, month: int, metric: Metric, now: datetime) -> bool:
    """Keep one community's ranking of one metric for `month`, unless it is kept already. Returns whether taken."""
    lines, count = ranking(scope_of(community), metric, month_period(month), top=SNAPSHOT_SIZE)
    snapshot_id = db.session.execute(
        upsert(LeaderboardSnapshot).values(community_id=community.id, month=month, metric=metric.value,
                                                   ranked=count, taken_at=now)
        .on_conflict_do_nothing(index_elements=["community_id", "month", "metric"])
        .returning(LeaderboardSnapshot.id)).scalar_one_or_none()
    if snapshot_id is None:
        return False  # kept before (or by a run at this same moment): a published board never changes
    if lines:
        db.session.execute(insert(LeaderboardLine), [
            {"snapshot_id": snapshot_id, "person_id": line.person_id, "rank": line.rank, "value": line.value}
            for line in lines])
    return True


def last_month(now: datetime | None = None) -> int:
    """The month before this one (Beijing time): the one a monthly snapshot keeps by default."""
    return add_months(month_of(now or utcnow()), -1)


def kept_rankings(month: int) -> tuple[int, int]:
    """(how many rankings `month` has to keep: points and hours of each community with anything in it, how many of
    them are kept)."""
    kept = db.session.scalar(select(func.count()).select_from(LeaderboardSnapshot)
                             .where(LeaderboardSnapshot.month == month))
    return len(_community_ids_with_rows(month)) * len(Metric), kept


def snapshot_items(month: int | None = None, *, now: datetime | None = None) -> list[tuple[int, int, Metric]]:
    """(community id, month, metric) of every ranking to keep of a month that is over; by default last month.
    Raises Refused(month_not_over) for this month or a later one."""
    now = now or utcnow()
    month = month if month is not None else last_month(now)
    if month >= month_of(now):
        raise Refused("month_not_over", _l("A month's ranking is kept once the month is over."))
    return [(community_id, month, metric) for community_id in _community_ids_with_rows(month) for metric in Metric]


def keep(community_id: int, month: int, metric: Metric, *, now: datetime | None = None) -> bool:
    """Keep one community's ranking of one metric for `month`, unless it is kept already. Returns whether taken."""
    taken = _take(db.session.get(Area, community_id), month, metric, now or utcnow())
    db.session.flush()
    return taken


def snapshot(month: int | None = None, *, now: datetime | None = None) -> int:
    """Keep every community's ranking (points and hours) of a month that is over; by default last month.

    Idempotent: a ranking kept once is never taken again, so running it twice (or twice at once) keeps one.
    Returns how many rankings were taken now. Raises Refused(month_not_over) for this month or a later one.
    """
    now = now or utcnow()
    return sum(keep(*item, now=now) for item in snapshot_items(month, now=now))


def published_months(community: Area) -> list[int]:
    """Months with a kept ranking for the community, newest first."""
    return list(db.session.scalars(
        select(LeaderboardSnapshot.month).where(LeaderboardSnapshot.community_id == community.id)
        .distinct().order_by(LeaderboardSnapshot.month.desc())))


def published(viewer: User, community: Area, month: int, metric: Metric | str = Metric.points) -> Board:
    """A kept monthly board of a community, named by today's consent (a withdrawal counts at once).

    Raises NotFound (outside the viewer's roles, not a community, or nothing kept for that month)."""
    if community.level != Level.community:
        raise NotFound("not_found", _l("Not found."))
    require(viewer, "area.view", community)
    metric = parse_metric(metric) if not isinstance(metric, Metric) else metric
    kept = db.session.scalar(select(LeaderboardSnapshot).where(
        LeaderboardSnapshot.community_id == community.id, LeaderboardSnapshot.month == month,
        LeaderboardSnapshot.metric == metric))
    if kept is None:
        raise NotFound("not_found", _l("No ranking was kept for that month."))
    rows = db.session.scalars(select(LeaderboardLine).where(LeaderboardLine.snapshot_id == kept.id)
                              .order_by(LeaderboardLine.rank, LeaderboardLine.person_id)).all()
    lines = [_line(row.rank, row.person, row.value, viewer) for row in rows]
    return Board(area=community, metric=metric, period=month_period(month), lines=lines,
                 mine=next((line for line in lines if line.me), None), ranked=kept.ranked, taken_at=kept.taken_at)
