"""A campaign's dates changed by its staff before their phases start: `date_locks` says which can no longer change
and why, `reschedule` changes the others, checked as opening a campaign checks them and audited with old and new.

A phase that has started keeps its start; the dates after it stay open while they are still to come. A phase that is
over keeps all its dates. The nomination phase starts at its first date, the others when the campaign moves into
them (by the schedule or by staff), whatever their dates say.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from domain import audit
from domain.errors import Conflict
from domain.honours.campaign import (
    MAX_NOTICE_DAYS,
    OPTIONAL_DATES,
    _bad,
    _lock,
    _require_manager,
    check_date,
    check_order,
)
from domain.labels import deadline_text, phase_name
from domain.ledger import SHANGHAI
from models import User, db, utcnow
from models.honours import PHASES, Campaign, Phase

__all__ = ["SCHEDULE_FIELDS", "DateLock", "date_locks", "reschedule"]


@dataclass(frozen=True)
class _Field:
    #: The phase the date belongs to.
    phase: Phase
    #: True: the phase starts at this date (kept once it has started); False: it ends there (or it is a length).
    starts: bool


#: What staff may reschedule, in the order of the phases.
SCHEDULE_FIELDS = {
    "nominate_from": _Field(Phase.nomination, True),
    "nominate_until": _Field(Phase.nomination, False),
    "vote_from": _Field(Phase.voting, True),
    "vote_until": _Field(Phase.voting, False),
    "review_until": _Field(Phase.review, False),
    "notice_days": _Field(Phase.notice, True),
    "announce_at": _Field(Phase.announced, True),
}


@dataclass(frozen=True)
class DateLock:
    """Why a date can no longer change: `code` for clients, `reason` for people."""

    code: str
    reason: str


def _started(campaign: Campaign, phase: Phase, now: datetime) -> bool:
    if phase == Phase.nomination:
        return campaign.phase != Phase.nomination or now >= campaign.nominate_from
    return PHASES.index(campaign.phase) >= PHASES.index(phase)


def date_locks(campaign: Campaign, now: datetime | None = None) -> dict[str, DateLock]:
    """The dates (by field) that can no longer change now, each with why; the others staff may still change."""
    now = now or utcnow()
    locks: dict[str, DateLock] = {}
    for name, field in SCHEDULE_FIELDS.items():
        phase = phase_name(field.phase)
        value = getattr(campaign, name)
        started = _started(campaign, field.phase, now)
        if PHASES.index(campaign.phase) > PHASES.index(field.phase):
            locks[name] = DateLock("phase_over", _("%(phase)s is over.", phase=phase))
        elif started and field.starts:
            locks[name] = DateLock("phase_started", _("%(phase)s has started: this can no longer change.", phase=phase))
        elif started and isinstance(value, datetime) and value <= now:
            locks[name] = DateLock("date_passed", _("This date has passed (%(time)s).",
                                                    time=deadline_text(value, with_year=False)))
    return locks


def _today(now: datetime) -> datetime:
    """The start of the Beijing day of `now`: a phase may be set to start today, as the page's whole days do."""
    return datetime.combine(now.astimezone(SHANGHAI).date(), time(0, 0), tzinfo=SHANGHAI)


def _checked_change(name: str, value, now: datetime) -> None:
    """A new value of one field: bounded, and not in the past. Raises Invalid naming the field."""
    if name == "notice_days":
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_NOTICE_DAYS:
            raise _bad(name, "notice_days_invalid", _l("The public notice lasts 1 to 30 working days."))
        return
    if value is None and name in OPTIONAL_DATES:
        return
    check_date(name, value, now)
    if value < (_today(now) if SCHEDULE_FIELDS[name].starts else now):
        raise _bad(name, "dates_invalid", _l("Choose a date that is still to come."))


def _shown(value):
    """A date as the audit trail keeps it: Beijing time, with its offset."""
    return value.astimezone(SHANGHAI).isoformat() if isinstance(value, datetime) else value


def reschedule(actor: User, campaign: Campaign, changes: dict, *, now: datetime | None = None) -> dict:
    """Staff change dates of the campaign (fields of SCHEDULE_FIELDS → new values; None clears `announce_at`).
    Values equal to the current ones are no change. Returns {field: (old, new)} of what changed, audited as
    "campaign.dates" with the old and the new dates.

    Raises NotFound/Forbidden (not staff of it), Invalid(field_invalid), Conflict(phase_started, phase_over,
    date_passed) naming the field that can no longer change, Invalid(dates_invalid, notice_days_invalid) naming
    the field whose new value is out of bounds, in the past or out of the phases' order.
    """
    now = now or utcnow()
    _require_manager(actor, campaign)
    unknown = sorted(set(changes) - set(SCHEDULE_FIELDS))
    if unknown:
        raise _bad(unknown[0], "field_invalid", _l("This cannot be changed here."))
    _lock(campaign)
    changed = {name: (getattr(campaign, name), value) for name, value in changes.items()
               if value != getattr(campaign, name)}
    locks = date_locks(campaign, now)
    for name, (_old, new) in changed.items():
        if name in locks:
            raise Conflict(locks[name].code, locks[name].reason, {name: [locks[name].reason]})
        _checked_change(name, new, now)
    if not changed:
        return {}
    check_order({name: changed.get(name, (None, getattr(campaign, name)))[1] for name in SCHEDULE_FIELDS})
    for name, (_old, new) in changed.items():
        setattr(campaign, name, new)
    db.session.flush()
    audit.record(actor, "campaign.dates", campaign, area_id=campaign.area_id, now=now,
                 before={name: _shown(old) for name, (old, _new) in changed.items()},
                 after={name: _shown(new) for name, (_old, new) in changed.items()})
    return changed
