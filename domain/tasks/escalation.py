"""Escalation (小事不出网格、大事不出社区): a task still unclaimed or unresolved at its deadline moves up a tier (unit
head → building head → grid head → community staff; tiers nobody heads are skipped) and gets a new deadline
counted from the old one, so `flask tasks escalate` moves it at the same minutes however often or late it runs,
and a move it has made is never made again. Every move is a line in the task's history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from domain import notifications
from domain.tasks.moves import _log, link_to
from domain.tasks.states import ESCALATING
from domain.tasks.tiers import _deadline, _responsible_tier, responsible_ids
from models import db, utcnow
from models.tasks import Task, TaskStatus

__all__ = ["due_for_escalation", "escalate_by_id", "escalate_due", "escalate_task"]


def escalate_task(task: Task, *, now: datetime | None = None) -> int:
    """Move the task up for every deadline passed by `now` (one tier each, tiers nobody heads skipped), each move
    dated at its deadline and logged; tell the person it reaches last (and the claimant). Returns the moves made.

    The UPDATE is guarded by the tier it moves from and the deadline it passed: a second run, or two at once,
    cannot move it twice, and a claim made meanwhile (which sets a new deadline) stops it.
    """
    now = now or utcnow()
    moves = 0
    while task.status in ESCALATING and task.tier > 0 and task.due_at is not None and task.due_at <= now:
        tier, due = task.tier, task.due_at
        to = _responsible_tier(task.area, tier - 1, task.resident_id)
        moved = db.session.execute(
            update(Task).where(Task.id == task.id, Task.tier == tier, Task.due_at <= now,
                               Task.status.in_(ESCALATING))
            .values(tier=to, due_at=_deadline(task, task.category, to, due))
            .execution_options(synchronize_session=False)).rowcount
        db.session.refresh(task)
        if moved != 1:
            break
        _log(task, None, "escalated", due, tier_from=tier, tier_to=to)
        moves += 1
    if moves:
        link = link_to(task)
        notifications.notify(responsible_ids(task), "task.escalated", params={"title": task.title}, link=link,
                             dedupe_key=f"task:{task.id}:tier:{task.tier}", now=now)
        if task.status == TaskStatus.claimed:
            notifications.notify([task.claimant_id], "task.overdue", params={"title": task.title}, link=link,
                                 dedupe_key=f"task:{task.id}:overdue:{task.tier}", now=now)
    return moves


def due_for_escalation(*, now: datetime | None = None, limit: int | None = None) -> list[int]:
    """Ids of the tasks past their deadline below the community's tier, in order."""
    now = now or utcnow()
    return list(db.session.scalars(select(Task.id).where(Task.due_at <= now, Task.tier > 0,
                                                         Task.status.in_(ESCALATING)).order_by(Task.id).limit(limit)))


def escalate_by_id(task_id: int, *, now: datetime | None = None) -> int:
    """`escalate_task` of the task with this id: the moves made."""
    return escalate_task(db.session.get(Task, task_id), now=now)


def escalate_due(*, now: datetime | None = None) -> tuple[int, int]:
    """Every task past its deadline, in one transaction (`flask tasks escalate`, domain/jobs, moves each in its own).
    Idempotent. Returns (tasks moved, moves)."""
    moves = [escalate_by_id(task_id, now=now) for task_id in due_for_escalation(now=now)]
    return sum(1 for made in moves if made), sum(moves)

