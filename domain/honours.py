"""Honour campaigns: nomination, consent, voting, review, public notice, objections, announcement.

A campaign (最美三长 best_head, 社区好人 good_neighbour, or a title of the community's own) covers a street,
community, estate or grid and runs through five phases: nomination → voting → review → notice (公示) →
announced. `advance` moves a campaign by hand where the rules allow it (409 `phase_not_finished` otherwise);
`advance_due` (`flask campaigns advance`) moves every campaign whose date has come, and is idempotent. Each
phase change is one guarded UPDATE from the phase it left, so of two advances at once exactly one moves it.

- Nomination: a resident in scope (heads and staff too) names someone with a reason and optional photos. A
  best-head nominee must hold a head post in scope, in a tier with seats; a good neighbour must live in scope.
  The nominee consents (or declines) before their name is shown to anyone else; those who have not answered
  when voting opens lapse.
- Voting: residents in scope only, never for themselves. A UNIQUE (campaign, voter, nomination) stops a second
  vote for the same nominee; a guarded counter per voter (`UPDATE ballot SET used = used + 1 WHERE used < n`)
  stops a voter going over their votes; the nomination's tally moves in the same transaction as its vote row.
  Suspicious patterns (≥ 5 votes in 10 minutes for one nominee from accounts made in the last 7 days) are
  flagged for staff with the votes as evidence; staff keep or discount them — nothing is dropped silently.
- Review: staff shortlist candidates (within the seats of each tier) or pass them over, a note for each, with
  each nominee's hours, points and tasks beside them.
- Notice: a public page lists the shortlisted with masked names; residents in scope object under their real
  name inside the window (N working days, Mon–Fri, from the day after posting; public holidays are not
  modelled); staff record how each objection was handled before the announcement.
- Announcement: each shortlisted nominee still on the list gets an Honour (UNIQUE per nomination) with a
  certificate number, and the campaign's points through the ledger under the key "honour:<id>" — so running
  the announcement again awards nothing twice.

Decisions that count or move phases (nominating, consenting, review decisions, flags, objections, phase
changes) take the campaign's row lock first, so they run one at a time per campaign; votes do not, and rely
on their constraints and guarded counters instead.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from domain import audit, certificates, ledger, notifications, rules
from domain.access import ANY_ROLE, MANAGERS, areas_of, can, scope_clause
from domain.errors import Conflict, Forbidden, Invalid, NotFound, Refused, Unauthenticated
from domain.ledger import SHANGHAI, month_of
from domain.org import community_of, head_title
from domain.teams import communities_of
from models import (
    Area,
    HeadPost,
    HoursMonthly,
    Level,
    MonthlyTotal,
    Role,
    TxnKind,
    User,
    db,
    load,
    mask_name,
    utcnow,
)
from models.area import path_under
from models.honours import (
    PUBLIC_STATUSES,
    Ballot,
    Campaign,
    CampaignKind,
    FlagStatus,
    Honour,
    Nomination,
    NominationStatus,
    Objection,
    ObjectionStatus,
    Phase,
    Vote,
    VoteFlag,
)
from models.sql import upsert

#: Levels a campaign may cover.
SCOPE_LEVELS = (Level.street, Level.community, Level.estate, Level.grid)
#: Roles that make someone one of an area's residents; staff and administrators are not residents by their role.
RESIDENT_ROLES = frozenset({Role.resident, Role.volunteer, Role.head, Role.team_leader})
DEFAULT_VOTES = 3
MAX_VOTES = 20
NOTICE_DAYS = 5
MAX_NOTICE_DAYS = 30
#: Best head: 1 grid head, 8 building heads, 8 unit heads.
DEFAULT_HEAD_SEATS = {1: 1, 2: 8, 3: 8}
DEFAULT_SEATS = 10
MAX_SEATS = 500
MAX_POINTS = 10_000
REVIEW_DAYS = 3
MAX_PHOTOS = 3
REASON_MAX = 1000
NOTE_MAX = 1000
#: The suspicious pattern watched for: this many votes for one nominee within the window, from new accounts.
BURST_VOTES = 5
BURST_WINDOW = timedelta(minutes=10)
NEW_ACCOUNT_AGE = timedelta(days=7)
BURST = "new_accounts_burst"
#: Figures shown at the review cover this many months up to the end of voting.
FIGURE_MONTHS = 12
NUMBER_ATTEMPTS = 5
#: A campaign's dates lie within this of the day it is opened.
HORIZON = timedelta(days=730)

KIND_TITLES = {CampaignKind.best_head: _l("Best head"), CampaignKind.good_neighbour: _l("Good neighbour")}

notifications.register("honours.nominated", _l("You have been nominated for %(title)s. Please say whether your "
                                               "name may be shown."))
notifications.register("honours.awarded", _l("Congratulations: you have been honoured as %(title)s."))


# --- who is who -------------------------------------------------------------------------------------------------

def lives_in(person: User | None, area: Area) -> bool:
    """One of the area's residents: a household under it, or a resident's role (resident, volunteer, head, team
    leader) on an area under it. Staff roles make nobody a resident."""
    if person is None or not getattr(person, "is_authenticated", True) or not person.active:
        return False
    if person.household is not None and person.household.unit.path.startswith(area.path):
        return True
    return any(g.area is not None and g.role in RESIDENT_ROLES and g.area.path.startswith(area.path)
               for g in person.grants)


def can_manage(user: User, campaign: Campaign) -> bool:
    """Staff of the campaign's area (or above) run it."""
    return can(user, "area.manage", campaign.area)


def can_see(user: User, campaign: Campaign) -> bool:
    return can(user, "area.view", campaign.area) or lives_in(user, campaign.area)


def visible(user: User, campaign_id: int) -> Campaign:
    """Raises NotFound when missing or outside the user's reach."""
    campaign = load(Campaign, campaign_id)
    if campaign is None or not can_see(user, campaign):
        raise NotFound("not_found", _l("Not found."))
    return campaign


def managed(user: User, campaign_id: int) -> Campaign:
    """Raises NotFound outside the user's reach, Forbidden(not_staff) for those who see it but do not run it."""
    campaign = visible(user, campaign_id)
    _require_manager(user, campaign)
    return campaign


def managed_row(user: User, model, ident):
    """A campaign's flag or objection that the user runs the campaign of. Raises NotFound (missing or out of reach),
    Forbidden(not_staff) as `managed` does."""
    row = load(model, ident)
    if row is None:
        raise NotFound("not_found", _l("Not found."))
    managed(user, row.campaign_id)
    return row


def _require_manager(user: User, campaign: Campaign) -> None:
    if not can_manage(user, campaign):
        if can_see(user, campaign):
            raise Forbidden("not_staff", _l("Only community staff can do this."))
        raise NotFound("not_found", _l("Not found."))


def can_see_nomination(user: User, nomination: Nomination) -> bool:
    """The nominee and the nominator always; staff; the campaign's people once the nominee consented."""
    uid = getattr(user, "id", None)
    if uid is not None and uid in (nomination.nominee_id, nomination.nominator_id):
        return True
    campaign = nomination.campaign
    return can_manage(user, campaign) or (nomination.is_public and can_see(user, campaign))


def visible_nomination(user: User, nomination_id: int) -> Nomination:
    nomination = load(Nomination, nomination_id)
    if nomination is None or not can_see_nomination(user, nomination):
        raise NotFound("not_found", _l("Not found."))
    return nomination


def can_nominate(user: User, campaign: Campaign) -> bool:
    return lives_in(user, campaign.area) or can_manage(user, campaign)


