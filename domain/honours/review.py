"""The staff's review after voting: shortlisting candidates for the public notice (within the seats of each tier) or
passing them over, a note for each, with each nominee's hours, points and approved tasks over the year up to the
end of voting beside them to help the judgement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from domain import audit
from domain.errors import Conflict, Refused
from domain.honours.campaign import NOTE_MAX, _count, _in_phase, _require_manager, _text
from domain.honours.nomination import _set_status
from domain.ledger import SHANGHAI, month_of
from models import HoursMonthly, MonthlyTotal, User, db, utcnow
from models.honours import Campaign, Nomination, NominationStatus, Phase

__all__ = ["FIGURE_MONTHS", "Figures", "decide", "figure_months", "figures", "tasks_done"]

#: Figures shown at the review cover this many months up to the end of voting.
FIGURE_MONTHS = 12


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
