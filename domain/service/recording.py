"""Recording service: one occasion for one or more people, all or none. Minutes come from start and end; the daily
cap is a guarded counter per person and day; a record overlapping another live record of the same person is refused,
after a lock on each person (in the one lock order: the community's account, then people by id).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from domain import categories, ledger, rules
from domain.access import areas_of, can, require
from domain.errors import Conflict, Forbidden, Invalid, Refused
from domain.ledger import SHANGHAI
from domain.service.hours import LIVE, hours_text, round_down
from models import Area, HeadPost, User, db, utcnow
from models.service import DailyMinutes, MemberStatus, ServiceRecord, ServiceSource, ServiceStatus, Team, TeamMember
from models.sql import lock_keys, upsert

__all__ = ["CLOCK_SKEW", "MAX_RECORD", "PERSON_LOCK", "SUBMISSION_DAYS", "Occasion", "submit_records"]

#: A record is on time up to this many days after the service; later only as a late entry.
SUBMISSION_DAYS = 7


#: A clock a few minutes fast on a phone is not a service in the future.
CLOCK_SKEW = timedelta(minutes=5)


#: The longest one record may cover; it also bounds the search for overlaps to one index range.
MAX_RECORD = timedelta(hours=24)


#: First key of the PostgreSQL advisory lock taken on a person (the second is their id) while their records are
#: checked for overlaps; a constant of its own so it meets no other advisory lock of the application.
PERSON_LOCK = 1702


@dataclass(frozen=True)
class Occasion:
    """What the recorder says about one occasion of service; people are given separately."""

    started_at: datetime
    ended_at: datetime
    category: str
    activity: str
    place: str
    content: str
    recipients: str | None = None


def _check_occasion(community: Area, occasion: Occasion, now: datetime, late: bool) -> tuple[int, int, date]:
    """Minutes, credited minutes and the service day; raises Invalid/Refused for what cannot be."""
    if occasion.started_at.tzinfo is None or occasion.ended_at.tzinfo is None:
        raise Invalid("time_invalid", _l("Times need a time zone."))
    if occasion.ended_at <= occasion.started_at:
        raise Invalid("time_invalid", _l("The end must be after the start."), {"ended_at": [_l("After the start.")]})
    if occasion.ended_at - occasion.started_at > MAX_RECORD:
        raise Invalid("time_invalid", _l("One record covers at most 24 hours."), {"ended_at": [_l("Too long.")]})
    if occasion.ended_at > now + CLOCK_SKEW:
        raise Refused("service_in_future", _l("Service can only be recorded once it has happened."),
                      {"ended_at": [_l("In the future.")]})
    for name in ("activity", "place", "content"):
        if not (getattr(occasion, name) or "").strip():
            raise Invalid("field_required", _l("Fill in the activity, the place and what was done."),
                          {name: [_l("Required.")]})
    categories.require_category(community, "service", occasion.category)
    if not late and occasion.ended_at < now - timedelta(days=SUBMISSION_DAYS):
        raise Refused("submission_too_late",
                      _l("Records are due within 7 days of the service. Submit it as a late entry for staff to check."))
    minutes = int((occasion.ended_at - occasion.started_at).total_seconds() // 60)
    step = rules.rule_value(community, "hours.rounding_minutes", occasion.started_at)
    credited = round_down(minutes, step)
    if credited == 0:
        raise Refused("service_too_short", _l("Service shorter than %(n)s minutes does not count.", n=step))
    return minutes, credited, occasion.started_at.astimezone(SHANGHAI).date()


def _take_daily_minutes(person: User, day: date, minutes: int, cap: int) -> None:
    """The guarded counter: add `minutes` to the person's day unless that passes the cap."""
    if minutes > cap:
        raise Refused("hours_cap_exceeded", _l("At most %(h)s hours a day count.", h=hours_text(cap)))
    statement = upsert(DailyMinutes).values(person_id=person.id, day=day, minutes=0)
    db.session.execute(statement.on_conflict_do_nothing(index_elements=["person_id", "day"]))
    taken = db.session.execute(
        update(DailyMinutes).where(DailyMinutes.person_id == person.id, DailyMinutes.day == day,
                                   DailyMinutes.minutes + minutes <= cap)
        .values(minutes=DailyMinutes.minutes + minutes).execution_options(synchronize_session=False)
    ).rowcount
    if taken != 1:
        raise Refused("hours_cap_exceeded",
                      _l("%(name)s would have more than %(h)s hours of service on %(day)s.", name=person.name,
                         h=hours_text(cap), day=day.isoformat()))


