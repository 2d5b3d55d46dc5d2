"""One page of a list, and how many there are in all: the one way every page and API list is cut.

Flask-SQLAlchemy's `db.paginate` gives entities only; our lists also page rows of several columns (an entry with its
transaction), so this takes any SELECT: one column gives its values, several give rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, select

from models import db

#: Beyond any real list; keeps OFFSET within what every database accepts.
MAX_PAGE = 100_000


@dataclass(frozen=True)
class Page:
    items: list
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def paginate(query: Select, page: int, per_page: int, *, last_if_past: bool = False) -> Page:
    """Page `page` (from 1) of `query` in its own order, `per_page` at a time, with the count of the whole list.
    `last_if_past`: a page past the end gives the last page (a link followed after rows went away)."""
    page = min(max(1, page), MAX_PAGE)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    if last_if_past:
        page = min(page, max(1, -(-total // per_page)))
    result = db.session.execute(query.limit(per_page).offset((page - 1) * per_page))
    items = result.scalars().all() if len(query.column_descriptions) == 1 else result.all()
    return Page(list(items), total, page, per_page)
