"""Needs and tasks: post, claim, done, confirm, approve, reopen, escalate.

A resident posts a need (点单) from a phone, or a head records one on their behalf with the channel it came
through. It belongs to an area, normally the resident's unit, and its community. The unit head answers for it
first; the building and grid heads above, the community's teams whose category fits, and staff see it too,
and any of them may claim it (接单). Of two claims at once one wins: the status moves by one guarded UPDATE,
and a partial unique index allows one open claim per task. The claimant marks it done; the resident who asked
confirms it resolved (or says it was not, which reopens it); staff approve it and the claimant is paid the
category's points through the ledger under the key "task:<id>", so exactly once.

Escalation (小事不出网格、大事不出社区): a task still unclaimed or unresolved at its deadline moves up a tier
(unit head → building head → grid head → community staff; tiers nobody heads are skipped) and gets a new
deadline counted from the old one, so `flask tasks escalate` moves it at the same minutes however often or late
it runs, and a move it has made is never made again. Every move is a line in the task's history.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, false, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, joinedload, selectinload

from domain import audit, categories, ledger, notifications, org, photos, reports, rules
from domain.access import MANAGERS, can, scope_clause
from domain.errors import Conflict, Forbidden, Invalid, NotFound
from models import Area, HeadPost, Level, Role, RoleGrant, TxnKind, User, db, load, utcnow
from models.area import path_under
from models.service import MemberStatus, Team, TeamMember
from models.tasks import Channel, PhotoKind, Task, TaskClaim, TaskEvent, TaskPhoto, TaskStatus

#: Still in somebody's hands: the board's default view.
ACTIVE = (TaskStatus.open, TaskStatus.reopened, TaskStatus.claimed, TaskStatus.done, TaskStatus.confirmed)
WAITING = (TaskStatus.open, TaskStatus.reopened)
#: States in which a deadline runs and the task can move up a tier.
ESCALATING = (TaskStatus.open, TaskStatus.reopened, TaskStatus.claimed)
#: Photos per task and kind (the need's, the result's).
MAX_PHOTOS = 4
TITLE_MAX, TEXT_MAX, NAME_MAX = 100, 2000, 50

#: Need category → the team categories that take such needs on. Any other category (a community's own, or
#: dispute and policy) fits a team category of the same code, if the community has one.
TEAM_CATEGORIES: dict[str, tuple[str, ...]] = {
    "plumbing": ("repairs",),
    "repairs": ("repairs",),
    "elderly_help": ("elderly_care", "health"),
    "safety_hazard": ("safety", "patrol"),
    "environment": ("environment",),
    "other": ("other",),
}

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


def team_categories(need_category: str) -> tuple[str, ...]:
    return TEAM_CATEGORIES.get(need_category, (need_category,))


# --- who is who ----------------------------------------------------------------------------------------------------

def _authenticated(user: User | None) -> bool:
    return user is not None and getattr(user, "is_authenticated", False)


def _posts(user: User) -> list[HeadPost]:
    """The user's current head posts."""
    if not _authenticated(user):
        return []
    return list(db.session.scalars(select(HeadPost).where(HeadPost.user_id == user.id, HeadPost.until.is_(None))))


def _teams(user: User) -> list[Team]:
    """Active teams the user is an active member of (a leader is a member)."""
    if not _authenticated(user):
        return []
    return list(db.session.scalars(
        select(Team).join(TeamMember, TeamMember.team_id == Team.id)
        .where(TeamMember.user_id == user.id, TeamMember.status == MemberStatus.active, Team.active.is_(True))))


@dataclass(frozen=True)
class Reach:
    """A person's current head posts and active teams: read once to judge many tasks (an API list)."""

    posts: list[HeadPost]
    teams: list[Team]


def reach_of(user: User) -> Reach:
    return Reach(_posts(user), _teams(user))


def _fitting_team(teams: list[Team], task: Task) -> Team | None:
    fits = team_categories(task.category)
    return next((t for t in teams if t.community_id == task.community_id and t.category in fits), None)


@dataclass(frozen=True)
class Capacity:
    """Why someone may take a task on: as a head above its area, a member of a fitting team, or staff."""

    kind: str
    team: Team | None = None


def capacity(user: User, task: Task, reach: Reach | None = None) -> Capacity | None:
    if not _authenticated(user):
        return None
    reach = reach or reach_of(user)
    if any(task.area.path.startswith(post.area.path) for post in reach.posts):
        return Capacity("head")
    team = _fitting_team(reach.teams, task)
    if team is not None:
        return Capacity("team", team)
    if can(user, "area.manage", task.area):
        return Capacity("staff")
    return None


