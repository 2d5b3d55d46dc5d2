"""Taking a need on and seeing it through (接单): claim, mark done, the resident's confirmation, staff's approval
(the claimant is paid the category's points through the ledger under the key "task:<id>", so exactly once),
reopening and withdrawing. Of two claims at once one wins: the status moves by one guarded UPDATE, and a partial
unique index allows one open claim per task."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import IO

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError

from domain import audit, ledger, rules, webhooks
from domain.access import can, capacity
from domain.errors import Conflict, Forbidden, NotFound
from domain.tasks.moves import _end_claim, _move, _tell
from domain.tasks.photos import _attach, _count_photos, _photos_kept
from domain.tasks.reach import is_asker
from domain.tasks.states import _CONFLICTS, _NOT_DONE, ACTIVE, ESCALATING, TEXT_MAX, WAITING, _bad
from domain.tasks.tiers import _deadline, _staff_ids, responsible_ids
from models import TxnKind, User, db, utcnow
from models.tasks import PhotoKind, Task, TaskClaim, TaskStatus

__all__ = ["approve_task", "claim_task", "confirm_task", "mark_done", "points_due", "reopen_task", "withdraw_task"]


def _require_view(actor: User, task: Task) -> None:
    if not can(actor, "task.view", task):
        raise NotFound("not_found", _l("Not found."))


def points_due(task: Task, now: datetime) -> int:
    """The points its claimant is paid when it is approved: the category's rule as it stood when the work was done."""
    return rules.rule_value(task.community, f"task.{task.category}", task.done_at or now)


def claim_task(actor: User, task: Task, *, now: datetime | None = None) -> Task:
    """Take a need on (接单). Its deadline to be resolved starts now, at its tier.

    Raises NotFound (outside the actor's reach), Forbidden(not_allowed_to_claim) for the resident who asked and
    those who only see it, Conflict(already_claimed, need_withdrawn).
    """
    now = now or utcnow()
    _require_view(actor, task)
    how = capacity(actor, task)
    if how is None or is_asker(actor, task):
        raise Forbidden("not_allowed_to_claim", _l("Heads of the area, fitting teams and staff take needs on; "
                                                   "not the resident who asked."))
    taken = (_CONFLICTS[TaskStatus.claimed][0], _CONFLICTS[TaskStatus.claimed][1])
    _move(task, WAITING, TaskStatus.claimed, actor, "claimed", now, note=how.team.name if how.team else None,
          values={"claimant_id": actor.id, "claimed_at": now, "due_at": _deadline(task, task.category, task.tier, now),
                  "first_claimed_at": func.coalesce(Task.first_claimed_at, now)},
          done=taken, confirmed=taken, approved=taken)
    try:
        with db.session.begin_nested():
            db.session.add(TaskClaim(task_id=task.id, user_id=actor.id, capacity=how.kind,
                                     team_id=how.team.id if how.team else None, claimed_at=now))
    except IntegrityError:  # the partial unique index: never two open claims, whatever happened above
        raise Conflict(*_CONFLICTS[TaskStatus.claimed]) from None
    _tell([task.resident_id], "task.claimed", task, now, actor, name=actor.name)
    webhooks.emit("need.claimed", task.community, {"task_id": task.id, "claimant_id": actor.id, "capacity": how.kind,
                                                   "team_id": how.team.id if how.team else None, "claimed_at": now},
                  now=now)
    return task


def _required(text: str | None, field: str, message) -> str:
    text = (text or "").strip()
    if not text:
        raise _bad(field, "note_required" if field == "note" else "reason_required", message)
    if len(text) > TEXT_MAX:
        raise _bad(field, "text_too_long", _l("At most 2000 characters."))
    return text


