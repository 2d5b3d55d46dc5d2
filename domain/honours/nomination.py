"""Nominations: who may be nominated (a head in a tier with seats, or a resident), nominating with a reason and
photos, the nominee's consent, and the one table of a nomination's status moves (`_FROM`) that every later step
(review, objections, the announcement) moves it by.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select, update

from domain import notifications
from domain.access import can, get_visible
from domain.errors import Conflict, Forbidden, Invalid, Refused
from domain.honours.campaign import _bad, _in_phase, _text
from domain.membership import lives_in
from models import Area, HeadPost, User, db, utcnow
from models.area import path_under
from models.honours import Campaign, CampaignKind, Nomination, NominationStatus, Phase
from models.sql import upsert

__all__ = [
    "MAX_PHOTOS", "REASON_MAX", "Eligibility", "answer", "can_see_nomination", "eligibility", "head_post_in",
    "heads_in", "mine", "nominate", "nominations", "person_by_phone", "shortlist", "visible_nomination", "withdraw",
]

MAX_PHOTOS = 3
#: The reasons people give for a nomination or an objection.
REASON_MAX = 1000

notifications.register("honours.nominated", _l("You have been nominated for %(title)s. Please say whether your "
                                               "name may be shown."))

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


# --- who may be nominated -------------------------------------------------------------------------------------------

def can_see_nomination(user: User, nomination: Nomination) -> bool:
    """The rule "nomination.view": the nominee and the nominator always; staff; the campaign's people once the
    nominee consented."""
    return can(user, "nomination.view", nomination)


def visible_nomination(user: User, nomination_id: int) -> Nomination:
    """Raises NotFound when missing or hidden from the user."""
    return get_visible(Nomination, nomination_id, user, "nomination.view")


def head_post_in(person: User, area: Area) -> HeadPost | None:
    """The person's current head post inside the area, the highest tier first (a grid head who also heads a unit
    stands as grid head)."""
    return db.session.scalar(
        select(HeadPost).join(Area, HeadPost.area_id == Area.id)
        .where(HeadPost.user_id == person.id, HeadPost.until.is_(None),
               path_under(Area.path, area.path))
        .order_by(HeadPost.tier, HeadPost.id).limit(1))


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


# --- nominating and consenting -------------------------------------------------------------------------------------

def nominate(actor: User, campaign: Campaign, nominee: User, *, reason: str, photos: Iterable[str] = (),
             now: datetime | None = None) -> Nomination:
    """A resident in scope (or a head or staff) nominates someone with a reason and up to three photos.

    A self-nomination (where the campaign allows it) counts as consent, as does the nominee's profile consent to
    be named in honour notices. Raises Forbidden(not_in_scope),
    Invalid(reason_required, too_many_photos), Refused(phase_closed, self_nomination_not_allowed,
    nominee_not_eligible), Conflict(already_nominated).
    """
    now = now or utcnow()
    if not can(actor, "campaign.nominate", campaign):
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


# --- reading ----------------------------------------------------------------------------------------------------

def nominations(campaign: Campaign, statuses: Iterable[NominationStatus] | None = None) -> list[Nomination]:
    query = select(Nomination).where(Nomination.campaign_id == campaign.id)
    if statuses is not None:
        query = query.where(Nomination.status.in_(list(statuses)))
    return list(db.session.scalars(query.order_by(Nomination.tier, Nomination.votes.desc(), Nomination.id)))


def mine(campaign: Campaign, user: User) -> list[Nomination]:
    """The user's own nominations in the campaign (as nominee or nominator), whatever their status."""
    if not getattr(user, "is_authenticated", False):
        return []
    return list(db.session.scalars(select(Nomination).where(
        Nomination.campaign_id == campaign.id,
        or_(Nomination.nominee_id == user.id, Nomination.nominator_id == user.id)).order_by(Nomination.id)))


def shortlist(campaign: Campaign) -> list[Nomination]:
    return nominations(campaign, [NominationStatus.shortlisted, NominationStatus.honoured])