def is_asker(user: User, task: Task) -> bool:
    return task.resident_id is not None and task.resident_id == getattr(user, "id", None)


def can_see(user: User, task: Task) -> bool:
    if not _authenticated(user):
        return False
    return user.id in (task.resident_id, task.poster_id) or capacity(user, task) is not None


def is_manager(user: User, task: Task) -> bool:
    return can(user, "area.manage", task.area)


def visible(user: User, task_id: int) -> Task:
    """Load a task the user may see. Raises NotFound otherwise (existence is not disclosed)."""
    task = load(Task, task_id)
    if task is None or not can_see(user, task):
        raise NotFound("not_found", _l("Not found."))
    return task


def actions(user: User, task: Task, reach: Reach | None = None) -> frozenset[str]:
    """What the user may do with the task now, for the pages' buttons (the domain checks again when done)."""
    found: set[str] = set()
    if not _authenticated(user):
        return frozenset()
    own = user.id in (task.resident_id, task.poster_id)
    manager = is_manager(user, task)
    if task.status in WAITING and not is_asker(user, task) and capacity(user, task, reach) is not None:
        found.add("claim")
    if task.status == TaskStatus.claimed and task.claimant_id == user.id:
        found |= {"done", "add_result_photo"}
    if task.status == TaskStatus.done and is_asker(user, task):
        found.add("confirm")
    if manager and task.claimant_id != user.id and (
            task.status == TaskStatus.confirmed or (task.status == TaskStatus.done and task.resident_id is None)):
        found.add("approve")
    if manager and task.status in (TaskStatus.claimed, TaskStatus.done, TaskStatus.confirmed):
        found.add("reopen")
    if (own and task.status in ESCALATING) or (manager and task.status in ACTIVE):
        found.add("withdraw")
    if own and task.status in ESCALATING:
        found.add("add_need_photo")
    return frozenset(found)


# --- tiers and deadlines -------------------------------------------------------------------------------------------

def tier_title(community: Area | None, tier: int) -> str:
    """网格长 / 楼栋长 / 单元长 (or the community's own titles), and community staff above them."""
    return org.head_title(community, tier) if tier else str(_l("Community staff"))


def _heads_by_tier(area: Area) -> dict[int, HeadPost]:
    """Current heads of the area and the areas above it, by tier."""
    return {post.tier: post for post in org.current_heads(area.ancestor_ids).values()}


def _responsible_tier(area: Area, highest: int, resident_id: int | None) -> int:
    """The first tier from `highest` upwards whose area has a head (other than the resident who asked); 0: staff."""
    heads = _heads_by_tier(area)
    for tier in range(highest, 0, -1):
        post = heads.get(tier)
        if post is not None and post.user_id != resident_id:
            return tier
    return 0


def _staff_ids(community_id: int) -> list[int]:
    return list(db.session.scalars(select(RoleGrant.user_id).where(RoleGrant.area_id == community_id,
                                                                   RoleGrant.role == Role.staff)))


def responsible_ids(task: Task, tier: int | None = None) -> list[int]:
    """Who answers for the task at `tier` (default: its tier now): that tier's head, or the community's staff."""
    tier = task.tier if tier is None else tier
    if tier:
        post = _heads_by_tier(task.area).get(tier)
        if post is not None:
            return [post.user_id]
    return _staff_ids(task.community_id)


def time_limit(community: Area, category: str, at: datetime) -> timedelta | None:
    """How long a need may wait at one tier: the rule "task.escalate_hours[.<category>]"; 0 hours: no limit."""
    hours = rules.rule_value(community, f"task.escalate_hours.{category}", at)
    return timedelta(hours=hours) if hours > 0 else None


def _deadline(task_or_community, category: str, tier: int, start: datetime) -> datetime | None:
    community = task_or_community.community if isinstance(task_or_community, Task) else task_or_community
    if tier == 0:
        return None
    limit = time_limit(community, category, start)
    return start + limit if limit is not None else None


# --- the one transition function, history and photos ---------------------------------------------------------------