def head_post_in(person: User, area: Area) -> HeadPost | None:
    """The person's current head post inside the area, the highest tier first (a grid head who also heads a unit
    stands as grid head)."""
    return db.session.scalar(
        select(HeadPost).join(Area, HeadPost.area_id == Area.id)
        .where(HeadPost.user_id == person.id, HeadPost.until.is_(None),
               path_under(Area.path, area.path))
        .order_by(HeadPost.tier, HeadPost.id).limit(1))


def campaigns_for(user: User, limit: int = 200) -> list[Campaign]:
    """Campaigns covering where the user lives or holds a role, and those under the areas their roles cover,
    newest first."""
    ancestors = {i for area in areas_of(user) for i in area.ancestor_ids}
    query = select(Campaign).join(Area, Campaign.area_id == Area.id).where(
        or_(Campaign.area_id.in_(ancestors), scope_clause(user, ANY_ROLE, Area.path)))
    found = db.session.scalars(query.order_by(Campaign.created_at.desc(), Campaign.id.desc()).limit(limit))
    return [c for c in found if can_see(user, c)]


def creatable_areas(user: User, limit: int = 50) -> list[Area]:
    """Where the user may open a campaign: the areas of their staff grants at street, community, estate or grid
    level; for grants above streets, the streets and communities below."""
    if not getattr(user, "is_authenticated", False):
        return []
    found: dict[int, Area] = {}
    wide: list[str | None] = []
    for grant in user.grants:
        if grant.role not in MANAGERS:
            continue
        if grant.area is not None and grant.area.level in SCOPE_LEVELS:
            found[grant.area.id] = grant.area
        elif grant.area is None or grant.area.level == Level.district:
            wide.append(grant.area.path if grant.area is not None else None)
    for path in dict.fromkeys(wide):
        query = select(Area).where(Area.level.in_([Level.street, Level.community]))
        if path is not None:
            query = query.where(path_under(Area.path, path))
        for area in db.session.scalars(query.order_by(Area.path).limit(limit)):
            found.setdefault(area.id, area)
    return list(found.values())[:limit]


# --- opening a campaign ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CampaignForm:
    kind: str
    title: str | None
    nominate_from: datetime
    nominate_until: datetime
    vote_from: datetime
    vote_until: datetime
    review_until: datetime | None = None
    notice_days: int = NOTICE_DAYS
    announce_at: datetime | None = None
    #: best_head: {tier: seats}; the others: a number of seats (or {0: n}).
    seats: dict[int, int] | int | None = None
    votes_per_voter: int = DEFAULT_VOTES
    #: None: the community's "honour.award" rule now.
    points: int | None = None
    self_nomination: bool = False
    description: str | None = None


def _bad(field: str, code: str, message) -> Invalid:
    return Invalid(code, message, {field: [message]})


#: Seat groups may be named by tier number or by level: {"grid": 1, "building": 8, "unit": 8}.
TIER_KEYS = {"grid": 1, "building": 2, "unit": 3}


def _tier_key(key) -> int | None:
    if isinstance(key, str) and key in TIER_KEYS:
        return TIER_KEYS[key]
    try:
        return int(key)
    except (TypeError, ValueError):
        return None


def _checked_seats(kind: CampaignKind, seats) -> dict[str, int]:
    if kind == CampaignKind.best_head:
        seats = DEFAULT_HEAD_SEATS if seats is None else seats
        if not isinstance(seats, dict) or not seats or any(_tier_key(t) not in (1, 2, 3) for t in seats):
            raise _bad("seats", "seats_invalid", _l("Give the seats of each head tier: grid, building and unit."))
    else:
        seats = {0: DEFAULT_SEATS if seats is None else seats} if not isinstance(seats, dict) else seats
        if {_tier_key(t) for t in seats} != {0}:
            raise _bad("seats", "seats_invalid", _l("Give the number of people to honour."))
    checked = {str(_tier_key(t)): n for t, n in seats.items()}
    if any(not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= MAX_SEATS for n in checked.values()) \
            or not any(checked.values()):
        raise _bad("seats", "seats_invalid", _l("Seats are whole numbers from 0 to 500, at least one above 0."))
    return checked


def _checked(area: Area, form: CampaignForm, now: datetime) -> dict:
    """The form's values, checked; raises Invalid naming the field."""
    if form.kind not in CampaignKind.__members__:
        raise _bad("kind", "kind_invalid", _l("Choose best head, good neighbour or a title of your own."))
    kind = CampaignKind(form.kind)
    title = (form.title or "").strip() or (str(KIND_TITLES[kind]) if kind in KIND_TITLES else "")
    if not title or len(title) > 100:
        raise _bad("title", "title_invalid", _l("A title of at most 100 characters is required."))
    dates = (form.nominate_from, form.nominate_until, form.vote_from, form.vote_until)
    if any(d is None or d.tzinfo is None for d in dates) or (form.review_until and form.review_until.tzinfo is None) \
            or (form.announce_at and form.announce_at.tzinfo is None):
        raise _bad("nominate_from", "dates_invalid", _l("Give every date with a time zone."))
    given = (*dates, form.review_until or now, form.announce_at or now)
    if any(not now - HORIZON <= d <= now + HORIZON for d in given):
        raise _bad("nominate_from", "dates_invalid", _l("Give dates within two years of today."))
    review_until = form.review_until or form.vote_until + timedelta(days=REVIEW_DAYS)
    if not form.nominate_from < form.nominate_until <= form.vote_from < form.vote_until <= review_until:
        raise _bad("vote_from", "dates_invalid", _l("The phases follow each other: nomination, then voting, "
                                                    "then the review."))
    if form.nominate_until <= now or review_until > now + HORIZON:
        raise _bad("nominate_until", "dates_invalid", _l("Nominations must close in the future, and the campaign "
                                                         "end within two years."))
    if not isinstance(form.notice_days, int) or not 1 <= form.notice_days <= MAX_NOTICE_DAYS:
        raise _bad("notice_days", "notice_days_invalid", _l("The public notice lasts 1 to 30 working days."))
    if not isinstance(form.votes_per_voter, int) or not 1 <= form.votes_per_voter <= MAX_VOTES:
        raise _bad("votes_per_voter", "votes_invalid", _l("Each resident has 1 to 20 votes."))
    points = form.points
    if points is None:
        community = community_of(area)
        points = rules.rule_value(community, "honour.award", now) if community is not None \
            else rules.DEFAULTS["honour.award"][0]
    if not isinstance(points, int) or not 0 <= points <= MAX_POINTS:
        raise _bad("points", "points_invalid", _l("Points from 0 to 10000."))
    description = (form.description or "").strip() or None
    if description and len(description) > 2000:
        raise _bad("description", "description_invalid", _l("At most 2000 characters."))
    return dict(kind=kind, title=title, description=description, nominate_from=form.nominate_from,
                nominate_until=form.nominate_until, vote_from=form.vote_from, vote_until=form.vote_until,
                review_until=review_until, notice_days=form.notice_days, announce_at=form.announce_at,
                seats=_checked_seats(kind, form.seats), votes_per_voter=form.votes_per_voter, points=points,
                self_nomination=bool(form.self_nomination))


