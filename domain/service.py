"""Service hours: record them truthfully, approve them once, turn them into points, revoke with a reason.

Minutes come from start and end, computed here, never from the client. The daily cap is held by a guarded
counter per person and day, so two submissions at once cannot both slip under it. One person is in one place at a
time: a record that overlaps another live (submitted or approved) record of the same person is refused, whoever
records it and from wherever (oneself, a head, a team leader, an event's attendance); the check runs after a lock on
each person, so two overlapping submissions at once leave one. Approval moves the
record by one guarded UPDATE (of two staff approving at once, one wins) and credits points through the
ledger under the key "service:<id>", so a record is paid at most once whatever happens.
"""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, select, update
from sqlalchemy.orm import aliased

from domain import audit, categories, ledger, rules
from domain.access import areas_of, can, require
from domain.errors import Conflict, Forbidden, Invalid, NotFound, Refused
from domain.ledger import SHANGHAI, month_of
from domain.org import community_of
from models import Area, HeadPost, Transaction, TxnKind, User, db, utcnow
from models.events import Attendance, PointsMode
from models.service import (
    DailyMinutes,
    HoursMonthly,
    MemberStatus,
    ServiceRecord,
    ServiceSource,
    ServiceStatus,
    Team,
    TeamMember,
)
from models.sql import lock_keys, upsert

#: Star volunteer thresholds in hours, 1 to 5 stars (Ministry of Civil Affairs draft, 2012).
STAR_HOURS = (100, 300, 600, 1000, 1500)
#: A record is on time up to this many days after the service; later only as a late entry.
SUBMISSION_DAYS = 7
#: A clock a few minutes fast on a phone is not a service in the future.
CLOCK_SKEW = timedelta(minutes=5)
#: The longest one record may cover; it also bounds the search for overlaps to one index range.
MAX_RECORD = timedelta(hours=24)
#: Records that stand or may still stand: among them a person is in one place at a time.
LIVE = (ServiceStatus.submitted, ServiceStatus.approved)
#: First key of the PostgreSQL advisory lock taken on a person (the second is their id) while their records are
#: checked for overlaps; a constant of its own so it meets no other advisory lock of the application.
PERSON_LOCK = 1702


def star_level(minutes: int) -> int:
    hours = minutes / 60
    return sum(1 for threshold in STAR_HOURS if hours >= threshold)


def round_down(minutes: int, step: int) -> int:
    return minutes - minutes % step if step > 0 else minutes


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
        require(actor, "area.view", community)
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


@contextmanager
def _atomic(record: ServiceRecord):
    """A savepoint; on failure the record is reloaded, so no half-made decision lingers in memory."""
    try:
        with db.session.begin_nested():
            yield
    except Exception:
        db.session.expire(record)
        raise


