"""Honours: campaigns (最美三长, 社区好人), nominations, votes, objections and awards.

A campaign runs through five phases — nomination → voting → review → public notice (公示) → announced — each
an enum value moved by one transition function in domain/honours/. Votes are rows: a UNIQUE (campaign, voter,
nomination) stops duplicates, a guarded counter per voter (`Ballot.used`) stops a voter going over their
votes, and a nomination's `votes` counter moves in the same transaction as its vote row, so tallies always equal
the rows (`flask campaigns verify` checks it).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.area import Area
from models.base import UTCDateTime, db, utcnow
from models.user import User


def _enum(kind: type[enum.Enum]) -> Enum:
    return Enum(kind, native_enum=False, length=16, validate_strings=True)


class CampaignKind(enum.StrEnum):
    #: 最美三长: nominees hold a head post in scope; seats per tier.
    best_head = "best_head"
    #: 社区好人: any resident in scope.
    good_neighbour = "good_neighbour"
    #: A title of the community's own choosing, open to any resident in scope.
    custom = "custom"


class Phase(enum.StrEnum):
    nomination = "nomination"
    voting = "voting"
    review = "review"
    notice = "notice"
    announced = "announced"


PHASES = list(Phase)


class Campaign(db.Model):
    """An honour campaign over a street, community, estate or grid, with the dates of its phases."""

    __tablename__ = "campaign"
    __table_args__ = (
        CheckConstraint("nominate_from < nominate_until AND nominate_until <= vote_from AND vote_from < vote_until "
                        "AND vote_until <= review_until", name="phases_in_order"),
        CheckConstraint("votes_per_voter >= 1", name="votes_per_voter_positive"),
        CheckConstraint("points >= 0", name="points_not_negative"),
        CheckConstraint("notice_days >= 1", name="notice_days_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The scope: whose residents nominate, vote and object, and whose heads a best-head campaign honours.
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id"), nullable=False, index=True)
    kind: Mapped[CampaignKind] = mapped_column(_enum(CampaignKind), nullable=False)
    title: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    phase: Mapped[Phase] = mapped_column(_enum(Phase), nullable=False, default=Phase.nomination)
    phase_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    nominate_from: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    nominate_until: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    #: When voting opens by the schedule; staff opening it early set it to that moment.
    vote_from: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    vote_until: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    #: The review ends by this date when every decision has been taken.
    review_until: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    #: Length of the public notice in working days (Mon–Fri), counted from the day after it is posted.
    notice_days: Mapped[int] = mapped_column(Integer, nullable=False, default=5)
    #: Set when the notice is posted: objections are taken in [notice_from, notice_until).
    notice_from: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    notice_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: The schedule announces no earlier than this (None: as soon as the notice is over and objections handled).
    announce_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    announced_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: Seats per head tier {"1": 1, "2": 8, "3": 8} for best_head; {"0": n} for the others.
    seats: Mapped[dict] = mapped_column(JSON, nullable=False)
    votes_per_voter: Mapped[int] = mapped_column(Integer, nullable=False, default=3)
    #: Points credited to each winner at the announcement (0: none).
    points: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    #: May a resident nominate themself?
    self_nomination: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    area: Mapped[Area] = relationship(lazy="joined")
    created_by: Mapped[User] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<Campaign {self.id} {self.kind} {self.phase}>"

    def seats_for(self, tier: int | None) -> int:
        return int((self.seats or {}).get(str(tier or 0), 0))

    @property
    def tiers(self) -> list[int]:
        """The seat groups: head tiers for best_head, [0] for the others."""
        return sorted(int(k) for k in (self.seats or {}))


class NominationStatus(enum.StrEnum):
    #: Waiting for the nominee's consent: shown to nobody but the nominee, the nominator and staff.
    pending = "pending"
    #: The nominee consented: a candidate, shown to the residents in scope.
    confirmed = "confirmed"
    declined = "declined"
    #: The nominee withdrew their consent during the nomination phase.
    withdrawn = "withdrawn"
    #: The nomination phase ended before the nominee answered.
    lapsed = "lapsed"
    #: Staff put the candidate on the list for the public notice (拟表彰名单).
    shortlisted = "shortlisted"
    passed_over = "passed_over"
    #: Taken off the list after an objection was upheld.
    removed = "removed"
    honoured = "honoured"


#: Statuses in which residents in scope see a nomination (the nominee consented).
PUBLIC_STATUSES = (NominationStatus.confirmed, NominationStatus.shortlisted, NominationStatus.passed_over,
                   NominationStatus.honoured)
#: Candidates: those who consented and were not withdrawn.
CANDIDATE_STATUSES = (NominationStatus.confirmed, NominationStatus.shortlisted, NominationStatus.passed_over,
                      NominationStatus.removed, NominationStatus.honoured)


class Nomination(db.Model):
    __tablename__ = "nomination"
    __table_args__ = (
        UniqueConstraint("campaign_id", "nominee_id"),
        CheckConstraint("votes >= 0", name="votes_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), nullable=False)
    nominee_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False, index=True)
    nominator_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    #: Names of photos stored by domain/photos.py.
    photos: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    #: Seat group: the nominee's head tier (best_head), else 0.
    tier: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    #: The area the nominee heads (best_head), for the notice and the certificate.
    head_area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id"), nullable=True)
    status: Mapped[NominationStatus] = mapped_column(_enum(NominationStatus), nullable=False,
                                                     default=NominationStatus.pending)
    #: Guarded counter: always equal to the number of vote rows of this nomination.
    votes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: Staff's note on the review decision (shortlisted or passed over), or on the removal.
    decision_note: Mapped[str | None] = mapped_column(Text, nullable=True)

    campaign: Mapped[Campaign] = relationship(lazy="joined")
    nominee: Mapped[User] = relationship(foreign_keys=[nominee_id], lazy="joined")
    nominator: Mapped[User] = relationship(foreign_keys=[nominator_id], lazy="joined")
    head_area: Mapped[Area | None] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<Nomination {self.id} {self.status} nominee={self.nominee_id}>"

    @property
    def is_public(self) -> bool:
        return self.status in PUBLIC_STATUSES


class Ballot(db.Model):
    """How many of their votes a voter has used in a campaign: the guarded counter of the per-voter limit."""

    __tablename__ = "ballot"
    __table_args__ = (UniqueConstraint("campaign_id", "voter_id"),
                      CheckConstraint("used >= 0", name="used_not_negative"))

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), nullable=False)
    voter_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False, index=True)
    used: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class FlagStatus(enum.StrEnum):
    open = "open"
    #: Staff looked at the evidence and kept the votes.
    kept = "kept"
    #: Staff discounted the flagged votes: they stay as rows, but do not count.
    discounted = "discounted"


class VoteFlag(db.Model):
    """A suspicious pattern of votes for one nomination, with the votes as evidence, for staff to decide."""

    __tablename__ = "vote_flag"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), nullable=False, index=True)
    nomination_id: Mapped[int] = mapped_column(ForeignKey("nomination.id"), nullable=False, index=True)
    #: Machine code of the pattern, e.g. "new_accounts_burst".
    pattern: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[FlagStatus] = mapped_column(_enum(FlagStatus), nullable=False, default=FlagStatus.open)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)

    nomination: Mapped[Nomination] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<VoteFlag {self.id} {self.pattern} {self.status}>"


class Vote(db.Model):
    __tablename__ = "vote"
    __table_args__ = (
        UniqueConstraint("campaign_id", "voter_id", "nomination_id"),
        Index("ix_vote_nomination_created", "nomination_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), nullable=False)
    nomination_id: Mapped[int] = mapped_column(ForeignKey("nomination.id"), nullable=False)
    voter_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    #: The flag this vote is evidence for, if any.
    flag_id: Mapped[int | None] = mapped_column(ForeignKey("vote_flag.id"), nullable=True, index=True)
    #: Set when staff discount its flag: the row stays (tallies equal rows), but the vote does not count.
    discounted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)

    voter: Mapped[User] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<Vote {self.id} nomination={self.nomination_id} voter={self.voter_id}>"


class ObjectionStatus(enum.StrEnum):
    open = "open"
    #: The objection holds: the nominee is taken off the list.
    upheld = "upheld"
    dismissed = "dismissed"


class Objection(db.Model):
    """An objection to a shortlisted nominee during the public notice, lodged under the objector's real name."""

    __tablename__ = "objection"
    __table_args__ = (UniqueConstraint("nomination_id", "objector_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), nullable=False, index=True)
    nomination_id: Mapped[int] = mapped_column(ForeignKey("nomination.id"), nullable=False)
    objector_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False, index=True)
    #: The name the objector signed with; it must be the name they are registered under (实名).
    real_name: Mapped[str] = mapped_column(String(50), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[ObjectionStatus] = mapped_column(_enum(ObjectionStatus), nullable=False,
                                                    default=ObjectionStatus.open)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: How staff handled it: what was checked and what came of it.
    handling_note: Mapped[str | None] = mapped_column(Text, nullable=True)

    nomination: Mapped[Nomination] = relationship(lazy="joined")
    objector: Mapped[User] = relationship(foreign_keys=[objector_id], lazy="joined")

    def __repr__(self) -> str:
        return f"<Objection {self.id} {self.status}>"


class Honour(db.Model):
    """An honour awarded at the announcement: on the person's profile and the honour roll, with a certificate."""

    __tablename__ = "honour"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), nullable=False, index=True)
    #: UNIQUE: a nomination is honoured once, however often the announcement runs.
    nomination_id: Mapped[int] = mapped_column(ForeignKey("nomination.id"), nullable=False, unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False, index=True)
    #: The winner's community: its ledger pays the points and its honour roll shows the honour.
    community_id: Mapped[int] = mapped_column(ForeignKey("area.id"), nullable=False, index=True)
    title: Mapped[str] = mapped_column(String(100), nullable=False)
    tier: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    #: Printed on the certificate and in its QR code; random, so numbers cannot be guessed in sequence.
    number: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    points: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transaction.id"), nullable=True)
    awarded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    campaign: Mapped[Campaign] = relationship(lazy="joined")
    person: Mapped[User] = relationship(lazy="joined")
    community: Mapped[Area] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<Honour {self.number} person={self.person_id}>"
