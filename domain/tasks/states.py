"""A task's states and their names: which states count as active, waiting or escalating, what each state means to
someone who wanted to move the task (a conflict), the bounds of a need's texts, and the names pages and registers
show for states, channels, history lines and claim outcomes."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from domain.errors import Conflict, Invalid
from models.tasks import Channel, Task, TaskStatus

__all__ = [
    "ACTION_NAMES", "ACTIVE", "CHANNEL_NAMES", "CLAIM_OUTCOMES", "ESCALATING", "MAX_PHOTOS", "NAME_MAX",
    "STATUS_FILTERS", "STATUS_NAMES", "TEXT_MAX", "TITLE_MAX", "WAITING", "action_name", "channel_name",
    "claim_outcome_name", "status_name",
]

#: Still in somebody's hands: the board's default view.
ACTIVE = (TaskStatus.open, TaskStatus.reopened, TaskStatus.claimed, TaskStatus.done, TaskStatus.confirmed)
WAITING = (TaskStatus.open, TaskStatus.reopened)
#: States in which a deadline runs and the task can move up a tier.
ESCALATING = (TaskStatus.open, TaskStatus.reopened, TaskStatus.claimed)
#: Photos per task and kind (the need's, the result's).
MAX_PHOTOS = 4
TITLE_MAX, TEXT_MAX, NAME_MAX = 100, 2000, 50

#: The board's status filter: a name → the states it shows.
STATUS_FILTERS: dict[str, tuple[TaskStatus, ...]] = {
    "active": ACTIVE,
    "waiting": WAITING,
    "claimed": (TaskStatus.claimed,),
    "done": (TaskStatus.done,),
    "confirmed": (TaskStatus.confirmed,),
    "approved": (TaskStatus.approved,),
    "withdrawn": (TaskStatus.withdrawn,),
    "all": tuple(TaskStatus),
    #: Not a state: what staff can approve now (see `queries.approvable`).
    "to_approve": (TaskStatus.confirmed, TaskStatus.done),
}

# --- refusals ------------------------------------------------------------------------------------------------------

#: What each state means to someone who wanted to move the task, as a conflict.
_CONFLICTS = {
    TaskStatus.open: ("not_claimed", _l("Nobody has taken this need on yet.")),
    TaskStatus.reopened: ("not_claimed", _l("Nobody has taken this need on yet.")),
    TaskStatus.claimed: ("already_claimed", _l("Someone has already taken this need on.")),
    TaskStatus.done: ("already_done", _l("It is already marked done and waits for the resident to confirm.")),
    TaskStatus.confirmed: ("already_confirmed", _l("The resident has already confirmed it; staff approve it next.")),
    TaskStatus.approved: ("already_decided", _l("Staff have already approved it.")),
    TaskStatus.withdrawn: ("need_withdrawn", _l("This need has been withdrawn.")),
}


#: For moves that need a task marked done: any earlier state answers "not done yet".
_NOT_DONE = dict.fromkeys(("open", "reopened", "claimed"), ("not_done", _l("It has not been marked done yet.")))


def _conflict(task: Task, **overrides: tuple[str, object]) -> Conflict:
    code, message = overrides.get(task.status.value) or _CONFLICTS[task.status]
    return Conflict(code, message)


def _bad(field: str, code: str, message) -> Invalid:
    return Invalid(code, message, {field: [message]})


# --- names ---------------------------------------------------------------------------------------------------------

STATUS_NAMES = {
    TaskStatus.open: _l("Waiting to be taken on"),
    TaskStatus.claimed: _l("Taken on"),
    TaskStatus.done: _l("Done, waiting for the resident"),
    TaskStatus.confirmed: _l("Confirmed, waiting for approval"),
    TaskStatus.approved: _l("Resolved"),
    TaskStatus.reopened: _l("Reopened"),
    TaskStatus.withdrawn: _l("Withdrawn"),
}

CHANNEL_NAMES = {
    Channel.door_to_door: _l("Door-to-door"),
    Channel.online: _l("Online"),
    Channel.consultation: _l("Consultation"),
}

ACTION_NAMES = {
    "posted": _l("Posted"),
    "recorded": _l("Recorded by a head"),
    "claimed": _l("Taken on"),
    "done": _l("Marked done"),
    "confirmed": _l("Confirmed resolved by the resident"),
    "not_resolved": _l("Not resolved, says the resident"),
    "approved": _l("Approved by staff"),
    "reopened": _l("Reopened by staff"),
    "escalated": _l("Moved up"),
    "withdrawn": _l("Withdrawn"),
    "photo": _l("Photos added"),
}


CLAIM_OUTCOMES = {
    "approved": _l("approved"),
    "not_resolved": _l("not resolved, reopened"),
    "reopened": _l("reopened by staff"),
    "withdrawn": _l("withdrawn"),
}


def claim_outcome_name(outcome: str | None) -> str:
    return str(CLAIM_OUTCOMES.get(outcome, outcome or ""))


def status_name(status) -> str:
    return str(STATUS_NAMES[TaskStatus(status)])


def channel_name(channel) -> str:
    return str(CHANNEL_NAMES[Channel(channel)])


def action_name(action: str) -> str:
    return str(ACTION_NAMES.get(action, action))
