"""Needs and tasks: post, claim, done, confirm, approve, reopen, escalate.

A resident posts a need (点单) from a phone, or a head records one on their behalf with the channel it came
through. It belongs to an area, normally the resident's unit, and its community. The unit head answers for it
first; the building and grid heads above, the community's teams whose category fits, and staff see it too,
and any of them may claim it (接单). Of two claims at once one wins: the status moves by one guarded UPDATE,
and a partial unique index allows one open claim per task. The claimant marks it done; the resident who asked
confirms it resolved (or says it was not, which reopens it); staff approve it and the claimant is paid the
category's points through the ledger under the key "task:<id>", so exactly once.

Escalation (小事不出网格、大事不出社区): a task still unclaimed or unresolved at its deadline moves up a tier
(unit head → building head → grid head → community staff; tiers nobody heads are skipped) and gets a new
deadline counted from the old one, so `flask tasks escalate` moves it at the same minutes however often or late
it runs, and a move it has made is never made again. Every move is a line in the task's history.

The package, one concern a module (each imports its siblings directly, never this `__init__`):
- states.py: the states, the refusals they mean, the bounds of the texts, and the names shown;
- tiers.py: who answers for a need at each tier, and its deadlines;
- reach.py: loading a task one may see, and the buttons a person gets for it;
- moves.py: the one guarded transition, the history line and the notifications every move leaves;
- photos.py: the need's and the result's photos;
- posting.py: posting or recording a need;
- claims.py: claim, done, confirm, approve, reopen, withdraw;
- escalation.py: moving needs up a tier at their deadlines;
- queries.py: the board, one's own needs and claims, a task's history, the names of places and categories;
- reports.py: the needs register (.xlsx);
- insight.py: the dashboard section, the register's entry and the personal export (`register()`).
Who sees a task, who manages it, who records needs in an area and in what capacity someone takes one on are rules
of domain/access.py ("task.view", "task.manage", "task.record", `capacity`).
"""

from domain.access import TEAM_CATEGORIES, Capacity, Reach, capacity, reach_of, team_categories
from domain.tasks.claims import (
    approve_task,
    claim_task,
    confirm_task,
    mark_done,
    points_due,
    reopen_task,
    withdraw_task,
)
from domain.tasks.escalation import due_for_escalation, escalate_by_id, escalate_due, escalate_task
from domain.tasks.photos import add_photos, photo_of, photos_by_task, photos_of
from domain.tasks.posting import NeedForm, find_resident, post_need, recordable_areas
from domain.tasks.queries import (
    TaskArea,
    area_label,
    area_names,
    board,
    category_names,
    claims_of,
    history,
    mine,
    page_of,
)
from domain.tasks.reach import actions, can_see, is_asker, visible
from domain.tasks.reports import register_xlsx
from domain.tasks.states import (
    ACTION_NAMES,
    ACTIVE,
    CHANNEL_NAMES,
    CLAIM_OUTCOMES,
    ESCALATING,
    MAX_PHOTOS,
    NAME_MAX,
    STATUS_FILTERS,
    STATUS_NAMES,
    TEXT_MAX,
    TITLE_MAX,
    WAITING,
    action_name,
    channel_name,
    claim_outcome_name,
    status_name,
)
from domain.tasks.tiers import responsible_ids, responsible_people, tier_title, time_limit
from models import load  # tests load tasks as `tasks.load`, as this module's imports once gave it

__all__ = [
    "ACTION_NAMES", "ACTIVE", "CHANNEL_NAMES", "CLAIM_OUTCOMES", "ESCALATING", "MAX_PHOTOS", "NAME_MAX",
    "STATUS_FILTERS", "STATUS_NAMES", "TEAM_CATEGORIES", "TEXT_MAX", "TITLE_MAX", "WAITING", "Capacity", "NeedForm",
    "Reach", "TaskArea", "action_name", "actions", "add_photos", "approve_task", "area_label", "area_names", "board",
    "can_see", "capacity", "category_names", "channel_name", "claim_outcome_name", "claim_task", "claims_of",
    "confirm_task", "due_for_escalation", "escalate_by_id", "escalate_due", "escalate_task", "find_resident",
    "history", "is_asker", "load", "mark_done", "mine", "page_of", "photo_of", "photos_by_task",
    "photos_of", "points_due", "post_need", "reach_of", "recordable_areas", "register_xlsx", "reopen_task",
    "responsible_ids", "responsible_people", "status_name", "team_categories", "tier_title", "time_limit",
    "visible", "withdraw_task",
]
