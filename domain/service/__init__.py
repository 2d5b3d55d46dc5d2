"""Service hours: record them truthfully, approve them once, turn them into points, revoke with a reason.

Minutes come from start and end, computed here, never from the client. The daily cap is held by a guarded
counter per person and day, so two submissions at once cannot both slip under it. One person is in one place at a
time: a record that overlaps another live (submitted or approved) record of the same person is refused, whoever
records it and from wherever (oneself, a head, a team leader, an event's attendance); the check runs after a lock on
each person, so two overlapping submissions at once leave one. Approval moves the
record by one guarded UPDATE (of two staff approving at once, one wins) and credits points through the
ledger under the key "service:<id>", so a record is paid at most once whatever happens.

The package, one concern a module: `hours` (stars, rounding, a person's totals), `recording` (submit),
`decisions` (approve, reject, revoke) and `queries` (the queue, lists, the register). The names below are its whole
public face.
"""

from domain.service.decisions import (
    BulkResult,
    approve_automatically,
    approve_record,
    bulk_approve,
    points_for,
    price_of,
    reject_record,
    revoke_record,
)
from domain.service.hours import LIVE, STAR_HOURS, Hours, hours_of, hours_text, round_down, star_level
from domain.service.queries import (
    Duplicate,
    active_members,
    community_teams,
    hours_register_rows,
    possible_duplicates,
    queue,
    recordable_communities,
    recorded_by,
    records_in,
    records_of,
    teams_to_record_for,
)
from domain.service.recording import (
    CLOCK_SKEW,
    MAX_RECORD,
    PERSON_LOCK,
    SUBMISSION_DAYS,
    Occasion,
    submit_records,
)

__all__ = [
    "CLOCK_SKEW", "LIVE", "MAX_RECORD", "PERSON_LOCK", "STAR_HOURS", "SUBMISSION_DAYS", "BulkResult", "Duplicate",
    "Hours", "Occasion", "active_members", "approve_automatically", "approve_record", "bulk_approve",
    "community_teams", "hours_of", "hours_register_rows", "hours_text", "points_for", "possible_duplicates", "price_of",
    "queue", "recordable_communities", "recorded_by", "records_in", "records_of", "reject_record", "revoke_record",
    "round_down", "star_level", "submit_records", "teams_to_record_for",
]
