"""Reading needs: the board of the tasks a person sees (the SQL form of the "task.view" rule), with its filters;
one's own needs and claims; a task's history; and the names of the places and categories lists show."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import Select, and_, false, or_, select
from sqlalchemy.orm import aliased, joinedload, selectinload

from domain import categories
from domain.access import MANAGERS, reach_of, scope_clause, team_categories
from domain.paging import paginate
from domain.tasks.states import ACTIVE, STATUS_FILTERS
from models import Area, User, db, utcnow
from models.area import path_under
from models.tasks import Task, TaskClaim, TaskEvent, TaskStatus

__all__ = ["TaskArea", "approvable", "area_label", "area_names", "board", "category_names", "claims_of", "history",
           "mine", "page_of"]

TaskArea = aliased(Area)
#: The people a list of tasks shows, loaded with the list rather than one query per row.
_PEOPLE = (selectinload(Task.resident), selectinload(Task.poster), selectinload(Task.claimant))


def _visible_clause(user: User):
    """Tasks the user sees: their own, those under their head posts, those of fitting teams, those staff manage."""
    if user is None or not getattr(user, "is_authenticated", False):
        return false()
    clauses = [Task.resident_id == user.id, Task.poster_id == user.id,
               scope_clause(user, MANAGERS, TaskArea.path)]
    reach = reach_of(user)
    clauses += [path_under(TaskArea.path, post.area.path) for post in reach.posts]
    for team in reach.teams:
        fits = [c.code for c in categories.categories(team.community, "need", include_hidden=True)
                if team.category in team_categories(c.code)]
        if fits:
            clauses.append(and_(Task.community_id == team.community_id, Task.category.in_(fits)))
    return or_(*clauses)


def approvable():
    """Confirmed by the resident, or done for a resident without an account (staff confirm it by calling)."""
    return or_(Task.status == TaskStatus.confirmed, and_(Task.status == TaskStatus.done, Task.resident_id.is_(None)))


def board(user: User, *, status: str = "active", category: str | None = None, older_than_days: int | None = None,
          escalated: bool = False, now: datetime | None = None) -> Select:
    """A select of the tasks the user sees, filtered, newest first."""
    now = now or utcnow()
    query = select(Task).join(TaskArea, Task.area_id == TaskArea.id).where(_visible_clause(user))
    if status == "to_approve":
        query = query.where(approvable())
    else:
        query = query.where(Task.status.in_(STATUS_FILTERS.get(status, ACTIVE)))
    if category:
        query = query.where(Task.category == category)
    if older_than_days:
        query = query.where(Task.posted_at <= now - timedelta(days=older_than_days))
    if escalated:
        query = query.where(Task.tier < Task.start_tier)
    return query.options(*_PEOPLE).order_by(Task.posted_at.desc(), Task.id.desc())


def mine(user: User) -> Select:
    """Needs the user asked for or recorded, newest first."""
    return select(Task).where(or_(Task.resident_id == user.id, Task.poster_id == user.id)) \
        .options(*_PEOPLE).order_by(Task.posted_at.desc(), Task.id.desc())


def claims_of(user: User) -> Select:
    """The user's claims, newest first, with their tasks."""
    return select(TaskClaim).where(TaskClaim.user_id == user.id) \
        .options(*(joinedload(TaskClaim.task).selectinload(person) for person in
                   (Task.resident, Task.poster, Task.claimant))) \
        .order_by(TaskClaim.claimed_at.desc(), TaskClaim.id.desc())


def page_of(query: Select, page: int, per_page: int) -> tuple[list, int]:
    """`paginate` as (items, total), for blueprints/audit.py, which still imports it from here."""
    found = paginate(query, page, per_page)
    return found.items, found.total


def history(task: Task) -> list[TaskEvent]:
    return list(db.session.scalars(select(TaskEvent).where(TaskEvent.task_id == task.id)
                                   .order_by(TaskEvent.at, TaskEvent.id)))


def area_label(area: Area, names: dict[int, str], community: Area | None = None) -> str:
    """"第一网格 / 1号楼 / 1单元": the path below the community."""
    ids = area.ancestor_ids
    if community is not None and community.id in ids:
        ids = ids[ids.index(community.id) + 1:] or [community.id]
    return " / ".join(names.get(i, "?") for i in ids)


def area_names(areas: Iterable[Area]) -> dict[int, str]:
    ids = {i for area in areas for i in area.ancestor_ids}
    if not ids:
        return {}
    return dict(db.session.execute(select(Area.id, Area.name).where(Area.id.in_(ids))).all())


def category_names(community: Area) -> dict[str, str]:
    return {c.code: c.name for c in categories.categories(community, "need", include_hidden=True)}
