"""The demo's service and events: teams on their rounds and eighteen months of service, approved at the end in the
order of their time; events past, on now and coming, with their attendance.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import select

from domain import events, ledger, org, service, teams
from domain.demo.data import HISTORY_DAYS, LOGINS, SERVICES, SOON, TEAMS, _EventPlan, _TeamPlan
from domain.demo.helpers import _at, _heads, _local, _Timeline, _working_day_after
from domain.errors import DomainError
from models import (
    Area,
    Event,
    Level,
    Team,
    User,
    db,
)


def _seed_service(staff: User, community: Area, people: list[User], now: datetime, rng: random.Random,
                  timeline: _Timeline) -> None:
    """Teams out on their rounds, and eighteen months of service: mostly approved (with their points), some
    waiting in the queue, one rejected, one late entry; and a staff correction (the market seeds redemptions)."""
    if len(people) < 12:
        return
    since = now - timedelta(days=HISTORY_DAYS + 20)
    crews = []
    for plan, leader, members in ((TEAMS[0], people[0], people[1:6]), (TEAMS[1], people[6], people[7:12])):
        team = teams.create_team(staff, community, name=plan.name, category=plan.category, leader=leader,
                                 services=plan.services, now=since)
        for n, member in enumerate(members):
            teams.add_member(staff, team, member, now=since + timedelta(days=n + 1))
        crews.append((team, plan, [leader, *members]))
    # The showcases first (a late entry, a rejected record): the history after them skips what would overlap them,
    # as a person is in one place at a time.
    late_start = (now - timedelta(days=20)).replace(hour=2, minute=0, second=0, microsecond=0)
    service.submit_records(people[2], community, [people[2]], service.Occasion(
        started_at=late_start, ended_at=late_start + timedelta(hours=2), category="health", activity="义诊协助",
        place="社区卫生站", content="协助医生为老人量血压"), late=True, now=now)
    team = crews[0][0]
    rejected = service.submit_records(team.leader, community, [people[3], people[4]], service.Occasion(
        started_at=now - timedelta(days=2, hours=5), ended_at=now - timedelta(days=2, hours=3),
        category="elderly_care", activity="敬老院慰问", place="敬老院", content="为老人表演节目"),
        team=team, now=now)
    service.reject_record(staff, rejected[0], reason="当天未参加，队长误登记", now=now)
    for team, plan, crew in crews:
        _seed_team_service(staff, community, team, plan, crew, now, rng, timeline)
    for index, person in enumerate(people):
        for n in range(rng.randint(1, 3)):
            category, activity, content = rng.choice(SERVICES)
            pending = n == 0 and index % 3 == 0  # recent, still waiting in the staff queue
            days_ago = rng.randint(1, 5) if pending else rng.randint(8, HISTORY_DAYS)
            start = (now - timedelta(days=days_ago)).replace(hour=1 + rng.randint(0, 8), minute=0, second=0,
                                                             microsecond=0)
            try:
                record = service.submit_records(person, community, [person], service.Occasion(
                    started_at=start, ended_at=start + timedelta(minutes=rng.choice([60, 90, 120, 150, 180])),
                    category=category, activity=activity, place=f"{community.name}活动室", content=content),
                    now=now if pending else start + timedelta(days=1))[0]
            except DomainError:
                continue  # the day is full for this person: the cap works in the demo too
            if not pending:
                approved = _working_day_after(start + timedelta(days=1), rng)
                timeline.at(approved, partial(service.approve_record, staff, record, now=approved))
    corrected = now - timedelta(days=3)
    timeline.at(corrected, partial(ledger.adjust, staff, people[0], community, 5, reason="补录：社区志愿服务日",
                                   key=f"demo:{community.id}:adj", now=corrected))


def _seed_team_service(staff: User, community: Area, team: Team, plan: _TeamPlan, crew: list[User], now: datetime,
                       rng: random.Random, timeline: _Timeline) -> None:
    """The team's rounds, recorded by its leader for those who went: every month or so for eighteen months,
    and a few times this month. The latest wait in the staff queue."""
    today = _local(now).date()
    # Days back that are still this month: one old enough to be approved by now, when the month allows.
    days = set(rng.sample(range(today.day), min(2, today.day)))
    if today.day > 3:
        days.add(rng.randint(3, today.day - 1))
    back = rng.randint(today.day + 3, today.day + 20)
    while back < HISTORY_DAYS:
        days.add(back)
        back += rng.randint(30, 50)
    leader, members = crew[0], crew[1:]
    for back in sorted(days, reverse=True):
        start = _at(today - timedelta(days=back), rng.choice(plan.clocks))
        end = start + timedelta(minutes=rng.choice([90, 120, 150]))
        if end > now - timedelta(hours=1):
            continue
        category, activity, content = rng.choice(plan.work)
        submitted = min(end + timedelta(hours=rng.randint(2, 30)), now - timedelta(minutes=30))
        place = plan.place if plan.category == "elderly_care" else f"{community.name}{plan.place}"
        try:
            records = service.submit_records(leader, community, [leader, *rng.sample(members, rng.randint(1, 2))],
                                             service.Occasion(started_at=start, ended_at=end, category=category,
                                                              activity=activity, place=place, content=content),
                                             team=team, now=submitted)
        except DomainError:
            continue  # someone's day is already full
        if end > now - timedelta(hours=36):
            continue
        approved = min(_working_day_after(submitted, rng), now - timedelta(minutes=10))
        for record in records:
            timeline.at(approved, partial(service.approve_record, staff, record, now=approved))



def _seed_events(staff: User, community: Area, people: list[User], plans: list[_EventPlan], now: datetime,
                 rng: random.Random, timeline: _Timeline) -> None:
    """Events past (attended, then closed into service and points), on right now (its code screen and the
    scanner can be tried at once, a few already in) and coming (one taking registrations up to a capacity)."""
    grid = db.session.scalar(select(Area).where(Area.parent_id == community.id, Area.level == Level.grid)
                             .order_by(Area.id))
    today = _local(now).date()
    for plan in plans:
        if plan.ends_soon:
            starts = now + SOON - timedelta(minutes=plan.minutes)
        elif plan.starts is None:
            starts = now.replace(minute=now.minute // 30 * 30, second=0, microsecond=0) - timedelta(hours=1)
        else:
            starts = _at(today + timedelta(days=plan.days), plan.starts)
        organiser, area = (org.current_post(grid).user, grid) if plan.by_grid_head else (staff, community)
        created = min(starts - timedelta(days=10), now - timedelta(days=3))
        event = events.create_event(organiser, area, events.EventForm(
            kind=plan.kind, title=plan.title, place=plan.place, starts_at=starts,
            ends_at=starts + timedelta(minutes=plan.minutes), category=plan.category, description=plan.description,
            capacity=plan.capacity, registration=plan.registration,
            points_mode="per_hour" if plan.fixed is None else "fixed", points_fixed=plan.fixed,
            closes_minutes=0 if plan.ends_soon else 15), now=created)
        comers = _comers(plan, community, people, organiser, rng)
        if plan.registration:
            for n, person in enumerate(comers):
                events.register(person, event, now=min(created + timedelta(hours=3 * n + 1), now, starts))
            comers = comers[:-1]  # one who registered does not come
        if event.ends_at < now:
            _attend(staff, event, comers, rng)
            closed = events.window(event)[1] + timedelta(minutes=5)
            timeline.at(closed, partial(events.close_event, event, now=closed))
        elif starts <= now:
            for n, person in enumerate(comers):
                at = min(starts - timedelta(minutes=15) + timedelta(minutes=6 * n), now - timedelta(minutes=1))
                _check_in(staff, event, person, at, n)


def _comers(plan: _EventPlan, community: Area, people: list[User], organiser: User,
            rng: random.Random) -> list[User]:
    if plan.who == "heads":
        pool = _heads(community)
    elif plan.who == "volunteers":
        # The demo volunteer first (their pages show the events), then the others in no particular order.
        own = [p for p in people if p.phone.startswith("137")]
        pool = own[:1] + rng.sample(own[1:], len(own) - 1)
        pool += rng.sample([p for p in people if p not in own], len(people) - len(own))
    else:
        logins = {phone for phone, *_ in LOGINS}
        pool = [p for p in rng.sample(people, len(people)) if p.phone not in logins]
    return [p for p in pool if p.id != organiser.id][:plan.size]


def _check_in(staff: User, event: Event, person: User, at: datetime, n: int) -> None:
    """In the ways people do: scanning the code on the screen, or staff scanning the person's own code, or
    by hand for an old neighbour who carries no phone."""
    if n % 5 == 3:
        events.check_in_by_hand(staff, event, person, reason="老人没带手机，工作人员代为签到", now=at)
    elif n % 5 == 4:
        events.scan(staff, event, events.personal_code(person, now=at).token, nonce=f"demo-{event.id}-{person.id}",
                    now=at)
    else:
        events.check_in_with_code(person, events.event_code(event, now=at).token, now=at)


def _attend(staff: User, event: Event, comers: list[User], rng: random.Random) -> None:
    """Check in around the start; most check out by the code at the end, some leave early, some forget
    (closing then sets the end and flags it)."""
    for n, person in enumerate(comers):
        _check_in(staff, event, person, event.starts_at + timedelta(minutes=rng.randint(-20, 10)), n)
        if n % 4 == 0:
            continue
        left = (event.ends_at - timedelta(minutes=rng.randint(30, 50)) if n % 4 == 1
                else event.ends_at + timedelta(minutes=rng.randint(0, 10)))
        events.check_out_with_code(person, events.event_code(event, now=left).token, now=left)