def _give_back_daily_minutes(record: ServiceRecord) -> None:
    db.session.execute(
        update(DailyMinutes).where(DailyMinutes.person_id == record.person_id, DailyMinutes.day == record.service_day)
        .values(minutes=DailyMinutes.minutes - record.credited_minutes).execution_options(synchronize_session=False))


def _heads_person(actor: User, person: User) -> bool:
    """Does the actor hold a current head post over somewhere the person lives or belongs?"""
    posts = db.session.scalars(select(HeadPost).where(HeadPost.user_id == actor.id, HeadPost.until.is_(None))).all()
    return any(area.path.startswith(post.area.path) for post in posts for area in areas_of(person))


def _source_for(actor: User, community: Area, people: list[User], team: Team | None) -> ServiceSource:
    """Who may record whose service: oneself; a team leader their active members; a head the people of
    their area; staff anyone of their community. Raises Forbidden/NotFound otherwise."""
    if team is not None:
        if team.community_id != community.id:
            raise Invalid("team_invalid", _l("The team belongs to another community."))
        if team.leader_id != actor.id and not can(actor, "area.manage", community):
            raise Forbidden("not_team_leader", _l("Only the team's leader records service for the team."))
        members = set(db.session.scalars(select(TeamMember.user_id).where(
            TeamMember.team_id == team.id, TeamMember.status == MemberStatus.active)))
        outsiders = [p.name for p in people if p.id not in members]
        if outsiders:
            raise Refused("not_team_members", _l("Not members of the team: %(names)s", names=", ".join(outsiders)))
        return ServiceSource.team
    if [p.id for p in people] == [actor.id]:
        require(actor, "service.record_own", community)
        return ServiceSource.self_
    if can(actor, "area.manage", community):
        for person in people:
            require(actor, "person.view", person)
        return ServiceSource.head
    for person in people:
        if not _heads_person(actor, person):
            raise Forbidden("not_your_area",
                            _l("You can record service only for yourself or the people you look after."))
    return ServiceSource.head


def _lock_people(community: Area, people: list[User]) -> None:
    """Hold each person for the rest of the transaction, so that checking for overlaps and then inserting is one
    step for them (two overlapping submissions at once: the second checks once the first has committed).

    On PostgreSQL, in this order: the community's issued account (`ledger.lock_community_first`), then each person
    by ascending id. Closing an event records attendance after attendance and approves each in one transaction, so
    from its first approval on it holds the community's account when it comes to lock the next person; a second
    closing that had locked that person and then wanted the account to approve them would wait in a circle with it
    (PostgreSQL's deadlock detector then kills one: seen with two events of the same hour closed at once). Taking
    the account before any person (the ledger's rule: the community's before a person's) makes every recorder wait
    before it holds anyone; plain submissions take it too, so the order has no exception (they hold it for a few
    milliseconds). Ascending ids keep two leaders recording overlapping sets of people at once from locking them
    crosswise. The person locks are transaction-level advisory locks: released at COMMIT or ROLLBACK (or with the
    savepoint they were taken in), and on no row, so nothing else about a person waits for them. On SQLite a write
    transaction is already the only writer (BEGIN IMMEDIATE, models/sqlite.py)."""
    ledger.lock_community_first(community)
    lock_keys(PERSON_LOCK, (p.id for p in people))


def _span(started_at: datetime, ended_at: datetime) -> str:
    """2026-11-20 08:00–09:30 in Beijing time (the end's date too when it falls on another day)."""
    start, end = started_at.astimezone(SHANGHAI), ended_at.astimezone(SHANGHAI)
    return f"{start:%Y-%m-%d %H:%M}–{end:%H:%M}" if start.date() == end.date() else \
        f"{start:%Y-%m-%d %H:%M}–{end:%Y-%m-%d %H:%M}"


