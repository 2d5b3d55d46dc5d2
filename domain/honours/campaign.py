"""A campaign itself: opening it (the form and its checks), loading it for a person (in reach, run by them), the
campaigns a person sees or may open, and the campaign's row lock with its phase window, which every decision that
counts or moves phases takes first. Who may see, run or nominate in a campaign are rules in domain/access.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select

from domain import audit, rules
from domain.access import ANY_ROLE, MANAGERS, areas_of, can, get_visible, scope_clause
from domain.errors import Forbidden, Invalid, NotFound, Refused
from domain.org import community_of, head_title
from models import Area, Level, User, db, utcnow
from models.area import path_under
from models.honours import Campaign, CampaignKind, Objection, Phase, VoteFlag

__all__ = [
    "DEFAULT_HEAD_SEATS", "DEFAULT_SEATS", "DEFAULT_VOTES", "HORIZON", "KIND_TITLES", "MAX_NOTICE_DAYS", "MAX_POINTS",
    "MAX_SEATS", "MAX_VOTES", "NOTE_MAX", "NOTICE_DAYS", "OPTIONAL_DATES", "REVIEW_DAYS", "SCOPE_LEVELS", "TIER_KEYS",
    "CampaignForm", "award_rule", "campaigns_for", "can_manage", "check_date", "check_order", "creatable_areas",
    "managed", "managed_row", "notice_campaign", "notice_open", "open_campaign", "tier_name", "visible",
]

#: Levels a campaign may cover.
SCOPE_LEVELS = (Level.street, Level.community, Level.estate, Level.grid)
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
#: Staff's notes on their decisions (review, flags, objections).
NOTE_MAX = 1000
#: A campaign's dates lie within this of the day it is opened.
HORIZON = timedelta(days=730)

KIND_TITLES = {CampaignKind.best_head: _l("Best head"), CampaignKind.good_neighbour: _l("Good neighbour")}


# --- loading a campaign for a person ------------------------------------------------------------------------------

def can_manage(user: User, campaign: Campaign) -> bool:
    """Staff of the campaign's area (or above) run it: the rule "campaign.manage"."""
    return can(user, "campaign.manage", campaign)


def visible(user: User, campaign_id: int) -> Campaign:
    """Raises NotFound when missing or outside the user's reach."""
    return get_visible(Campaign, campaign_id, user, "campaign.view")


def managed(user: User, campaign_id: int) -> Campaign:
    """Raises NotFound outside the user's reach, Forbidden(not_staff) for those who see it but do not run it."""
    campaign = visible(user, campaign_id)
    _require_manager(user, campaign)
    return campaign


#: The rule that finds a campaign's row for those who see the campaign (acting on it takes running the campaign).
_FIND = {VoteFlag: "vote_flag.find", Objection: "objection.find"}


def managed_row(user: User, model, ident):
    """A campaign's flag or objection (`model`) that the user runs the campaign of. Raises NotFound (missing or out of
    reach), Forbidden(not_staff) as `managed` does."""
    row = get_visible(model, ident, user, _FIND[model])
    managed(user, row.campaign_id)
    return row


def _require_manager(user: User, campaign: Campaign) -> None:
    if not can(user, "campaign.manage", campaign):
        if can(user, "campaign.view", campaign):
            raise Forbidden("not_staff", _l("Only community staff can do this."))
        raise NotFound("not_found", _l("Not found."))


def campaigns_for(user: User, limit: int = 200) -> list[Campaign]:
    """Campaigns covering where the user lives or holds a role, and those under the areas their roles cover,
    newest first."""
    ancestors = {i for area in areas_of(user) for i in area.ancestor_ids}
    query = select(Campaign).join(Area, Campaign.area_id == Area.id).where(
        or_(Campaign.area_id.in_(ancestors), scope_clause(user, ANY_ROLE, Area.path)))
    found = db.session.scalars(query.order_by(Campaign.created_at.desc(), Campaign.id.desc()).limit(limit))
    return [c for c in found if can(user, "campaign.view", c)]


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


def notice_campaign(campaign_id: int) -> Campaign:
    """A campaign whose list is public: in its public notice, or announced. Raises NotFound otherwise."""
    return get_visible(Campaign, campaign_id, None, "campaign.public")


