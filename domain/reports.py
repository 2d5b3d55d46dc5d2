"""Registers (台账): lists exported as .xlsx, written row by row so large ones stay small in memory."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import chain

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import lazyload

from domain import org, xlsx
from domain.labels import txn_kind_name
from models import Area, HeadPost, User, db
from models.area import path_under
from models.base import SHANGHAI


def local(dt: datetime | None) -> str:
    """2026-11-20 20:00: Shanghai time to the minute ("" for None). isoformat: twice as fast as strftime, and a
    register calls this for every timestamp of every row."""
    return dt.astimezone(SHANGHAI).isoformat(" ", "minutes")[:16] if dt else ""


def write_xlsx(title: str, headers: list[str], rows: Iterable[Iterable], now: datetime):
    """A register as an .xlsx temporary file, returned open at its start: title, generated date, headers, rows."""
    return write_sheets([(title, headers, rows)], now)


def write_sheets(sheets: Iterable[tuple[str, list[str], Iterable[Iterable]]], now: datetime):
    """Several lists in one streamed workbook, a sheet each: (title, headers, rows). Titles must differ in their
    first 31 characters (a sheet's name)."""
    generated = _("Generated %(at)s", at=local(now))
    return xlsx.write((title, chain([[title, generated], headers], rows)) for title, headers, rows in sheets)


def _path_names(area: Area, names: dict[int, str]) -> str:
    return " / ".join(names.get(i, "?") for i in area.ancestor_ids)


def heads_register_rows(area: Area) -> Iterator[list]:
    """Current heads under `area`: area path, tier title, name, masked phone, since."""
    in_tree = org.subtree(area).subquery()
    query = (
        select(HeadPost, Area, User)
        .join(Area, HeadPost.area_id == Area.id)
        .join(User, HeadPost.user_id == User.id)
        .where(HeadPost.until.is_(None), HeadPost.area_id.in_(select(in_tree.c.id)))
        .order_by(Area.path)
        .options(lazyload("*"))  # none of the joined relationships (a head's household and grants ...) is shown
    )
    names = dict(db.session.execute(
        select(Area.id, Area.name).where(Area.id.in_(area.ancestor_ids) | path_under(Area.path, area.path))
    ).all())
    communities: dict[int, Area | None] = {}
    for post, post_area, person in db.session.execute(query.execution_options(yield_per=1000)):
        community_id = next((i for i in post_area.ancestor_ids if i in communities), None)
        if community_id is None:
            community = org.community_of(post_area)
            community_id = community.id if community else 0
            communities[community_id] = community
        yield [_path_names(post_area, names), org.head_title(communities[community_id], post.tier),
               person.name, person.masked_phone, local(post.since)]


def heads_register(area: Area, now: datetime):
    headers = [_("Area"), _("Title"), _("Full name"), _("Phone"), _("Since")]
    return write_xlsx(_("Heads register"), headers, heads_register_rows(area), now)


def ledger_register(query, now: datetime):
    """The staff ledger as filtered on the page, every row, as .xlsx."""
    def rows():
        for entry, txn, person in db.session.execute(query.options(lazyload("*")).execution_options(yield_per=1000)):
            yield [local(txn.created_at), person.name, person.masked_phone, txn_kind_name(txn.kind), entry.amount,
                   entry.balance_after, txn.memo or "", txn.id]

    headers = [_("Time"), _("Full name"), _("Phone"), _("Kind"), _("Points"), _("Balance after"), _("Memo"),
               _("Transaction")]
    return write_xlsx(_("Points ledger"), headers, rows(), now)
