"""SQL pieces the dashboard sections of needs, the market and honours share: counting rows by Beijing month and
taking the median of durations, with the same aggregate queries on SQLite and PostgreSQL.

Months: the ledger and service keep per-month tables; needs, redemptions and votes do not, so their rows are put
in months by a CASE over the month starts of the frame (in Beijing time) and grouped in the database.
Medians: PostgreSQL computes them (`percentile_cont`); SQLite has no median, so there only the durations are
read, sorted, and the middle taken.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from itertools import groupby
from statistics import median

from sqlalchemy import Float, Select, case, cast, func, literal, select

from domain.dashboards import Frame, by_month, month_start
from domain.leaderboards import add_months
from models import db
from models.sql import on_postgresql


def in_frame(frame: Frame, stamp) -> list:
    """Rows whose timestamp falls in the frame's months."""
    return [stamp >= frame.since, stamp < frame.until]


def month_bucket(frame: Frame, stamp):
    """The Beijing month (202611) of a timestamp inside the frame's months, as SQL."""
    return _bucket(stamp, tuple(frame.months))


@lru_cache(maxsize=256)
def _bucket(stamp, months: tuple[int, ...]):
    """Built once per column and months: its dozen comparisons took more CPU than the query they go in."""
    whens = [(stamp < month_start(add_months(m, 1)), m) for m in months[:-1]]
    return case(*whens, else_=months[-1]) if whens else literal(months[-1])


def monthly(frame: Frame, stamp, query: Select, *aggregates: Callable) -> dict[int, list]:
    """The rows of `query` (a filtered select of the columns the aggregates read) whose `stamp` falls in the frame,
    aggregated per month: month → [aggregate(columns of the rows) ...]; months without rows give zeros.

    Grouped over a subquery, so the CASE is written once (PostgreSQL would not match two copies of it)."""
    inner = query.add_columns(month_bucket(frame, stamp).label("month_")).where(*in_frame(frame, stamp)).subquery()
    rows = db.session.execute(select(inner.c.month_, *(aggregate(inner.c) for aggregate in aggregates))
                              .group_by(inner.c.month_))
    return by_month(frame, rows, len(aggregates))


def sum_where(value, condition):
    """The sum of `value` over the rows that meet a condition, as an aggregate (0 without any)."""
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


def count_where(condition):
    """How many rows meet a condition, as an aggregate."""
    return sum_where(1, condition)


def _postgres() -> bool:
    return on_postgresql()


def seconds_between(start, end):
    """`end - start` in seconds, as SQL."""
    if _postgres():
        return cast(func.extract("epoch", end - start), Float)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def median_hours(base: Callable[..., Select], start, end, group=None) -> dict:
    """The median of `end - start` in hours, one decimal, per value of `group` ({None: median} without a group).

    `base(*columns)` makes the filtered select of the rows that count; rows without `end` are left out, and groups
    without any row are missing from the answer."""
    seconds = seconds_between(start, end)
    keys = [group] if group is not None else []
    if _postgres():
        rows = db.session.execute(base(*keys, func.percentile_cont(0.5).within_group(seconds))
                                  .where(end.is_not(None)).group_by(*keys))
        found = {(row[0] if keys else None): row[-1] for row in rows}
    else:
        rows = db.session.execute(base(*keys, seconds).where(end.is_not(None)).order_by(*keys, seconds))
        found = {key: median(row[-1] for row in same)
                 for key, same in groupby(rows, key=lambda row: row[0] if keys else None)}
    return {key: round(value / 3600, 1) for key, value in found.items() if value is not None}