def _decide(record: ServiceRecord, actor: User, to: ServiceStatus, reason: str | None, now: datetime,
            *, from_: ServiceStatus = ServiceStatus.submitted) -> None:
    """The one transition function: a guarded UPDATE, so of two deciders at once only one moves it."""
    moved = db.session.execute(
        update(ServiceRecord).where(ServiceRecord.id == record.id, ServiceRecord.status == from_)
        .values(status=to, decided_by_id=actor.id, decided_at=now, decision_reason=reason)
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:
        raise Conflict("already_decided", _l("This record has already been decided."))
    db.session.refresh(record)


def _check_decider(actor: User, record: ServiceRecord) -> None:
    require(actor, "area.manage", record.community)
    if record.person_id == actor.id:
        raise Forbidden("own_record", _l("Nobody approves their own service record."))


def _bump_hours(record: ServiceRecord, sign: int) -> None:
    month = record.service_day.year * 100 + record.service_day.month
    statement = upsert(HoursMonthly).values(person_id=record.person_id, community_id=record.community_id,
                                                    month=month, minutes=sign * record.credited_minutes)
    db.session.execute(statement.on_conflict_do_update(
        index_elements=["person_id", "community_id", "month"],
        set_={"minutes": HoursMonthly.minutes + statement.excluded.minutes}))


def price_of(record: ServiceRecord) -> int:
    """The community's price of the record's hours, as in force when the service happened."""
    per_hour = rules.rule_value(record.community, f"service.per_hour.{record.category}", record.started_at)
    return record.credited_minutes * per_hour // 60


def points_for(record: ServiceRecord) -> int:
    """What approving the record pays: an event's attendance its fixed amount when the event says so, otherwise the
    price of its hours by the category. (Read from the attendance row here, so that this module never imports
    domain.events, which builds on it.)"""
    if record.source == ServiceSource.event:
        attendance = db.session.get(Attendance, record.source_id)
        event = attendance.event if attendance is not None else None
        if event is not None and event.points_mode == PointsMode.fixed:
            return event.points_fixed or 0
    return price_of(record)


def _approve(actor: User, record: ServiceRecord, now: datetime, action: str) -> ServiceRecord:
    with _atomic(record):
        _decide(record, actor, ServiceStatus.approved, None, now)
        points = points_for(record)
        if points > 0:
            txn = ledger.credit(record.person, record.community, points, kind=TxnKind.service,
                                key=f"service:{record.id}", source=("service_record", record.id),
                                memo=record.activity, actor=actor, now=now)
            db.session.execute(update(ServiceRecord).where(ServiceRecord.id == record.id)
                               .values(points=points, transaction_id=txn.id)
                               .execution_options(synchronize_session=False))
        _bump_hours(record, +1)
        db.session.refresh(record)
    audit.record(actor, action, record, area_id=record.community_id, now=now,
                 after={"points": points, "minutes": record.credited_minutes})
    return record


def approve_record(actor: User, record: ServiceRecord, *, now: datetime | None = None) -> ServiceRecord:
    """Approve and credit points once. Raises NotFound (scope), Forbidden(own_record), Conflict(already_decided)."""
    now = now or utcnow()
    _check_decider(actor, record)
    return _approve(actor, record, now, "service.approve")


def approve_automatically(record: ServiceRecord, *, by: User, now: datetime | None = None) -> ServiceRecord:
    """An event's attendance approved as the event was set up to, with no staff decision: the organiser
    stands as the decider. Credits once, like any approval. Raises Conflict(already_decided)."""
    return _approve(by, record, now or utcnow(), "service.auto_approve")


def reject_record(actor: User, record: ServiceRecord, *, reason: str, now: datetime | None = None) -> ServiceRecord:
    """Reject with a reason; the day's minutes are freed. Raises Invalid(reason_required), Conflict, Forbidden."""
    now = now or utcnow()
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("reason_required", _l("Say why the record is rejected."), {"reason": [_l("Required.")]})
    _check_decider(actor, record)
    with _atomic(record):
        _decide(record, actor, ServiceStatus.rejected, reason, now)
        _give_back_daily_minutes(record)
    audit.record(actor, "service.reject", record, area_id=record.community_id, reason=reason, now=now)
    return record


def revoke_record(actor: User, record: ServiceRecord, *, reason: str, now: datetime | None = None) -> ServiceRecord:
    """Undo an approval: the points are reversed, the hours removed. A correction is revoke + a new record.

    Raises Invalid(reason_required), Conflict(already_decided / not approved), Refused(insufficient_points)
    when the person has already spent the points, NotFound (scope).
    """
    now = now or utcnow()
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("reason_required", _l("Say why the record is revoked."), {"reason": [_l("Required.")]})
    require(actor, "area.manage", record.community)
    with _atomic(record):
        _decide(record, actor, ServiceStatus.revoked, reason, now, from_=ServiceStatus.approved)
        if record.transaction_id is not None:
            ledger.reverse_transaction(db.session.get(Transaction, record.transaction_id), actor=actor, reason=reason,
                                       now=now, community=record.community)
        _bump_hours(record, -1)
        _give_back_daily_minutes(record)
    audit.record(actor, "service.revoke", record, area_id=record.community_id, reason=reason, now=now,
                 before={"points": record.points})
    return record


@dataclass
class BulkResult:
    approved: list[ServiceRecord]
    skipped: list[tuple[ServiceRecord, str]]


def bulk_approve(actor: User, records: list[ServiceRecord], *, now: datetime | None = None) -> BulkResult:
    """Approve many at once. Late entries, one's own records and decided ones are skipped with the reason."""
    result = BulkResult([], [])
    for record in records:
        if record.late:
            result.skipped.append((record, str(_l("late entries are approved one by one"))))
            continue
        try:
            result.approved.append(approve_record(actor, record, now=now))
        except (Conflict, Forbidden, NotFound) as refusal:
            result.skipped.append((record, str(refusal.message)))
    return result


def queue(community: Area, *, status: ServiceStatus | None = ServiceStatus.submitted, team_id: int | None = None,
          category: str | None = None, since: date | None = None, until: date | None = None,
          late: bool | None = None):
    """A select of the community's records for the approval queue, oldest service first."""
    query = select(ServiceRecord).where(ServiceRecord.community_id == community.id)
    if status is not None:
        query = query.where(ServiceRecord.status == status)
    if team_id:
        query = query.where(ServiceRecord.team_id == team_id)
    if category:
        query = query.where(ServiceRecord.category == category)
    if since:
        query = query.where(ServiceRecord.service_day >= since)
    if until:
        query = query.where(ServiceRecord.service_day <= until)
    if late is not None:
        query = query.where(ServiceRecord.late.is_(late))
    return query.order_by(ServiceRecord.started_at, ServiceRecord.id)


@dataclass(frozen=True)
class Duplicate:
    """Another live record of the same person that a queued record may duplicate."""

    record_id: int
    community_id: int
    service_day: date
    #: True: their times overlap; False: the same activity on the same day at other times.
    overlaps: bool


def possible_duplicates(records: list[ServiceRecord]) -> dict[int, list[Duplicate]]:
    """For a page of the queue, in one query: each record's possible duplicates, other live records of the same
    person whose times overlap it, or that have the same activity on the same day (the same occasion recorded
    twice, e.g. by the volunteer and by their team leader; overlapping pairs can only be data from before overlaps
    were refused). By record id, the others oldest first."""
    if not records:
        return {}
    other = aliased(ServiceRecord)
    overlaps = and_(other.started_at < ServiceRecord.ended_at, other.ended_at > ServiceRecord.started_at)
    rows = db.session.execute(
        select(ServiceRecord.id, other.id, other.community_id, other.service_day,
               case((overlaps, True), else_=False))
        .join(other, and_(other.person_id == ServiceRecord.person_id, other.id != ServiceRecord.id))
        .where(ServiceRecord.id.in_([r.id for r in records]), other.status.in_(LIVE),
               overlaps | and_(other.service_day == ServiceRecord.service_day,
                               other.activity == ServiceRecord.activity))
        .order_by(ServiceRecord.id, other.started_at, other.id)).all()
    found: dict[int, list[Duplicate]] = {}
    for record_id, other_id, community_id, day, overlapping in rows:
        found.setdefault(record_id, []).append(Duplicate(other_id, community_id, day, bool(overlapping)))
    return found


@dataclass(frozen=True)
class Hours:
    month: int
    year: int
    total: int

    @property
    def stars(self) -> int:
        return star_level(self.total)


def hours_of(person: User, now: datetime | None = None, community: Area | None = None) -> Hours:
    """Approved minutes this month, this year and in all (Beijing calendar), from the monthly totals."""
    this_month = month_of(now or utcnow())
    query = select(HoursMonthly.month, func.sum(HoursMonthly.minutes)).where(HoursMonthly.person_id == person.id)
    if community is not None:
        query = query.where(HoursMonthly.community_id == community.id)
    rows = db.session.execute(query.group_by(HoursMonthly.month)).all()
    return Hours(month=sum(m for month, m in rows if month == this_month),
                 year=sum(m for month, m in rows if month // 100 == this_month // 100),
                 total=sum(m for _, m in rows))


def hours_text(minutes: int) -> str:
    """Hours shown rounded down to the half hour: 95 minutes → '1.5'."""
    return f"{round_down(minutes, 30) / 60:.1f}"


def records_of(person: User):
    return select(ServiceRecord).where(ServiceRecord.person_id == person.id).order_by(
        ServiceRecord.started_at.desc(), ServiceRecord.id.desc())


def recordable_communities(actor: User) -> list[Area]:
    """Communities the actor belongs to, where their own service would be organised."""
    found: dict[int, Area] = {}
    for grant in actor.grants:
        if grant.area is not None:
            community = community_of(grant.area)
            if community is not None:
                found[community.id] = community
    return list(found.values())