#: What each state means to someone who wanted to move the task, as a conflict.
_CONFLICTS = {
    TaskStatus.open: ("not_claimed", _l("Nobody has taken this need on yet.")),
    TaskStatus.reopened: ("not_claimed", _l("Nobody has taken this need on yet.")),
    TaskStatus.claimed: ("already_claimed", _l("Someone has already taken this need on.")),
    TaskStatus.done: ("already_done", _l("It is already marked done and waits for the resident to confirm.")),
    TaskStatus.confirmed: ("already_confirmed", _l("The resident has already confirmed it; staff approve it next.")),
    TaskStatus.approved: ("already_decided", _l("Staff have already approved it.")),
    TaskStatus.withdrawn: ("need_withdrawn", _l("This need has been withdrawn.")),
}


#: For moves that need a task marked done: any earlier state answers "not done yet".
_NOT_DONE = dict.fromkeys(("open", "reopened", "claimed"), ("not_done", _l("It has not been marked done yet.")))


def _conflict(task: Task, **overrides: tuple[str, object]) -> Conflict:
    code, message = overrides.get(task.status.value) or _CONFLICTS[task.status]
    return Conflict(code, message)


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


@contextmanager
def _photos_kept(streams: Iterable[IO[bytes]], *, already: int = 0):
    """Store the uploads (all of them or none) and yield their names; if the caller then fails, delete them, so a
    refused or rolled-back change leaves no stray file. Raises Invalid(photo_invalid, photo_too_large,
    too_many_photos)."""
    streams = list(streams)
    if already + len(streams) > MAX_PHOTOS:
        message = _l("At most %(n)s photos.", n=MAX_PHOTOS)
        raise Invalid("too_many_photos", message, {"photos": [message]})
    names: list[str] = []
    try:
        for stream in streams:
            try:
                names.append(photos.save(stream))
            except Invalid as refusal:
                raise Invalid(refusal.code, refusal.message, {"photos": [refusal.message]}) from None
        yield names
    except BaseException:
        for name in names:
            photos.delete(name)
        raise


def _attach(task: Task, names: list[str], kind: PhotoKind, actor: User, now: datetime) -> None:
    for name in names:
        db.session.add(TaskPhoto(task_id=task.id, name=name, kind=kind, uploaded_by_id=actor.id, uploaded_at=now))
    if names:
        db.session.flush()


def _count_photos(task: Task, kind: PhotoKind) -> int:
    return db.session.scalar(select(func.count()).select_from(TaskPhoto)
                             .where(TaskPhoto.task_id == task.id, TaskPhoto.kind == kind)) or 0


def _tell(people, kind: str, task: Task, now: datetime, actor: User | None = None, **params) -> None:
    """Notify people about the task (never the one who acted), linking to its page."""
    skip = actor.id if actor is not None else None
    people = [p for p in people if p is not None and (p if isinstance(p, int) else p.id) != skip]
    notifications.notify(people, kind, params={"title": task.title, **params},
                         link=("tasks.show", {"task_id": task.id}), now=now)


# --- posting -------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NeedForm:
    title: str
    description: str
    category: str
    channel: str = Channel.online.value
    #: On someone's behalf: the resident (an account) or just their name.
    resident: User | None = None
    resident_name: str | None = None


def _bad(field: str, code: str, message) -> Invalid:
    return Invalid(code, message, {field: [message]})


def _lives_in(person: User, area: Area) -> bool:
    household = person.household
    return household is not None and household.unit.path.startswith(area.path)


def _can_record_for(actor: User, area: Area) -> bool:
    """Heads above the area and staff record needs on others' behalf."""
    return any(area.path.startswith(post.area.path) for post in _posts(actor)) or can(actor, "area.manage", area)


def _checked(community: Area, area: Area, form: NeedForm, actor: User) -> dict:
    title, description = (form.title or "").strip(), (form.description or "").strip()
    if not title or len(title) > TITLE_MAX:
        raise _bad("title", "title_invalid", _l("Say in a few words what is wrong (at most 100 characters)."))
    if not description or len(description) > TEXT_MAX:
        raise _bad("description", "description_invalid",
                   _l("Describe the problem (at most 2000 characters)."))
    categories.require_category(community, "need", form.category)
    if form.channel not in Channel.__members__:
        raise _bad("channel", "channel_invalid", _l("Choose door-to-door, online or consultation."))
    resident_name = (form.resident_name or "").strip() or None
    if resident_name is not None and len(resident_name) > NAME_MAX:
        raise _bad("resident_name", "resident_invalid", _l("At most 50 characters."))
    resident = form.resident
    own = (resident is None or resident.id == actor.id) and resident_name is None \
        and form.channel == Channel.online and _lives_in(actor, area)
    if own:
        return dict(title=title, description=description, category=form.category, channel=Channel.online,
                    resident_id=actor.id, resident_name=None)
    if not _can_record_for(actor, area):
        raise Forbidden("not_your_area", _l("Heads and staff record needs for the people of their own area; "
                                            "residents post needs about their own home, online."))
    if resident is not None and not _lives_in(resident, area):
        raise _bad("resident_phone", "resident_invalid", _l("This resident does not live in the area chosen."))
    return dict(title=title, description=description, category=form.category, channel=Channel(form.channel),
                resident_id=resident.id if resident is not None else None,
                resident_name=None if resident is not None else resident_name)


