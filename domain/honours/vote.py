"""Votes, ballots and tallies: casting a vote (its UNIQUE row, the voter's guarded ballot counter and the nominee's
tally in one savepoint), the watch for suspicious bursts of votes and staff's judgement of them, and the tallies
read back with the flagged and discounted votes beside them. Votes take no campaign lock: their constraints and
guarded counters keep them right.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from domain import audit
from domain.access import can
from domain.errors import Conflict, Forbidden, NotFound, Refused
from domain.honours.campaign import NOTE_MAX, _lock, _require_manager, _text
from domain.honours.nomination import nominations
from domain.membership import lives_in
from models import Ballot, Campaign, FlagStatus, Nomination, NominationStatus, Phase, User, Vote, VoteFlag, db, utcnow
from models.honours import PUBLIC_STATUSES
from models.sql import upsert

__all__ = [
    "BURST", "BURST_VOTES", "BURST_WINDOW", "NEW_ACCOUNT_AGE", "Tally", "cast_vote", "decide_flag", "discounted",
    "flag_votes", "flagged", "flags", "tallies", "voted_for", "votes_left",
]

#: The suspicious pattern watched for: this many votes for one nominee within the window, from new accounts.
BURST_VOTES = 5
BURST_WINDOW = timedelta(minutes=10)
NEW_ACCOUNT_AGE = timedelta(days=7)
BURST = "new_accounts_burst"


def cast_vote(voter: User, nomination: Nomination, *, now: datetime | None = None) -> Vote:
    """One vote of a resident in scope for a candidate.

    In one savepoint: the vote row (UNIQUE per voter and nominee), the voter's guarded counter, the nomination's
    tally, and the watch for suspicious patterns. Raises NotFound (not a candidate one can see),
    Forbidden(not_in_scope, own_nomination), Refused(phase_closed, no_votes_left), Conflict(already_voted).
    """
    now = now or utcnow()
    campaign = nomination.campaign
    if not nomination.is_public and not can(voter, "nomination.view", nomination):
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


# --- flags: staff's judgement of suspicious votes --------------------------------------------------------------

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


# --- tallies ----------------------------------------------------------------------------------------------------

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