def open_campaign(actor: User, area: Area, form: CampaignForm, *, now: datetime | None = None) -> Campaign:
    """Staff open a campaign for their street, community, estate or grid.

    Raises NotFound (not staff of the area), Invalid(scope_invalid, kind_invalid, dates_invalid, seats_invalid ...).
    """
    now = now or utcnow()
    if not can(actor, "area.manage", area):
        raise NotFound("not_found", _l("Not found."))
    if area.level not in SCOPE_LEVELS:
        raise _bad("area_id", "scope_invalid", _l("A campaign covers a street, a community, an estate or a grid."))
    campaign = Campaign(area_id=area.id, created_by_id=actor.id, created_at=now, phase=Phase.nomination,
                        phase_changed_at=now, **_checked(area, form, now))
    db.session.add(campaign)
    db.session.flush()
    audit.record(actor, "campaign.open", campaign, area_id=area.id, now=now,
                 after={"kind": campaign.kind.value, "title": campaign.title, "seats": campaign.seats,
                        "votes_per_voter": campaign.votes_per_voter, "points": campaign.points})
    return campaign


# --- phases --------------------------------------------------------------------------------------------------------

def notice_end(start: datetime, days: int) -> datetime:
    """The end of the public notice: midnight (Beijing) after the `days`-th working day (Mon–Fri) following the
    day it was posted. Public holidays are not modelled: a community posting before a holiday adds days."""
    day = start.astimezone(SHANGHAI).date()
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if day.weekday() < 5:
            counted += 1
    return datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=SHANGHAI).astimezone(start.tzinfo)


NEXT = {Phase.nomination: Phase.voting, Phase.voting: Phase.review, Phase.review: Phase.notice,
        Phase.notice: Phase.announced}


@dataclass(frozen=True)
class Step:
    """Leaving the current phase: where to, what still stands in the way, and when the schedule wants it."""

    to: Phase
    #: Why it cannot move now, for people; empty when staff may move it.
    blockers: tuple[str, ...]
    #: The schedule moves it at this moment, once nothing stands in the way.
    scheduled_at: datetime

    @property
    def ready(self) -> bool:
        return not self.blockers

    def due(self, now: datetime) -> bool:
        return self.ready and now >= self.scheduled_at