def mark_done(actor: User, task: Task, note: str, *, photo_streams: Iterable[IO[bytes]] = (),
              now: datetime | None = None) -> Task:
    """The claimant says it is resolved, with a note and optional photos; the resident is asked to confirm (with no
    resident account, staff confirm it by a follow-up call when they approve).

    Raises NotFound, Forbidden(not_claimant), Invalid(note_required, photos), Conflict(already_done, not_claimed ...).
    """
    now = now or utcnow()
    _require_view(actor, task)
    if task.claimant_id != actor.id:
        raise Forbidden("not_claimant", _l("Only whoever took the need on marks it done."))
    note = _required(note, "note", _l("Say what was done."))
    with _photos_kept(photo_streams, already=_count_photos(task, PhotoKind.result)) as names:
        _move(task, (TaskStatus.claimed,), TaskStatus.done, actor, "done", now, note=note,
              values={"done_at": now, "done_note": note, "due_at": None})
        _attach(task, names, PhotoKind.result, actor, now)
    if task.resident_id is not None:
        _tell([task.resident_id], "task.done", task, now, actor)
    else:
        _tell(_staff_ids(task.community_id), "task.to_approve", task, now, actor)
    return task


def confirm_task(actor: User, task: Task, *, resolved: bool, note: str | None = None,
                 now: datetime | None = None) -> Task:
    """The resident who asked says whether it was resolved. Yes: it waits for staff to approve. No (with what is
    still wrong): it is reopened for anyone in line to claim, with a fresh deadline at its tier.

    Raises NotFound, Forbidden(not_asker), Invalid(note_required), Conflict(not_done, already_confirmed ...).
    """
    now = now or utcnow()
    _require_view(actor, task)
    if not is_asker(actor, task):
        raise Forbidden("not_asker", _l("Only the resident who asked confirms the outcome."))
    claimant = task.claimant_id
    if resolved:
        note = (note or "").strip()[:TEXT_MAX] or None
        _move(task, (TaskStatus.done,), TaskStatus.confirmed, actor, "confirmed", now, note=note,
              values={"resolved_at": now}, **_NOT_DONE)
        _tell([claimant], "task.confirmed", task, now, actor)
        _tell(_staff_ids(task.community_id), "task.to_approve", task, now, actor)
        return task
    note = _required(note, "note", _l("Say what is still wrong."))
    _move(task, (TaskStatus.done,), TaskStatus.reopened, actor, "not_resolved", now, note=note,
          values=_released(task, now), **_NOT_DONE)
    _end_claim(task, "not_resolved", now)
    _tell([claimant], "task.not_resolved", task, now, actor)
    _tell(responsible_ids(task), "task.reopened", task, now, actor)
    return task


def _released(task: Task, now: datetime) -> dict:
    """A task back in line: no claimant, nothing done, a fresh deadline at its tier."""
    return {"claimant_id": None, "claimed_at": None, "done_at": None, "done_note": None, "resolved_at": None,
            "due_at": _deadline(task, task.category, task.tier, now)}


def _check_staff(actor: User, task: Task) -> None:
    """Staff of the task's area decide; others who see it are refused (403), the rest do not learn it exists (404)."""
    if not can(actor, "task.manage", task):
        if can(actor, "task.view", task):
            raise Forbidden("not_staff", _l("Only community staff approve or reopen a need."))
        raise NotFound("not_found", _l("Not found."))