def notice_open(campaign: Campaign, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return campaign.phase == Phase.notice and campaign.notice_from <= now < campaign.notice_until


def tier_name(campaign: Campaign, tier: int) -> str:
    """'Building head' (or the community's own title) for a best-head seat group; '' otherwise."""
    if not tier:
        return ""
    return head_title(community_of(campaign.area), tier)


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
    #: best_head: {tier: seats}, or one number for every tier; the others: a number of seats (or {0: n}).
    seats: dict[int, int] | int | None = None
    votes_per_voter: int = DEFAULT_VOTES
    #: None: the community's "honour.award" rule now.
    points: int | None = None
    self_nomination: bool = False
    description: str | None = None


def _bad(field: str, code: str, message) -> Invalid:
    return Invalid(code, message, {field: [message]})


def _text(value: str | None, field: str, code: str, message, limit: int) -> str:
    value = (value or "").strip()
    if not value or len(value) > limit:
        raise _bad(field, code, message)
    return value


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
        if isinstance(seats, int) and not isinstance(seats, bool):
            # The first published contract's one number: clients written to it still mean the same for every tier.
            seats = dict.fromkeys(TIER_KEYS.values(), seats)
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


def award_rule(area: Area, now: datetime | None = None) -> int:
    """The points for each winner when the form leaves them out: the "honour.award" rule of the area's community
    at `now`, or the rule's default above communities."""
    community = community_of(area)
    return rules.rule_value(community, "honour.award", now) if community is not None \
        else rules.DEFAULTS["honour.award"][0]


#: Dates a campaign may leave out: the review ends 3 days after voting, the announcement follows the notice.
OPTIONAL_DATES = ("review_until", "announce_at")


def check_date(name: str, moment: datetime | None, now: datetime) -> None:
    """A campaign's date given with its time zone, within two years of `now`. Raises Invalid(dates_invalid) naming
    the field `name`."""
    if moment is None or moment.tzinfo is None:
        raise _bad(name, "dates_invalid", _l("Give the date with a time zone."))
    if not now - HORIZON <= moment <= now + HORIZON:
        raise _bad(name, "dates_invalid", _l("Give a date within two years of today."))


#: The phases follow each other: (earlier, later, may they meet, the later field's error).
_ORDER = (
    ("nominate_from", "nominate_until", False, _l("Nominations must close after they open.")),
    ("nominate_until", "vote_from", True, _l("Voting must start after nominations close.")),
    ("vote_from", "vote_until", False, _l("Voting must close after it opens.")),
    ("vote_until", "review_until", True, _l("The review must end after voting closes.")),
)


def check_order(dates: dict[str, datetime]) -> None:
    """Nomination, then voting, then the review. Raises Invalid(dates_invalid) on the later date of the first pair
    out of order, saying which."""
    for earlier, later, may_meet, message in _ORDER:
        if dates[later] < dates[earlier] or (dates[later] == dates[earlier] and not may_meet):
            raise _bad(later, "dates_invalid", message)


def _checked(area: Area, form: CampaignForm, now: datetime) -> dict:
    """The form's values, checked; raises Invalid naming the field."""
    if form.kind not in CampaignKind.__members__:
        raise _bad("kind", "kind_invalid", _l("Choose best head, good neighbour or a title of your own."))
    kind = CampaignKind(form.kind)
    title = (form.title or "").strip() or (str(KIND_TITLES[kind]) if kind in KIND_TITLES else "")
    if not title or len(title) > 100:
        raise _bad("title", "title_invalid", _l("A title of at most 100 characters is required."))
    dates = {"nominate_from": form.nominate_from, "nominate_until": form.nominate_until,
             "vote_from": form.vote_from, "vote_until": form.vote_until, "review_until": form.review_until,
             "announce_at": form.announce_at}
    for name, moment in dates.items():
        if moment is not None or name not in OPTIONAL_DATES:
            check_date(name, moment, now)
    dates["review_until"] = dates["review_until"] or form.vote_until + timedelta(days=REVIEW_DAYS)
    check_order(dates)
    if form.nominate_until <= now:
        raise _bad("nominate_until", "dates_invalid", _l("Nominations must close in the future."))
    if dates["review_until"] > now + HORIZON:
        raise _bad("review_until", "dates_invalid", _l("The campaign must end within two years of today."))
    review_until = dates["review_until"]
    if not isinstance(form.notice_days, int) or not 1 <= form.notice_days <= MAX_NOTICE_DAYS:
        raise _bad("notice_days", "notice_days_invalid", _l("The public notice lasts 1 to 30 working days."))
    if not isinstance(form.votes_per_voter, int) or not 1 <= form.votes_per_voter <= MAX_VOTES:
        raise _bad("votes_per_voter", "votes_invalid", _l("Each resident has 1 to 20 votes."))
    points = award_rule(area, now) if form.points is None else form.points
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


# --- the row lock and the phase window ------------------------------------------------------------------------------

def _count(model, *conditions) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0


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