def post_need(actor: User, area: Area, form: NeedForm, *, photo_streams: Iterable[IO[bytes]] = (),
              now: datetime | None = None) -> Task:
    """A resident posts a need about their home (online), or a head or staff member records one for someone of
    their area with the channel it came through. It starts with the lowest tier that has a head and that tier's
    deadline; that person and the leaders of fitting teams are told.

    Raises NotFound (area outside the actor's reach, or above a community), Forbidden(not_your_area),
    Invalid(title_invalid, description_invalid, category_invalid, channel_invalid, resident_invalid,
    photo_invalid, photo_too_large, too_many_photos).
    """
    now = now or utcnow()
    community = org.community_of(area)
    if community is None or not (_lives_in(actor, area) or _can_record_for(actor, area)
                                 or can(actor, "area.view", area)):
        raise NotFound("not_found", _l("Not found."))
    values = _checked(community, area, form, actor)
    tier = _responsible_tier(area, area.head_tier or 0, values["resident_id"])
    with _photos_kept(photo_streams) as names:
        task = Task(community_id=community.id, area_id=area.id, poster_id=actor.id, status=TaskStatus.open,
                    tier=tier, start_tier=tier, due_at=_deadline(community, values["category"], tier, now),
                    posted_at=now, **values)
        db.session.add(task)
        db.session.flush()
        _attach(task, names, PhotoKind.need, actor, now)
    own = values["resident_id"] == actor.id
    _log(task, actor, "posted" if own else "recorded", now, status_to=TaskStatus.open, tier_to=tier)
    leaders = db.session.scalars(select(Team.leader_id).where(
        Team.community_id == community.id, Team.active.is_(True), Team.category.in_(team_categories(task.category))))
    _tell([*responsible_ids(task), *leaders], "task.new", task, now, actor)
    return task


def add_photos(actor: User, task: Task, photo_streams: Iterable[IO[bytes]], *, now: datetime | None = None) -> int:
    """The resident or whoever recorded the need adds photos of it while it is unresolved; the claimant adds photos
    of the result while it is claimed. Raises NotFound, Forbidden(not_allowed), Conflict, Invalid (photos)."""
    now = now or utcnow()
    if not can_see(actor, task):
        raise NotFound("not_found", _l("Not found."))
    allowed = actions(actor, task)
    if "add_result_photo" in allowed:
        kind = PhotoKind.result
    elif "add_need_photo" in allowed:
        kind = PhotoKind.need
    elif actor.id in (task.resident_id, task.poster_id, task.claimant_id):
        raise _conflict(task)
    else:
        raise Forbidden("not_allowed", _l("Only the resident, whoever recorded the need and its claimant add photos."))
    with _photos_kept(photo_streams, already=_count_photos(task, kind)) as names:
        if not names:
            raise _bad("photos", "photo_required", _l("Choose a photo."))
        _attach(task, names, kind, actor, now)
        _log(task, actor, "photo", now, note=str(len(names)))
    return len(names)


# --- claiming and resolving ----------------------------------------------------------------------------------------

def claim_task(actor: User, task: Task, *, now: datetime | None = None) -> Task:
    """Take a need on (接单). Its deadline to be resolved starts now, at its tier.

    Raises NotFound (outside the actor's reach), Forbidden(not_allowed_to_claim) for the resident who asked and
    those who only see it, Conflict(already_claimed, need_withdrawn).
    """
    now = now or utcnow()
    if not can_see(actor, task):
        raise NotFound("not_found", _l("Not found."))
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
    if not can_see(actor, task):
        raise NotFound("not_found", _l("Not found."))
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
    if not can_see(actor, task):
        raise NotFound("not_found", _l("Not found."))
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
    if not is_manager(actor, task):
        if can_see(actor, task):
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
        points = rules.rule_value(task.community, f"task.{task.category}", task.done_at or now)
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
    if not can_see(actor, task):
        raise NotFound("not_found", _l("Not found."))
    own = actor.id in (task.resident_id, task.poster_id)
    manager = is_manager(actor, task)
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


