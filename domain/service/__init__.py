"""Service hours: record them truthfully, approve them once, turn them into points, revoke with a reason.

Minutes come from start and end, computed here, never from the client. The daily cap is held by a guarded
counter per person and day, so two submissions at once cannot both slip under it. One person is in one place at a
time: a record that overlaps another live (submitted or approved) record of the same person is refused, whoever
records it and from wherever (oneself, a head, a team leader, an event's attendance); the check runs after a lock on
each person, so two overlapping submissions at once leave one. Approval moves the
record by one guarded UPDATE (of two staff approving at once, one wins) and credits points through the
ledger under the key "service:<id>", so a record is paid at most once whatever happens.

The package, one concern a module: `hours` (stars, rounding, a person's totals), `recording` (submit),
`decisions` (approve, reject, revoke) and `queries` (the queue, lists, the register). Each module's `__all__` is its
share of the package's whole public face, re-exported here.
"""

from domain.service.decisions import *
from domain.service.hours import *
from domain.service.queries import *
from domain.service.recording import *