def _refuse_overlaps(actor: User, people: list[User], occasion: Occasion) -> None:
    """Raises Conflict(overlapping_service) naming, for each person concerned, the first live record of theirs that
    overlaps the occasion (touching ends, 08:00–09:00 then 09:00–10:00, do not overlap). Call after `_lock_people`."""
    clashes = db.session.execute(
        select(ServiceRecord.id, ServiceRecord.person_id, ServiceRecord.started_at, ServiceRecord.ended_at,
               ServiceRecord.activity)
        .where(ServiceRecord.person_id.in_([p.id for p in people]), ServiceRecord.status.in_(LIVE),
               ServiceRecord.started_at < occasion.ended_at,
               ServiceRecord.started_at > occasion.started_at - MAX_RECORD,
               ServiceRecord.ended_at > occasion.started_at)
        .order_by(ServiceRecord.person_id, ServiceRecord.started_at, ServiceRecord.id)).all()
    if not clashes:
        return
    first: dict[int, object] = {}
    for clash in clashes:
        first.setdefault(clash.person_id, clash)
    names = {p.id: p.name for p in people}
    described = [(names[c.person_id], str(_l("#%(id)s %(activity)s, %(span)s", id=c.id, activity=c.activity,
                                             span=_span(c.started_at, c.ended_at)))) for c in first.values()]
    if [p.id for p in people] == [actor.id]:
        message = _l("You already have service recorded at that time: %(record)s.", record=described[0][1])
    else:
        message = _l("Already recorded at that time: %(records)s.",
                     records="; ".join(f"{name} ({record})" for name, record in described))
    raise Conflict("overlapping_service", message, {"started_at": [_l("Overlaps service already recorded.")]},
                   details={"overlapping": [{"record_id": c.id, "person_id": c.person_id,
                                             "started_at": c.started_at.isoformat(),
                                             "ended_at": c.ended_at.isoformat(), "activity": c.activity}
                                            for c in first.values()]})


def submit_records(actor: User, community: Area, people: list[User], occasion: Occasion, *, team: Team | None = None,
                   late: bool = False, source: ServiceSource | None = None, source_id: int | None = None,
                   now: datetime | None = None) -> list[ServiceRecord]:
    """Record one occasion of service for one or more people. All of them or none.

    Raises Invalid (times, fields, category), Refused(submission_too_late, hours_cap_exceeded,
    service_in_future, service_too_short, not_team_members), Conflict(overlapping_service) when a person already
    has a live record overlapping the occasion, Forbidden, NotFound.
    """
    now = now or utcnow()
    if not people:
        raise Invalid("people_required", _l("Choose who served."), {"person_ids": [_l("Required.")]})
    if len({p.id for p in people}) != len(people):
        raise Invalid("people_invalid", _l("Each person once."))
    minutes, credited, day = _check_occasion(community, occasion, now, late)
    source = source or _source_for(actor, community, people, team)
    _lock_people(community, people)
    _refuse_overlaps(actor, people, occasion)
    cap = rules.rule_value(community, "hours.daily_cap_minutes", occasion.started_at)
    batch = str(uuid.uuid4()) if len(people) > 1 else None
    records = []
    with db.session.begin_nested():
        for person in people:
            _take_daily_minutes(person, day, credited, cap)
            record = ServiceRecord(
                person=person, community_id=community.id, team_id=team.id if team else None,
                category=occasion.category, activity=occasion.activity.strip(), place=occasion.place.strip(),
                recipients=(occasion.recipients or "").strip() or None, content=occasion.content.strip(),
                started_at=occasion.started_at, ended_at=occasion.ended_at, minutes=minutes,
                credited_minutes=credited, service_day=day, source=source, source_id=source_id, batch=batch,
                status=ServiceStatus.submitted, late=late, recorder_id=actor.id, submitted_at=now)
            db.session.add(record)
            records.append(record)
        db.session.flush()
    return records