# --- escalation ----------------------------------------------------------------------------------------------------

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
        link = ("tasks.show", {"task_id": task.id})
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


# --- reading -------------------------------------------------------------------------------------------------------

TaskArea = aliased(Area)


def _visible_clause(user: User):
    """Tasks the user sees: their own, those under their head posts, those of fitting teams, those staff manage."""
    if not _authenticated(user):
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


#: The board's status filter: a name → the states it shows.
STATUS_FILTERS: dict[str, tuple[TaskStatus, ...]] = {
    "active": ACTIVE,
    "waiting": WAITING,
    "claimed": (TaskStatus.claimed,),
    "done": (TaskStatus.done,),
    "confirmed": (TaskStatus.confirmed,),
    "approved": (TaskStatus.approved,),
    "withdrawn": (TaskStatus.withdrawn,),
    "all": tuple(TaskStatus),
    #: Not a state: what staff can approve now (see `_approvable`).
    "to_approve": (TaskStatus.confirmed, TaskStatus.done),
}


def board(user: User, *, status: str = "active", category: str | None = None, older_than_days: int | None = None,
          escalated: bool = False, now: datetime | None = None) -> Select:
    """A select of the tasks the user sees, filtered, newest first."""
    now = now or utcnow()
    query = select(Task).join(TaskArea, Task.area_id == TaskArea.id).where(_visible_clause(user))
    if status == "to_approve":
        query = query.where(_approvable())
    else:
        query = query.where(Task.status.in_(STATUS_FILTERS.get(status, ACTIVE)))
    if category:
        query = query.where(Task.category == category)
    if older_than_days:
        query = query.where(Task.posted_at <= now - timedelta(days=older_than_days))
    if escalated:
        query = query.where(Task.tier < Task.start_tier)
    return query.options(*_PEOPLE).order_by(Task.posted_at.desc(), Task.id.desc())


#: The people a list of tasks shows, loaded with the list rather than one query per row.
_PEOPLE = (selectinload(Task.resident), selectinload(Task.poster), selectinload(Task.claimant))


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
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    return list(db.session.scalars(query.limit(per_page).offset((page - 1) * per_page))), total


def history(task: Task) -> list[TaskEvent]:
    return list(db.session.scalars(select(TaskEvent).where(TaskEvent.task_id == task.id)
                                   .order_by(TaskEvent.at, TaskEvent.id)))


def photos_of(task: Task) -> list[TaskPhoto]:
    return photos_by_task([task.id])[task.id]


def photos_by_task(task_ids: list[int]) -> dict[int, list[TaskPhoto]]:
    """The photos of several tasks in one query, oldest first."""
    found: dict[int, list[TaskPhoto]] = {task_id: [] for task_id in task_ids}
    if task_ids:
        for photo in db.session.scalars(select(TaskPhoto).where(TaskPhoto.task_id.in_(task_ids))
                                        .order_by(TaskPhoto.uploaded_at, TaskPhoto.id)):
            found[photo.task_id].append(photo)
    return found


def photo_of(user: User, task_id: int, name: str) -> str:
    """The stored name of a photo of a task the user may see. Raises NotFound."""
    task = visible(user, task_id)
    found = db.session.scalar(select(TaskPhoto.name).where(TaskPhoto.task_id == task.id, TaskPhoto.name == name))
    if found is None:
        raise NotFound("not_found", _l("There is no such photo."))
    return found


def _approvable():
    """Confirmed by the resident, or done for a resident without an account (staff confirm it by calling)."""
    return or_(Task.status == TaskStatus.confirmed, and_(Task.status == TaskStatus.done, Task.resident_id.is_(None)))


def recordable_areas(user: User, limit: int = 500) -> list[Area]:
    """Areas (grid, building, unit) under the user's head posts and staff grants where they may record a need,
    by path: for the "record a need" form."""
    roots = [post.area for post in _posts(user)]
    roots += [g.area for g in user.grants if g.role in MANAGERS and g.area is not None
              and g.area.level not in (Level.district, Level.street)]
    if not roots:
        return []
    found = db.session.scalars(
        select(Area).where(or_(*(path_under(Area.path, r.path) for r in roots)),
                           Area.level.in_((Level.community, Level.estate, Level.grid, Level.building, Level.unit)))
        .order_by(Area.path).limit(limit)).all()
    return list(found)


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


