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
from domain.tasks.claims import *
from domain.tasks.escalation import *
from domain.tasks.photos import *
from domain.tasks.posting import *
from domain.tasks.queries import *
from domain.tasks.reach import *
from domain.tasks.reports import *
from domain.tasks.states import *
from domain.tasks.tiers import *
from models import load  # tests load tasks as `tasks.load`, as this module's imports once gave it
