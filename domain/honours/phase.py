"""A campaign's phases: nomination → voting → review → notice (公示) → announced. `next_step` says what ending the
current phase needs; `advance` moves a campaign by hand where the rules allow, `advance_by_schedule` when its date
has come. Every move is `_move`: one guarded UPDATE from the phase it left (of two advances at once exactly one
moves it), with what comes with it — lapsing the unanswered nominations when voting opens, awarding the honours
on the announcement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from domain import audit
from domain.errors import Conflict
from domain.honours.award import award_honours
from domain.honours.campaign import _count, _lock, _require_manager
from domain.honours.nomination import _FROM
from domain.labels import deadline_text
from domain.ledger import SHANGHAI
from models import User, db, utcnow
from models.honours import (
    Campaign,
    FlagStatus,
    Nomination,
    NominationStatus,
    Objection,
    ObjectionStatus,
    Phase,
    VoteFlag,
)

__all__ = [
    "NEXT", "Report", "Step", "advance", "advance_by_schedule", "advance_due", "advancing", "next_step", "notice_end",
]


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
    return deadline_text(moment, with_year=False)


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
            blockers.append(_("Voting can start once nominations close at %(time)s.",
                              time=_local(campaign.nominate_until)))
        if not _count(Nomination, of_campaign, Nomination.status == NominationStatus.confirmed):
            blockers.append(_("No nominee has consented yet: voting needs at least one candidate."))
    elif phase == Phase.voting:
        scheduled = campaign.vote_until
        if now < campaign.vote_until:
            blockers.append(_("The review can start once voting closes at %(time)s.", time=_local(campaign.vote_until)))
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
            blockers.append(_("The results can be announced once the public notice ends at %(time)s.",
                              time=_local(campaign.notice_until)))
        open_objections = _count(Objection, Objection.campaign_id == campaign.id,
                                 Objection.status == ObjectionStatus.open)
        if open_objections:
            blockers.append(_("%(n)s objection(s) wait to be handled.", n=open_objections))
    return Step(NEXT[phase], tuple(blockers), scheduled)


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
