"""The one transition function and what every move leaves behind: a task moves between states by one guarded
UPDATE (of two people acting at once exactly one moves it), each move is a line in the task's history, a claim
ends with an outcome, and the people concerned are told, with a link to the need's page."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import update

from domain import notifications
from domain.tasks.states import _conflict
from models import User, db
from models.tasks import Task, TaskClaim, TaskEvent, TaskStatus

for _kind, _message in (
    ("task.new", _l("New need in your area: %(title)s")),
    ("task.escalated", _l("A need has moved up to you: %(title)s")),
    ("task.overdue", _l("The need you took on is past its time limit and has moved up: %(title)s")),
    ("task.claimed", _l("%(name)s has taken on your need: %(title)s")),
    ("task.done", _l("Your need is marked done. Was it resolved? %(title)s")),
    ("task.to_approve", _l("A need waits for your approval: %(title)s")),
    ("task.confirmed", _l("The resident confirmed it was resolved: %(title)s")),
    ("task.not_resolved", _l("The resident says it is not resolved yet: %(title)s")),
    ("task.approved", _l("Your task was approved: %(points)s points for %(title)s")),
    ("task.reopened", _l("A need was reopened: %(title)s")),
    ("task.withdrawn", _l("A need you took on was withdrawn: %(title)s")),
):
    notifications.register(_kind, _message)


def link_to(task: Task) -> tuple[str, dict]:
    """The need's page, as a notification stores a link (made a URL by the pages when shown)."""
    return "tasks.show", {"task_id": task.id}


def _log(task: Task, actor: User | None, action: str, now: datetime, *, status_from=None, status_to=None,
         tier_from=None, tier_to=None, note: str | None = None) -> TaskEvent:
    event = TaskEvent(task_id=task.id, at=now, actor_id=actor.id if actor else None, action=action,
                      status_from=status_from.value if status_from else None,
                      status_to=status_to.value if status_to else None,
                      tier_from=tier_from, tier_to=tier_to, note=note)
    db.session.add(event)
    return event


def _move(task: Task, from_: Sequence[TaskStatus], to: TaskStatus, actor: User | None, action: str, now: datetime,
          *, values: dict | None = None, note: str | None = None, **conflicts) -> TaskStatus:
    """Move the task from one of `from_` to `to` by a guarded UPDATE, so of two people acting at once exactly one
    moves it; log it. Returns the state it left. Raises Conflict (by the state found) when it was not in `from_`."""
    for state in from_:
        moved = db.session.execute(
            update(Task).where(Task.id == task.id, Task.status == state).values(status=to, **(values or {}))
            .execution_options(synchronize_session=False)).rowcount
        if moved == 1:
            db.session.refresh(task)
            _log(task, actor, action, now, status_from=state, status_to=to, note=note)
            return state
    db.session.refresh(task)
    raise _conflict(task, **conflicts)


def _end_claim(task: Task, outcome: str, now: datetime) -> None:
    db.session.execute(update(TaskClaim).where(TaskClaim.task_id == task.id, TaskClaim.ended_at.is_(None))
                       .values(ended_at=now, outcome=outcome).execution_options(synchronize_session=False))


def _tell(people, kind: str, task: Task, now: datetime, actor: User | None = None, **params) -> None:
    """Notify people about the task (never the one who acted), linking to its page."""
    skip = actor.id if actor is not None else None
    people = [p for p in people if p is not None and (p if isinstance(p, int) else p.id) != skip]
    notifications.notify(people, kind, params={"title": task.title, **params}, link=link_to(task), now=now)