def find_resident(area: Area, phone: str) -> User:
    """The person with this phone who lives in the area. Raises Invalid(resident_invalid) on the phone field."""
    phone = (phone or "").replace(" ", "").strip()
    person = db.session.scalar(select(User).where(User.phone == phone)) if phone else None
    if person is None or not person.active or not _lives_in(person, area):
        raise _bad("resident_phone", "resident_invalid", _l("Nobody living in this area has that phone number."))
    return person


# --- display names and the register --------------------------------------------------------------------------------

STATUS_NAMES = {
    TaskStatus.open: _l("Waiting to be taken on"),
    TaskStatus.claimed: _l("Taken on"),
    TaskStatus.done: _l("Done, waiting for the resident"),
    TaskStatus.confirmed: _l("Confirmed, waiting for approval"),
    TaskStatus.approved: _l("Resolved"),
    TaskStatus.reopened: _l("Reopened"),
    TaskStatus.withdrawn: _l("Withdrawn"),
}

CHANNEL_NAMES = {
    Channel.door_to_door: _l("Door-to-door"),
    Channel.online: _l("Online"),
    Channel.consultation: _l("Consultation"),
}

ACTION_NAMES = {
    "posted": _l("Posted"),
    "recorded": _l("Recorded by a head"),
    "claimed": _l("Taken on"),
    "done": _l("Marked done"),
    "confirmed": _l("Confirmed resolved by the resident"),
    "not_resolved": _l("Not resolved, says the resident"),
    "approved": _l("Approved by staff"),
    "reopened": _l("Reopened by staff"),
    "escalated": _l("Moved up"),
    "withdrawn": _l("Withdrawn"),
    "photo": _l("Photos added"),
}


CLAIM_OUTCOMES = {
    "approved": _l("approved"),
    "not_resolved": _l("not resolved, reopened"),
    "reopened": _l("reopened by staff"),
    "withdrawn": _l("withdrawn"),
}


def claim_outcome_name(outcome: str | None) -> str:
    return str(CLAIM_OUTCOMES.get(outcome, outcome or ""))


def status_name(status) -> str:
    return str(STATUS_NAMES[TaskStatus(status)])


def channel_name(channel) -> str:
    return str(CHANNEL_NAMES[Channel(channel)])


def action_name(action: str) -> str:
    return str(ACTION_NAMES.get(action, action))


def category_names(community: Area) -> dict[str, str]:
    return {c.code: c.name for c in categories.categories(community, "need", include_hidden=True)}


def _hours_between(start: datetime | None, end: datetime | None) -> float | str:
    if start is None or end is None:
        return ""
    return round((end - start).total_seconds() / 3600, 1)


def register_xlsx(query: Select, now: datetime | None = None):
    """收集问题台账: the tasks of a board as .xlsx, with the hours it took to claim and to resolve each."""
    now = now or utcnow()

    def rows():
        # Per community, once: its category names and the names of its areas (not a query per row).
        categories_of: dict[int, dict[str, str]] = {}
        places: dict[int, str] = {}
        for task in db.session.scalars(query.execution_options(yield_per=500)):
            if task.community_id not in categories_of:
                categories_of[task.community_id] = category_names(task.community)
                places |= dict(db.session.execute(select(Area.id, Area.name).where(
                    path_under(Area.path, task.community.path))).all())
            yield [task.id, reports.local(task.posted_at), task.community.name,
                   area_label(task.area, places, task.community),
                   categories_of[task.community_id].get(task.category, task.category), task.title,
                   channel_name(task.channel),
                   task.asker_name, status_name(task.status), tier_title(task.community, task.tier),
                   task.claimant.name if task.claimant else "", reports.local(task.first_claimed_at),
                   _hours_between(task.posted_at, task.first_claimed_at), reports.local(task.done_at),
                   reports.local(task.resolved_at), _hours_between(task.posted_at, task.resolved_at),
                   task.points if task.points is not None else ""]

    headers = [_("No."), _("Posted at"), _("Community"), _("Area"), _("Category"), _("Need"), _("Channel"),
               _("Asked by"), _("Status"), _("Answerable now"), _("Taken on by"), _("Taken on at"),
               _("Hours to take on"), _("Done at"), _("Resolved at"), _("Hours to resolve"), _("Points")]
    return reports.write_xlsx(_("Needs register"), headers, rows(), now)