def _local(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def _count(model, *conditions) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0


def next_step(campaign: Campaign, now: datetime | None = None) -> Step | None:
    """What ending the campaign's phase needs now; None once announced."""
    now = now or utcnow()
    phase = campaign.phase
    if phase == Phase.announced:
        return None
    blockers: list[str] = []
    of_campaign = Nomination.campaign_id == campaign.id
    if phase == Phase.nomination:
        scheduled = campaign.vote_from
        if now < campaign.nominate_until:
            blockers.append(_("Nominations are open until %(time)s.", time=_local(campaign.nominate_until)))
        if not _count(Nomination, of_campaign, Nomination.status == NominationStatus.confirmed):
            blockers.append(_("No nominee has consented yet: voting needs at least one candidate."))
    elif phase == Phase.voting:
        scheduled = campaign.vote_until
        if now < campaign.vote_until:
            blockers.append(_("Voting is open until %(time)s.", time=_local(campaign.vote_until)))
    elif phase == Phase.review:
        scheduled = campaign.review_until
        flags = _count(VoteFlag, VoteFlag.campaign_id == campaign.id, VoteFlag.status == FlagStatus.open)
        if flags:
            blockers.append(_("%(n)s flag(s) of suspicious votes wait for a decision.", n=flags))
        undecided = _count(Nomination, of_campaign, Nomination.status == NominationStatus.confirmed)
        if undecided:
            blockers.append(_("%(n)s candidate(s) wait for a decision.", n=undecided))
        if not _count(Nomination, of_campaign, Nomination.status == NominationStatus.shortlisted):
            blockers.append(_("Shortlist at least one candidate for the public notice."))
    else:
        scheduled = max(campaign.notice_until, campaign.announce_at or campaign.notice_until)
        if now < campaign.notice_until:
            blockers.append(_("The public notice runs until %(time)s.", time=_local(campaign.notice_until)))
        open_objections = _count(Objection, Objection.campaign_id == campaign.id,
                                 Objection.status == ObjectionStatus.open)
        if open_objections:
            blockers.append(_("%(n)s objection(s) wait to be handled.", n=open_objections))
    return Step(NEXT[phase], tuple(blockers), scheduled)


def _lock(campaign: Campaign) -> Campaign:
    """Take the campaign's row lock (PostgreSQL; SQLite runs one writer at a time already) and read it afresh."""
    db.session.execute(select(Campaign.id).where(Campaign.id == campaign.id).with_for_update())
    db.session.refresh(campaign)
    return campaign


def _in_phase(campaign: Campaign, phase: Phase, now: datetime, opens: datetime | None = None,
              closes: datetime | None = None) -> Campaign:
    """Lock the campaign and check it is in `phase` with `now` inside [opens, closes). Raises Refused(phase_closed)."""
    _lock(campaign)
    if campaign.phase != phase or (opens is not None and now < opens) or (closes is not None and now >= closes):
        raise Refused("phase_closed", _l("This is not open at the moment."))
    return campaign


def advance(actor: User, campaign: Campaign, *, now: datetime | None = None) -> Campaign:
    """Staff move the campaign to its next phase now, where the rules allow.

    Raises NotFound/Forbidden (not staff of it), Conflict(already_announced), Conflict(phase_not_finished) with
    what still stands in the way.
    """
    now = now or utcnow()
    _require_manager(actor, campaign)
    with db.session.begin_nested():
        _lock(campaign)
        step = next_step(campaign, now)
        if step is None:
            raise Conflict("already_announced", _l("This campaign has already been announced."))
        if not step.ready:
            raise Conflict("phase_not_finished", " ".join(step.blockers))
        _move(campaign, step.to, actor, now, by_hand=True)
    return campaign


@dataclass
class Report:
    moved: list[tuple[int, Phase, Phase]]
    waiting: list[tuple[int, Phase, str]]


def advancing(*, now: datetime | None = None) -> list[int]:
    """Ids of the campaigns not yet announced, which `advance_by_schedule` may move."""
    return list(db.session.scalars(select(Campaign.id).where(Campaign.phase != Phase.announced)
                                   .order_by(Campaign.id)))


def advance_by_schedule(campaign_id: int, report: Report, *, now: datetime | None = None) -> int:
    """Move one campaign as far as its dates and rules allow, noting the moves (and what holds it back) in
    `report`. Idempotent. Returns the moves made."""
    now = now or utcnow()
    moves = 0
    while True:
        campaign = _lock(db.session.get(Campaign, campaign_id))
        before = campaign.phase
        step = next_step(campaign, now)
        if step is None or now < step.scheduled_at:
            return moves
        if not step.ready:
            report.waiting.append((campaign_id, before, " ".join(step.blockers)))
            return moves
        _move(campaign, step.to, None, now, by_hand=False)
        report.moved.append((campaign_id, before, step.to))
        moves += 1


def advance_due(*, now: datetime | None = None) -> Report:
    """Every campaign whose date has come, in one transaction (`flask campaigns advance`, domain/jobs, moves each
    in its own). Campaigns whose date has passed but which a rule holds back are reported. Idempotent."""
    report = Report([], [])
    for campaign_id in advancing(now=now):
        advance_by_schedule(campaign_id, report, now=now)
    return report


def _move(campaign: Campaign, to: Phase, actor: User | None, now: datetime, *, by_hand: bool) -> None:
    """The one transition of a campaign's phase: a guarded UPDATE from the phase it is in, and what comes with it."""
    before = campaign.phase
    if NEXT.get(before) != to:
        raise Conflict("phase_not_finished", _l("A campaign moves one phase at a time."))
    values: dict = {"phase": to, "phase_changed_at": now}
    if to == Phase.voting:
        values["vote_from"] = min(campaign.vote_from, now)
    elif to == Phase.notice:
        values["notice_from"], values["notice_until"] = now, notice_end(now, campaign.notice_days)
    elif to == Phase.announced:
        values["announced_at"] = now
    moved = db.session.execute(update(Campaign).where(Campaign.id == campaign.id, Campaign.phase == before)
                               .values(**values).execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        raise Conflict("phase_changed", _l("Someone else has just moved this campaign on."))
    db.session.refresh(campaign)
    if to == Phase.voting:
        # Nobody may be shown without consent: those who did not answer are out of this campaign.
        db.session.execute(update(Nomination).where(Nomination.campaign_id == campaign.id,
                                                    Nomination.status.in_(_FROM[NominationStatus.lapsed]))
                           .values(status=NominationStatus.lapsed, answered_at=now)
                           .execution_options(synchronize_session=False))
    audit.record(actor, "campaign.advance", campaign, area_id=campaign.area_id, now=now,
                 before={"phase": before.value}, after={"phase": to.value},
                 reason="by hand" if by_hand else "by schedule")
    if to == Phase.announced:
        award_honours(campaign, actor, now=now)


# --- nominations -------------------------------------------------------------------------------------------------

#: The one table of a nomination's moves: target status → the statuses it may come from.
_FROM: dict[NominationStatus, tuple[NominationStatus, ...]] = {
    NominationStatus.confirmed: (NominationStatus.pending,),
    NominationStatus.declined: (NominationStatus.pending,),
    NominationStatus.withdrawn: (NominationStatus.confirmed,),
    NominationStatus.lapsed: (NominationStatus.pending,),
    NominationStatus.shortlisted: (NominationStatus.confirmed, NominationStatus.passed_over),
    NominationStatus.passed_over: (NominationStatus.confirmed, NominationStatus.shortlisted),
    NominationStatus.removed: (NominationStatus.shortlisted,),
    NominationStatus.honoured: (NominationStatus.shortlisted,),
}


def _set_status(nomination: Nomination, to: NominationStatus, conflict: Conflict, **values) -> None:
    """Move a nomination by one guarded UPDATE from the statuses `to` may come from; raise `conflict` otherwise."""
    moved = db.session.execute(update(Nomination).where(Nomination.id == nomination.id,
                                                        Nomination.status.in_(_FROM[to]))
                               .values(status=to, **values).execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        raise conflict
    db.session.refresh(nomination)


def _text(value: str | None, field: str, code: str, message, limit: int) -> str:
    value = (value or "").strip()
    if not value or len(value) > limit:
        raise _bad(field, code, message)
    return value


@dataclass(frozen=True)
class Eligibility:
    tier: int
    head_area: Area | None


def person_by_phone(campaign: Campaign, phone: str | None, field: str = "nominee_phone") -> User:
    """The resident of the campaign's area with this phone. Raises Invalid(person_unknown) naming `field`."""
    phone = (phone or "").replace(" ", "").strip()
    person = db.session.scalar(select(User).where(User.phone == phone)) if 0 < len(phone) <= 20 else None
    if person is None or not lives_in(person, campaign.area):
        message = _l("Nobody living in the campaign's area has that phone number.")
        raise Invalid("person_unknown", message, {field: [message]})
    return person


def heads_in(campaign: Campaign) -> list[HeadPost]:
    """Current head posts in the campaign's area in tiers with seats: whom a best-head campaign may honour."""
    tiers = [t for t in campaign.tiers if campaign.seats_for(t)]
    return list(db.session.scalars(
        select(HeadPost).join(Area, HeadPost.area_id == Area.id)
        .where(HeadPost.until.is_(None), HeadPost.tier.in_(tiers),
               path_under(Area.path, campaign.area.path))
        .order_by(HeadPost.tier, Area.path, HeadPost.id)))


def eligibility(campaign: Campaign, person: User) -> Eligibility:
    """Who may be nominated. Raises Refused(nominee_not_eligible) saying why."""
    if not person.active:
        raise Refused("nominee_not_eligible", _l("This person cannot be nominated."))
    if campaign.kind == CampaignKind.best_head:
        post = head_post_in(person, campaign.area)
        if post is None:
            raise Refused("nominee_not_eligible", _l("Only a current grid, building or unit head in the campaign's "
                                                     "area can be nominated."))
        if not campaign.seats_for(post.tier):
            raise Refused("nominee_not_eligible", _l("This campaign has no seats for heads of this tier."))
        return Eligibility(post.tier, post.area)
    if not lives_in(person, campaign.area):
        raise Refused("nominee_not_eligible", _l("Only a resident of the campaign's area can be nominated."))
    return Eligibility(0, None)


def nominate(actor: User, campaign: Campaign, nominee: User, *, reason: str, photos: Iterable[str] = (),
             now: datetime | None = None) -> Nomination:
    """A resident in scope (or a head or staff) nominates someone with a reason and up to three photos.

    A self-nomination (where the campaign allows it) counts as consent, as does the nominee's profile consent to
    be named in honour notices. Raises Forbidden(not_in_scope),
    Invalid(reason_required, too_many_photos), Refused(phase_closed, self_nomination_not_allowed,
    nominee_not_eligible), Conflict(already_nominated).
    """
    now = now or utcnow()
    if not can_nominate(actor, campaign):
        raise Forbidden("not_in_scope", _l("Only residents of the campaign's area, its heads and staff nominate."))
    reason = _text(reason, "reason", "reason_required", _l("Say in at most 1000 characters why they deserve it."),
                   REASON_MAX)
    photos = list(photos)
    if len(photos) > MAX_PHOTOS:
        raise _bad("photos", "too_many_photos", _l("At most 3 photos."))
    _in_phase(campaign, Phase.nomination, now, campaign.nominate_from, campaign.nominate_until)
    own = nominee.id == actor.id
    if own and not campaign.self_nomination:
        raise Refused("self_nomination_not_allowed", _l("This campaign does not take self-nominations."))
    eligible = eligibility(campaign, nominee)
    # Consent given in the profile ("may be named in honour notices") stands for this nomination too.
    consented = own or nominee.honour_consent
    status = NominationStatus.confirmed if consented else NominationStatus.pending
    inserted = db.session.execute(
        upsert(Nomination).values(
            campaign_id=campaign.id, nominee_id=nominee.id, nominator_id=actor.id, reason=reason, photos=photos,
            tier=eligible.tier, head_area_id=eligible.head_area.id if eligible.head_area else None, status=status,
            votes=0, created_at=now, answered_at=now if consented else None)
        .on_conflict_do_nothing(index_elements=["campaign_id", "nominee_id"]).returning(Nomination.id)).scalar()
    if inserted is None:
        raise Conflict("already_nominated", _l("This person has already been nominated in this campaign."))
    nomination = db.session.get(Nomination, inserted)
    if not own:
        notifications.notify([nominee], "honours.nominated", params={"title": campaign.title}, now=now,
                             link=("honours.nomination", {"nomination_id": nomination.id}))
    return nomination


def answer(actor: User, nomination: Nomination, *, consent: bool, now: datetime | None = None) -> Nomination:
    """The nominee consents to be a candidate (and be shown), or declines, during the nomination phase.

    Raises Forbidden(not_the_nominee), Refused(phase_closed), Conflict(already_answered).
    """
    now = now or utcnow()
    if nomination.nominee_id != actor.id:
        raise Forbidden("not_the_nominee", _l("Only the person nominated answers."))
    _in_phase(nomination.campaign, Phase.nomination, now)
    _set_status(nomination, NominationStatus.confirmed if consent else NominationStatus.declined,
                Conflict("already_answered", _l("This nomination has already been answered.")), answered_at=now)
    return nomination


def withdraw(actor: User, nomination: Nomination, *, now: datetime | None = None) -> Nomination:
    """The nominee withdraws their consent before voting opens. Raises Forbidden, Refused(phase_closed), Conflict."""
    now = now or utcnow()
    if nomination.nominee_id != actor.id:
        raise Forbidden("not_the_nominee", _l("Only the person nominated answers."))
    _in_phase(nomination.campaign, Phase.nomination, now)
    _set_status(nomination, NominationStatus.withdrawn,
                Conflict("not_a_candidate", _l("This nomination is not standing.")), answered_at=now)
    return nomination


# --- votes ----------------------------------------------------------------------------------------------------------

def cast_vote(voter: User, nomination: Nomination, *, now: datetime | None = None) -> Vote:
    """One vote of a resident in scope for a candidate.

    In one savepoint: the vote row (UNIQUE per voter and nominee), the voter's guarded counter, the nomination's
    tally, and the watch for suspicious patterns. Raises NotFound (not a candidate one can see),
    Forbidden(not_in_scope, own_nomination), Refused(phase_closed, no_votes_left), Conflict(already_voted).
    """
    now = now or utcnow()
    campaign = nomination.campaign
    if not nomination.is_public and not can_see_nomination(voter, nomination):
        raise NotFound("not_found", _l("Not found."))
    if not lives_in(voter, campaign.area):
        raise Forbidden("not_in_scope", _l("Only residents of the campaign's area vote."))
    if campaign.phase != Phase.voting or not campaign.vote_from <= now < campaign.vote_until:
        raise Refused("phase_closed", _l("Voting is not open."))
    if nomination.status != NominationStatus.confirmed:
        raise Refused("not_a_candidate", _l("This nomination is not standing."))
    if nomination.nominee_id == voter.id:
        raise Forbidden("own_nomination", _l("You cannot vote for yourself."))
    with db.session.begin_nested():
        vote_id = db.session.execute(
            upsert(Vote).values(campaign_id=campaign.id, nomination_id=nomination.id, voter_id=voter.id,
                                        created_at=now, discounted=False)
            .on_conflict_do_nothing(index_elements=["campaign_id", "voter_id", "nomination_id"])
            .returning(Vote.id)).scalar()
        if vote_id is None:
            raise Conflict("already_voted", _l("You have already voted for this nominee."))
        db.session.execute(upsert(Ballot).values(campaign_id=campaign.id, voter_id=voter.id, used=0)
                           .on_conflict_do_nothing(index_elements=["campaign_id", "voter_id"]))
        taken = db.session.execute(
            update(Ballot).where(Ballot.campaign_id == campaign.id, Ballot.voter_id == voter.id,
                                 Ballot.used < campaign.votes_per_voter)
            .values(used=Ballot.used + 1).execution_options(synchronize_session=False)).rowcount
        if taken != 1:
            raise Refused("no_votes_left", _l("You have used all %(n)s of your votes.", n=campaign.votes_per_voter))
        db.session.execute(update(Nomination).where(Nomination.id == nomination.id)
                           .values(votes=Nomination.votes + 1).execution_options(synchronize_session=False))
        _watch(campaign, nomination, voter, now)
    db.session.refresh(nomination)
    return db.session.get(Vote, vote_id)


def _watch(campaign: Campaign, nomination: Nomination, voter: User, now: datetime) -> None:
    """Flag a burst of votes for one nominee from new accounts. Runs after the tally's UPDATE, whose row lock
    makes the votes of one nomination pass here one at a time: reading then writing the flag is safe."""
    if voter.created_at < now - NEW_ACCOUNT_AGE:
        return
    burst = db.session.scalars(
        select(Vote.id).join(User, Vote.voter_id == User.id)
        .where(Vote.nomination_id == nomination.id, Vote.created_at > now - BURST_WINDOW, Vote.created_at <= now,
               User.created_at >= now - NEW_ACCOUNT_AGE)).all()
    if len(burst) < BURST_VOTES:
        return
    flag = db.session.scalar(select(VoteFlag).where(VoteFlag.nomination_id == nomination.id, VoteFlag.pattern == BURST,
                                                    VoteFlag.status == FlagStatus.open))
    if flag is None:
        flag = VoteFlag(campaign_id=campaign.id, nomination_id=nomination.id, pattern=BURST, created_at=now)
        db.session.add(flag)
        db.session.flush()
    db.session.execute(update(Vote).where(Vote.id.in_(burst), Vote.flag_id.is_(None)).values(flag_id=flag.id)
                       .execution_options(synchronize_session=False))


def votes_left(campaign: Campaign, voter: User) -> int:
    used = db.session.scalar(select(Ballot.used).where(Ballot.campaign_id == campaign.id, Ballot.voter_id == voter.id))
    return campaign.votes_per_voter - (used or 0)


def voted_for(campaign: Campaign, voter: User) -> set[int]:
    """Ids of the nominations the voter has voted for."""
    if not getattr(voter, "is_authenticated", False):
        return set()
    return set(db.session.scalars(select(Vote.nomination_id).where(Vote.campaign_id == campaign.id,
                                                                   Vote.voter_id == voter.id)))


def decide_flag(actor: User, flag: VoteFlag, *, discount: bool, note: str, now: datetime | None = None) -> VoteFlag:
    """Staff keep the flagged votes or discount them (they stay as rows, but do not count), with a note.

    Allowed during voting and review. Raises NotFound/Forbidden, Invalid(note_required), Refused(phase_closed),
    Conflict(already_decided).
    """
    now = now or utcnow()
    campaign = db.session.get(Campaign, flag.campaign_id)
    _require_manager(actor, campaign)
    note = _text(note, "note", "note_required", _l("Write a note on what you found."), NOTE_MAX)
    _lock(campaign)
    if campaign.phase not in (Phase.voting, Phase.review):
        raise Refused("phase_closed", _l("Votes can be judged only during voting and the review."))
    status = FlagStatus.discounted if discount else FlagStatus.kept
    moved = db.session.execute(update(VoteFlag).where(VoteFlag.id == flag.id, VoteFlag.status == FlagStatus.open)
                               .values(status=status, decided_by_id=actor.id, decided_at=now, note=note)
                               .execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        raise Conflict("already_decided", _l("This has already been decided."))
    if discount:
        db.session.execute(update(Vote).where(Vote.flag_id == flag.id).values(discounted=True)
                           .execution_options(synchronize_session=False))
    db.session.refresh(flag)
    audit.record(actor, f"vote_flag.{'discount' if discount else 'keep'}", flag, area_id=campaign.area_id, now=now,
                 reason=note, after={"nomination_id": flag.nomination_id, "votes": len(flag_votes(flag))})
    return flag


def flags(campaign: Campaign, *, open_only: bool = False) -> list[VoteFlag]:
    query = select(VoteFlag).where(VoteFlag.campaign_id == campaign.id)
    if open_only:
        query = query.where(VoteFlag.status == FlagStatus.open)
    return list(db.session.scalars(query.order_by(VoteFlag.created_at, VoteFlag.id)))


def flag_votes(flag: VoteFlag) -> list[Vote]:
    """The evidence: the flagged votes with their voters (and when each account was made)."""
    return list(db.session.scalars(select(Vote).where(Vote.flag_id == flag.id).order_by(Vote.created_at, Vote.id)))


# --- review --------------------------------------------------------------------------------------------------------

def decide(actor: User, nomination: Nomination, *, shortlist: bool, note: str,
           now: datetime | None = None) -> Nomination:
    """Staff put a candidate on the list for the public notice, or pass them over, with a note. A decision may be
    changed until the review ends. The list holds at most the seats of each tier.

    Raises NotFound/Forbidden, Invalid(note_required), Refused(phase_closed, seats_full), Conflict(not_a_candidate).
    """
    now = now or utcnow()
    campaign = nomination.campaign
    _require_manager(actor, campaign)
    note = _text(note, "note", "note_required", _l("Write a note on the decision."), NOTE_MAX)
    _in_phase(campaign, Phase.review, now)
    to = NominationStatus.shortlisted if shortlist else NominationStatus.passed_over
    if shortlist:
        seats = campaign.seats_for(nomination.tier)
        taken = _count(Nomination, Nomination.campaign_id == campaign.id, Nomination.tier == nomination.tier,
                       Nomination.status == NominationStatus.shortlisted, Nomination.id != nomination.id)
        if taken >= seats:
            raise Refused("seats_full", _l("All %(n)s seats of this group are taken: pass someone over first.",
                                           n=seats))
    before = nomination.status.value
    _set_status(nomination, to, Conflict("not_a_candidate", _l("This nomination is not standing.")),
                decided_by_id=actor.id, decided_at=now, decision_note=note)
    audit.record(actor, "nomination.shortlist" if shortlist else "nomination.pass_over", nomination,
                 area_id=campaign.area_id, now=now, reason=note, before={"status": before},
                 after={"status": to.value, "votes": nomination.votes})
    return nomination


@dataclass(frozen=True)
class Figures:
    """A nominee's record over the review's period, to help the judgement."""

    minutes: int
    points: int
    tasks: int


def _month_back(month: int, months: int) -> int:
    index = (month // 100) * 12 + month % 100 - 1 - months
    return (index // 12) * 100 + index % 12 + 1


def _month_start(month: int) -> datetime:
    return datetime(month // 100, month % 100, 1, tzinfo=SHANGHAI)


def figure_months(campaign: Campaign) -> tuple[int, int]:
    """The months the figures cover: the twelve up to and including the month voting ended (Beijing)."""
    last = month_of(campaign.vote_until)
    return _month_back(last, FIGURE_MONTHS - 1), last


def tasks_done(person_ids: list[int], since: datetime, until: datetime) -> dict[int, int]:
    """TASKS: the one place honours read the tasks feature (models/tasks.py): approved tasks per claimant whose
    approval falls in [since, until). Change only this function if that model changes."""
    from models.tasks import Task, TaskStatus

    if not person_ids:
        return {}
    return dict(db.session.execute(
        select(Task.claimant_id, func.count()).where(Task.claimant_id.in_(person_ids),
                                                     Task.status == TaskStatus.approved,
                                                     Task.decided_at >= since, Task.decided_at < until)
        .group_by(Task.claimant_id)).all())


def figures(campaign: Campaign, nominations: list[Nomination]) -> dict[int, Figures]:
    """Hours (approved service), points earned and tasks approved of each nominee over `figure_months`."""
    first, last = figure_months(campaign)
    ids = [n.nominee_id for n in nominations]
    if not ids:
        return {}
    minutes = dict(db.session.execute(
        select(HoursMonthly.person_id, func.sum(HoursMonthly.minutes))
        .where(HoursMonthly.person_id.in_(ids), HoursMonthly.month.between(first, last))
        .group_by(HoursMonthly.person_id)).all())
    points = dict(db.session.execute(
        select(MonthlyTotal.person_id, func.sum(MonthlyTotal.earned))
        .where(MonthlyTotal.person_id.in_(ids), MonthlyTotal.month.between(first, last))
        .group_by(MonthlyTotal.person_id)).all())
    tasks = tasks_done(ids, _month_start(first), _month_start(_month_back(last, -1)))
    return {n.id: Figures(int(minutes.get(n.nominee_id) or 0), int(points.get(n.nominee_id) or 0),
                          int(tasks.get(n.nominee_id) or 0)) for n in nominations}


# --- public notice and objections ----------------------------------------------------------------------------------

def _same_name(a: str, b: str) -> bool:
    return "".join((a or "").split()) == "".join((b or "").split())


def lodge_objection(actor: User | None, campaign: Campaign, nomination: Nomination, *, reason: str,
                    real_name: str | None, now: datetime | None = None) -> Objection:
    """A resident in scope objects to a shortlisted nominee during the public notice, under their real name: the
    signed-in account is who objects, and a name signed on the form (pages ask for it) must be the registered one.
    An API client signed in with its token may leave the name out (None).

    Raises Unauthenticated(anonymous_objection), Forbidden(not_in_scope), NotFound (not on the list),
    Invalid(reason_required), Refused(real_name_required, phase_closed), Conflict(already_objected).
    """
    now = now or utcnow()
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise Unauthenticated("anonymous_objection", _l("Objections are taken only under your real name: sign in."))
    if not lives_in(actor, campaign.area):
        raise Forbidden("not_in_scope", _l("Only residents of the campaign's area lodge objections."))
    if nomination.campaign_id != campaign.id:
        raise NotFound("not_found", _l("Not found."))
    reason = _text(reason, "reason", "reason_required", _l("Say in at most 1000 characters what is wrong."),
                   REASON_MAX)
    if real_name is not None and not _same_name(real_name, actor.name):
        raise Refused("real_name_required", _l("Sign with your real name, as registered: anonymous objections are "
                                               "not taken."), {"real_name": [_l("Your name as registered.")]})
    _in_phase(campaign, Phase.notice, now, campaign.notice_from, campaign.notice_until)
    db.session.refresh(nomination)
    if nomination.status != NominationStatus.shortlisted:
        raise NotFound("not_found", _l("Not found."))
    inserted = db.session.execute(
        upsert(Objection).values(campaign_id=campaign.id, nomination_id=nomination.id, objector_id=actor.id,
                                         real_name=actor.name, reason=reason, status=ObjectionStatus.open,
                                         created_at=now)
        .on_conflict_do_nothing(index_elements=["nomination_id", "objector_id"]).returning(Objection.id)).scalar()
    if inserted is None:
        raise Conflict("already_objected", _l("You have already lodged an objection to this nominee."))
    return db.session.get(Objection, inserted)


def handle_objection(actor: User, objection: Objection, *, upheld: bool, note: str,
                     now: datetime | None = None) -> Objection:
    """Staff record how an objection was handled; an upheld one takes the nominee off the list.

    Raises NotFound/Forbidden, Invalid(note_required), Refused(phase_closed), Conflict(already_handled).
    """
    now = now or utcnow()
    campaign = db.session.get(Campaign, objection.campaign_id)
    _require_manager(actor, campaign)
    note = _text(note, "note", "note_required", _l("Write down how the objection was looked into."), NOTE_MAX)
    _in_phase(campaign, Phase.notice, now)
    status = ObjectionStatus.upheld if upheld else ObjectionStatus.dismissed
    moved = db.session.execute(update(Objection).where(Objection.id == objection.id,
                                                       Objection.status == ObjectionStatus.open)
                               .values(status=status, handled_by_id=actor.id, handled_at=now, handling_note=note)
                               .execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        raise Conflict("already_handled", _l("This objection has already been handled."))
    db.session.refresh(objection)
    if upheld and objection.nomination.status == NominationStatus.shortlisted:
        _set_status(objection.nomination, NominationStatus.removed, Conflict("already_handled", ""),
                    decided_by_id=actor.id, decided_at=now, decision_note=note)
    audit.record(actor, f"objection.{'uphold' if upheld else 'dismiss'}", objection, area_id=campaign.area_id,
                 now=now, reason=note, after={"nomination_id": objection.nomination_id, "status": status.value})
    return objection


def objections(campaign: Campaign) -> list[Objection]:
    return list(db.session.scalars(select(Objection).where(Objection.campaign_id == campaign.id)
                                   .order_by(Objection.created_at, Objection.id)))


# --- the announcement ------------------------------------------------------------------------------------------

def _home_community(person: User, campaign: Campaign, nomination: Nomination) -> Area:
    """Whose ledger pays and whose roll shows the honour: the winner's community inside the campaign's area."""
    for community in communities_of(person):
        if community.path.startswith(campaign.area.path) or campaign.area.path.startswith(community.path):
            return community
    for area in (nomination.head_area, campaign.area):
        community = community_of(area) if area is not None else None
        if community is not None:
            return community
    raise Refused("no_community", _l("The winner belongs to no community."))


def new_number(now: datetime) -> str:
    """RY2026-3F9A0C11D2: 荣誉 (honour), the year, 40 random bits."""
    return f"RY{certificates.new_number(now)}"


def _insert_honour(values: dict, now: datetime) -> int | None:
    """Insert the honour unless its nomination has one; a clash of random numbers is retried."""
    for _attempt in range(NUMBER_ATTEMPTS):
        try:
            with db.session.begin_nested():
                return db.session.execute(
                    upsert(Honour).values(number=new_number(now), **values)
                    .on_conflict_do_nothing(index_elements=["nomination_id"]).returning(Honour.id)).scalar()
        except IntegrityError:
            continue
    raise Conflict("number_clash", _l("Please try again."))


def award_honours(campaign: Campaign, actor: User | None, *, now: datetime | None = None) -> list[Honour]:
    """Honour every nominee still on the list of an announced campaign, and credit the points. Idempotent: the
    UNIQUE nomination of an honour and the ledger key "honour:<id>" make a second run award nothing.

    Raises Conflict(not_announced) before the announcement.
    """
    now = now or utcnow()
    if campaign.phase != Phase.announced:
        raise Conflict("not_announced", _l("The campaign has not been announced."))
    awarded = []
    winners = db.session.scalars(select(Nomination).where(
        Nomination.campaign_id == campaign.id,
        Nomination.status.in_([NominationStatus.shortlisted, NominationStatus.honoured]))
        .order_by(Nomination.tier, Nomination.id)).all()
    for nomination in winners:
        community = _home_community(nomination.nominee, campaign, nomination)
        honour_id = _insert_honour(dict(campaign_id=campaign.id, nomination_id=nomination.id,
                                        person_id=nomination.nominee_id, community_id=community.id,
                                        title=campaign.title, tier=nomination.tier, points=campaign.points,
                                        awarded_at=now), now)
        if nomination.status == NominationStatus.shortlisted:
            _set_status(nomination, NominationStatus.honoured, Conflict("already_announced", ""))
        honour = db.session.scalar(select(Honour).where(Honour.nomination_id == nomination.id))
        if honour.points:
            txn = ledger.credit(nomination.nominee, community, honour.points, kind=TxnKind.honour,
                                key=f"honour:{honour.id}", source=("honour", honour.id), memo=honour.title,
                                actor=actor, now=now)
            db.session.execute(update(Honour).where(Honour.id == honour.id, Honour.transaction_id.is_(None))
                               .values(transaction_id=txn.id).execution_options(synchronize_session=False))
            db.session.refresh(honour)
        if honour_id is not None:
            audit.record(actor, "honour.award", honour, area_id=community.id, now=now,
                         after={"person_id": honour.person_id, "number": honour.number, "points": honour.points})
            notifications.notify([honour.person_id], "honours.awarded", params={"title": honour.title}, now=now,
                                 link=("honours.verify", {"number": honour.number}), dedupe_key=f"honour:{honour.id}")
        awarded.append(honour)
    return awarded


# --- reading ----------------------------------------------------------------------------------------------------

def nominations(campaign: Campaign, statuses: Iterable[NominationStatus] | None = None) -> list[Nomination]:
    query = select(Nomination).where(Nomination.campaign_id == campaign.id)
    if statuses is not None:
        query = query.where(Nomination.status.in_(list(statuses)))
    return list(db.session.scalars(query.order_by(Nomination.tier, Nomination.votes.desc(), Nomination.id)))


def discounted(campaign: Campaign) -> dict[int, int]:
    """Discounted votes per nomination: they are rows in the tally, but do not count."""
    return dict(db.session.execute(
        select(Vote.nomination_id, func.count()).where(Vote.campaign_id == campaign.id, Vote.discounted.is_(True))
        .group_by(Vote.nomination_id)).all())


def flagged(campaign: Campaign) -> dict[int, int]:
    """Votes under a flag per nomination, whatever staff decided."""
    return dict(db.session.execute(
        select(Vote.nomination_id, func.count()).where(Vote.campaign_id == campaign.id, Vote.flag_id.is_not(None))
        .group_by(Vote.nomination_id)).all())


def mine(campaign: Campaign, user: User) -> list[Nomination]:
    """The user's own nominations in the campaign (as nominee or nominator), whatever their status."""
    if not getattr(user, "is_authenticated", False):
        return []
    return list(db.session.scalars(select(Nomination).where(
        Nomination.campaign_id == campaign.id,
        or_(Nomination.nominee_id == user.id, Nomination.nominator_id == user.id)).order_by(Nomination.id)))


def shortlist(campaign: Campaign) -> list[Nomination]:
    return nominations(campaign, [NominationStatus.shortlisted, NominationStatus.honoured])


def tier_name(campaign: Campaign, tier: int) -> str:
    """'Building head' (or the community's own title) for a best-head seat group; '' otherwise."""
    if not tier:
        return ""
    return head_title(community_of(campaign.area), tier)


def honours(campaign: Campaign) -> list[Honour]:
    return list(db.session.scalars(select(Honour).where(Honour.campaign_id == campaign.id)
                                   .order_by(Honour.tier, Honour.id)))


def honours_of(person: User) -> list[Honour]:
    return list(db.session.scalars(select(Honour).where(Honour.person_id == person.id)
                                   .order_by(Honour.awarded_at.desc(), Honour.id.desc())))


def honour_roll(area: Area, limit: int = 500) -> list[Honour]:
    """Honours of the people of the area's communities, newest first: the public honour roll."""
    return list(db.session.scalars(
        select(Honour).join(Area, Honour.community_id == Area.id)
        .where(path_under(Area.path, area.path))
        .order_by(Honour.awarded_at.desc(), Honour.tier, Honour.id).limit(limit)))


def roll_name(person: User) -> str:
    """A name on the public honour roll: masked, and only for those who agreed to appear on public lists."""
    return person.masked_name if person.public_consent else _("Name not shown")


def roll_area(area_id: int) -> Area:
    """An area whose honour roll is public: a district, street or community. Raises NotFound."""
    area = load(Area, area_id)
    if area is None or area.level not in (Level.district, Level.street, Level.community):
        raise NotFound("not_found", _l("Not found."))
    return area


def notice_campaign(campaign_id: int) -> Campaign:
    """A campaign whose list is public: in its public notice, or announced. Raises NotFound otherwise."""
    campaign = load(Campaign, campaign_id)
    if campaign is None or campaign.phase not in (Phase.notice, Phase.announced):
        raise NotFound("not_found", _l("Not found."))
    return campaign


def notice_open(campaign: Campaign, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return campaign.phase == Phase.notice and campaign.notice_from <= now < campaign.notice_until


def by_number(number: str) -> Honour:
    number = (number or "").strip().upper()
    found = db.session.scalar(select(Honour).where(Honour.number == number)) if len(number) <= 32 else None
    if found is None:
        raise NotFound("not_found", _l("No honour has this number."))
    return found


def readable_honour(user: User, number: str) -> Honour:
    """The honour's certificate, for its person and the campaign's staff. Raises NotFound for anyone else."""
    honour = by_number(number)
    if honour.person_id != getattr(user, "id", None) and not can_manage(user, honour.campaign):
        raise NotFound("not_found", _l("Not found."))
    return honour


def honour_title(honour: Honour) -> str:
    """The title as certificates and rolls show it: '2026年度“最美三长”（楼栋长）'."""
    tier = tier_name(honour.campaign, honour.tier)
    return _("%(title)s (%(tier)s)", title=honour.title, tier=tier) if tier else honour.title


def verification(honour: Honour) -> dict:
    """What anyone holding the number may see: no personal data beyond the masked name."""
    return {"number": honour.number, "valid": True, "name": mask_name(honour.person.name),
            "title": honour_title(honour), "campaign": honour.campaign.title, "issuer": honour.campaign.area.name,
            "awarded_at": honour.awarded_at}


@dataclass(frozen=True)
class Tally:
    nomination: Nomination
    votes: int
    flagged: int
    discounted: int

    @property
    def counted(self) -> int:
        return self.votes - self.discounted


def tallies(campaign: Campaign, statuses: Iterable[NominationStatus] | None = None) -> list[Tally]:
    """Each candidate's votes (the rows), of them flagged and discounted, highest counted first in each tier."""
    off, under_flag = discounted(campaign), flagged(campaign)
    rows = [Tally(n, n.votes, under_flag.get(n.id, 0), off.get(n.id, 0))
            for n in nominations(campaign, statuses or PUBLIC_STATUSES + (NominationStatus.removed,))]
    return sorted(rows, key=lambda t: (t.nomination.tier, -t.counted, t.nomination.id))


def shows_tallies(user: User, campaign: Campaign) -> bool:
    """Staff follow the count live; residents see it once voting is over (a running count invites bandwagons)."""
    return can_manage(user, campaign) or campaign.phase not in (Phase.nomination, Phase.voting)


def verify(campaign: Campaign | None = None) -> list[str]:
    """Tallies against the rows: every nomination's counter equals its vote rows, every ballot its voter's rows
    and never more than the campaign's votes, every paid honour has its transaction. Returns the problems."""
    where_n = [Nomination.campaign_id == campaign.id] if campaign is not None else []
    rows = select(Vote.nomination_id, func.count().label("n")).group_by(Vote.nomination_id).subquery()
    problems = [f"nomination {nid}: tally {votes} but {n} vote row(s)" for nid, votes, n in db.session.execute(
        select(Nomination.id, Nomination.votes, func.coalesce(rows.c.n, 0))
        .outerjoin(rows, rows.c.nomination_id == Nomination.id)
        .where(Nomination.votes != func.coalesce(rows.c.n, 0), *where_n))]
    where_b = [Ballot.campaign_id == campaign.id] if campaign is not None else []
    per_voter = select(Vote.campaign_id, Vote.voter_id, func.count().label("n")) \
        .group_by(Vote.campaign_id, Vote.voter_id).subquery()
    problems += [f"ballot of voter {voter} in campaign {cid}: {used} used but {n} vote row(s)"
                 for cid, voter, used, n in db.session.execute(
                     select(Ballot.campaign_id, Ballot.voter_id, Ballot.used, func.coalesce(per_voter.c.n, 0))
                     .outerjoin(per_voter, (per_voter.c.campaign_id == Ballot.campaign_id)
                                & (per_voter.c.voter_id == Ballot.voter_id))
                     .where(Ballot.used != func.coalesce(per_voter.c.n, 0), *where_b))]
    problems += [f"ballot of voter {voter} in campaign {cid}: {used} votes used, only {limit} allowed"
                 for cid, voter, used, limit in db.session.execute(
                     select(Ballot.campaign_id, Ballot.voter_id, Ballot.used, Campaign.votes_per_voter)
                     .join(Campaign, Campaign.id == Ballot.campaign_id)
                     .where(Ballot.used > Campaign.votes_per_voter, *where_b))]
    where_h = [Honour.campaign_id == campaign.id] if campaign is not None else []
    problems += [f"honour {number}: {points} points but no transaction" for number, points in db.session.execute(
        select(Honour.number, Honour.points).where(Honour.points > 0, Honour.transaction_id.is_(None), *where_h))]
    return problems


# --- the certificate -----------------------------------------------------------------------------------------------

def certificate_statement(honour: Honour) -> str:
    return _("Recommended and voted for by the residents of %(area)s, reviewed and publicly announced, you have "
             "been awarded the title %(title)s. This certificate is awarded in recognition.",
             area=honour.campaign.area.name, title=honour_title(honour))


def honour_pdf(honour: Honour, verify_url: str) -> bytes:
    """The honour certificate (荣誉证书) as an A4 PDF with the verification QR code, in the built-in Chinese font."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen import canvas

    font = certificates.pdf_font()
    person, campaign = honour.person, honour.campaign
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    pdf.setTitle(f"{_('Honour certificate')} {honour.number}")
    pdf.setSubject(honour.number)
    pdf.setAuthor(campaign.area.name)
    width, height = A4
    left, right = 25 * mm, width - 25 * mm
    pdf.setStrokeColorRGB(0.72, 0.12, 0.1)
    pdf.setLineWidth(3)
    # A double red frame, inside which the verification line at the foot still fits.
    pdf.rect(7 * mm, 7 * mm, width - 14 * mm, height - 14 * mm)
    pdf.setLineWidth(0.8)
    pdf.rect(10 * mm, 10 * mm, width - 20 * mm, height - 20 * mm)
    pdf.setFillColorRGB(0.72, 0.12, 0.1)
    pdf.setFont(font, 36)
    pdf.drawCentredString(width / 2, height - 55 * mm, _("Honour certificate"))
    pdf.setFillColorRGB(0, 0, 0)
    pdf.setFont(font, 10)
    pdf.drawRightString(right, height - 68 * mm, _("No. %(number)s", number=honour.number))
    y = height - 90 * mm
    pdf.setFont(font, 16)
    pdf.drawString(left, y, _("%(name)s:", name=person.name))
    y -= 14 * mm
    statement = certificate_statement(honour)
    for line in certificates.wrap(statement, font, 15, right - left - 10 * mm):
        pdf.drawString(left + 10 * mm, y, line)
        y -= 10 * mm
    pdf.setFont(font, 14)
    pdf.drawRightString(right, 88 * mm, campaign.area.name)
    pdf.drawRightString(right, 78 * mm, certificates.local_date(honour.awarded_at))
    certificates.draw_verification(pdf, verify_url, font, left, right)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()