def approve_task(actor: User, task: Task, *, now: datetime | None = None) -> Task:
    """Staff approve a resolved task: the claimant is credited the category's points (as the rule stood when the work
    was done) once, under the key "task:<id>". A task whose resident has no account is approved straight from done,
    staff having confirmed it with them.

    Raises NotFound (scope), Forbidden(not_staff, own_task), Conflict(awaiting_confirmation, already_decided,
    not_done, not_claimed).
    """
    now = now or utcnow()
    _check_staff(actor, task)
    if task.claimant_id == actor.id:
        raise Forbidden("own_task", _l("Nobody approves a task they took on themself."))
    from_ = (TaskStatus.confirmed,) if task.resident_id is not None else (TaskStatus.confirmed, TaskStatus.done)
    waiting = ("awaiting_confirmation", _l("The resident has not confirmed yet that it was resolved."))
    decided = _CONFLICTS[TaskStatus.approved]
    with db.session.begin_nested():
        _move(task, from_, TaskStatus.approved, actor, "approved", now,
              values={"decided_by_id": actor.id, "decided_at": now, "due_at": None,
                      "resolved_at": func.coalesce(Task.resolved_at, now)},
              done=waiting, withdrawn=decided, **_NOT_DONE)
        claimant = db.session.get(User, task.claimant_id)
        points = points_due(task, now)
        txn_id = None
        if points > 0:
            txn = ledger.credit(claimant, task.community, points, kind=TxnKind.task, key=f"task:{task.id}",
                                source=("task", task.id), memo=task.title, actor=actor, now=now)
            txn_id = txn.id
        db.session.execute(update(Task).where(Task.id == task.id).values(points=points, transaction_id=txn_id)
                           .execution_options(synchronize_session=False))
        _end_claim(task, "approved", now)
        db.session.refresh(task)
    audit.record(actor, "task.approve", task, area_id=task.community_id, now=now,
                 after={"claimant_id": task.claimant_id, "points": points})
    _tell([task.claimant_id], "task.approved", task, now, actor, points=points)
    webhooks.emit("need.resolved", task.community, {"task_id": task.id, "claimant_id": task.claimant_id,
                                                    "points": points, "resolved_at": task.resolved_at,
                                                    "approved_at": now}, now=now)
    return task


def reopen_task(actor: User, task: Task, *, reason: str, now: datetime | None = None) -> Task:
    """Staff send a claimed, done or confirmed task back in line (the claim ends), with a reason.

    Raises NotFound (scope), Forbidden(not_staff), Invalid(reason_required), Conflict(already_decided, not_claimed,
    need_withdrawn).
    """
    now = now or utcnow()
    _check_staff(actor, task)
    reason = _required(reason, "reason", _l("Say why it is reopened."))
    claimant = task.claimant_id
    _move(task, (TaskStatus.claimed, TaskStatus.done, TaskStatus.confirmed), TaskStatus.reopened, actor, "reopened",
          now, note=reason, values=_released(task, now), withdrawn=_CONFLICTS[TaskStatus.approved])
    _end_claim(task, "reopened", now)
    audit.record(actor, "task.reopen", task, area_id=task.community_id, reason=reason, now=now,
                 before={"claimant_id": claimant})
    _tell([claimant, task.resident_id, *responsible_ids(task)], "task.reopened", task, now, actor)
    return task


def withdraw_task(actor: User, task: Task, *, reason: str | None = None, now: datetime | None = None) -> Task:
    """The resident who asked (or whoever recorded it) takes a need back before it is done; staff close any active
    need with a reason (a duplicate, resolved by itself ...).

    Raises NotFound, Forbidden(not_allowed), Invalid(reason_required), Conflict.
    """
    now = now or utcnow()
    _require_view(actor, task)
    own = actor.id in (task.resident_id, task.poster_id)
    manager = can(actor, "task.manage", task)
    if not (own or manager):
        raise Forbidden("not_allowed", _l("Only the resident who asked, whoever recorded it and staff withdraw it."))
    if manager and not own:
        reason = _required(reason, "reason", _l("Say why it is withdrawn."))
    reason = (reason or "").strip()[:TEXT_MAX] or None
    claimant = task.claimant_id
    _move(task, ACTIVE if manager else ESCALATING, TaskStatus.withdrawn, actor, "withdrawn", now, note=reason,
          values={"due_at": None})
    _end_claim(task, "withdrawn", now)
    if manager and not own:
        audit.record(actor, "task.withdraw", task, area_id=task.community_id, reason=reason, now=now)
    _tell([claimant], "task.withdrawn", task, now, actor)
    return task

