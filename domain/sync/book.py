"""The bookkeeping of a roster sync (domain/sync/roster.py): each row's answer, a row's refusal (RowError) with its
stable code, and what every kind of row does alike: resolve the external ids it names, match itself to our row, link.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import update

from domain import bounds
from domain.roster.columns import MAX_HOUSEHOLD_SIZE
from domain.sync.state import SyncState
from models import ApiClient, SyncKind, db
from models.sql import bulk_insert, reserve_ids

__all__ = ["NEW", "Book", "RowError", "SyncResult", "text_of"]

#: The stand-in id of a row this payload creates, until the rows are written.
NEW = 0

_MESSAGES = {
    "duplicate_id": "Another row of this kind has this id.",
    "level_invalid": "Unknown level.",
    "level_not_allowed": "This level cannot be placed under that parent.",
    "name_invalid": "A name of 1 to {max} visible characters is required.",
    "code_invalid": "A code of at most 64 characters, without control characters.",
    "code_taken": "Another area has this code.",
    "name_taken": "Another area under the same parent has this name.",
    "unknown_parent": "No area of this id, in this payload or synced before.",
    "unknown_unit": "No unit of this id, in this payload or synced before.",
    "unknown_household": "No household of this id, in this payload or synced before.",
    "unknown_area": "No area of this id, in this payload or synced before.",
    "unknown_person": "No person of this id, in this payload or synced before.",
    "depends_on_failed_row": "It names a row of this payload that failed: {kind} {id}.",
    "outside_scope": "The row lies outside the client's area.",
    "linked_row_gone": "The row synced before under this id is no longer in the client's area.",
    "cannot_move": "An area cannot move to another parent, nor change its level, by a sync.",
    "not_a_unit": "Households belong to units.",
    "label_invalid": "A door number of 1 to 32 visible characters is required.",
    "label_taken": "Another household of this unit has this door number.",
    "size_invalid": f"A whole number of people from 1 to {MAX_HOUSEHOLD_SIZE}.",
    "phone_invalid": "Not a mainland mobile number (11 digits starting with 1).",
    "phone_taken": "Another person has this phone.",
    "person_outside_scope": "This phone belongs to a person outside the client's area.",
    "role_not_allowed": "A sync gives only the roles resident and volunteer (heads come from `heads`).",
    "not_a_head_level": "Only a grid, building or unit has a head.",
    "duplicate_head": "Another row names a head for this area.",
    "person_disabled": "This person is disabled: a disabled person heads nothing.",
}


class RowError(Exception):
    """One row's refusal: answered in its result, the other rows go on."""

    def __init__(self, code: str, **facts):
        super().__init__(code)
        self.code = code
        self.message = _MESSAGES[code].format(**facts)


@dataclass
class SyncResult:
    rows: list[dict] = field(default_factory=list)
    #: People this client synced before whom a full sync left out: {"id", "local_id", "ended"}.
    missing: list[dict] = field(default_factory=list)

    @property
    def totals(self) -> dict[str, int]:
        counts = dict.fromkeys(("created", "updated", "unchanged", "error"), 0)
        for row in self.rows:
            counts[row["status"]] += 1
        return {**counts, "missing": len(self.missing), "ended": sum(1 for m in self.missing if m["ended"])}

    @property
    def changed(self) -> bool:
        totals = self.totals
        return bool(totals["created"] or totals["updated"] or totals["ended"])


def text_of(value, code: str, max_length: int, *, visible: bool = True, **facts) -> str:
    """`value` stripped, or RowError(code) when empty, too long or holding what no field may hold."""
    value = (value or "").strip()
    if not value or len(value) > max_length or bounds.text_refusal(value, visible=visible) is not None:
        raise RowError(code, **facts)
    return value


class Book:
    """What a sync keeps while it takes the rows: our id of every external id it resolved, the rows that failed,
    the links and audit events to write, the answers; and the steps every kind shares (resolving a reference,
    matching a row to ours, linking it)."""

    def __init__(self, client: ApiClient, state: SyncState, now: datetime):
        self.client, self.state, self.now = client, state, now
        self.result = SyncResult()
        #: (kind, external id) → local id of every row this payload resolved (existing or new).
        self.ids: dict[tuple[str, str], int] = {}
        #: (kind, external id) of rows of this payload that failed, or that it names twice.
        self.failed: set[tuple[str, str]] = set()
        self.sent: set[tuple[str, str]] = set()
        self.new_links: list[dict] = []
        self.audits: list[dict] = []
        self.grants_added: list[dict] = []
        self.grants_dropped: list[int] = []
        self.new_posts: list[dict] = []
        #: Posts ended by this sync (replaced heads), not to end twice.
        self.ended_posts: set[int] = set()

    def _answer(self, kind: str, external_id: str, status: str, local_id: int | None = None,
                error: RowError | None = None) -> dict:
        row = {"kind": kind, "id": external_id, "status": status}
        if local_id is not None:
            row["local_id"] = local_id
        if error is not None:
            row["error"] = {"code": error.code, "message": error.message}
        self.result.rows.append(row)
        return row

    def _fail(self, kind: str, external_id: str, error: RowError) -> None:
        self.failed.add((kind, external_id))
        self._answer(kind, external_id, "error", error=error)

    def _rows(self, kind: str, rows: list[dict]):
        """The rows of one kind, each id once: a repeated id fails (its first row goes on)."""
        for row in rows:
            key = (kind, row["id"])
            if key in self.sent:
                self._answer(kind, row["id"], "error", error=RowError("duplicate_id"))
                continue
            self.sent.add(key)
            yield row

    def _resolve(self, kind: SyncKind, external_id: str, unknown: str) -> int:
        """Our id of a row the payload names: resolved in this payload, or linked before. RowError otherwise."""
        key = (kind.value, external_id)
        if key in self.failed:
            raise RowError("depends_on_failed_row", kind=kind.value, id=external_id)
        found = self.ids.get(key, self.state.links.get((kind, external_id)))
        if found is None:
            raise RowError(unknown)
        return found

    def _match(self, kind: SyncKind, external_id: str, adopted: int | None) -> int | None:
        """Our row for the external id: the linked one, else `adopted` (found by what makes it unique) unless this
        client linked that row to another id. None: a new row."""
        linked = self.state.links.get((kind, external_id))
        if linked is not None:
            return linked
        if adopted is not None and (kind, adopted) in self.state.linked:
            raise RowError({SyncKind.area: "name_taken", SyncKind.household: "label_taken",
                            SyncKind.person: "phone_taken"}[kind])
        return adopted

    def _link(self, kind: SyncKind, external_id: str, local_id: int) -> None:
        self.ids[(kind.value, external_id)] = local_id
        if (kind, external_id) not in self.state.links:
            self.state.links[(kind, external_id)] = local_id
            self.state.linked[(kind, local_id)] = external_id
            self.new_links.append({"client_id": self.client.id, "kind": kind, "external_id": external_id,
                                   "local_id": local_id, "created_at": self.now})

    def _status(self, kind: SyncKind, external_id: str, changed) -> str:
        """An existing row's answer: updated when it changed or is taken up now (linked for the first time)."""
        return "updated" if changed or (kind, external_id) not in self.state.links else "unchanged"

    def _settle(self, kind: SyncKind, model, decided: list[tuple[str, int, str]], created: list[tuple],
                changed: list[dict], new_row: Callable[[int, tuple], dict]) -> None:
        """Write one kind's rows: the new ones in one bulk insert, their ids taken up front (`new_row` gives a new
        row's columns from its id and its entry in `created`, whose first item is its external id), the changes in
        one executemany; then link and answer every row that did not fail."""
        new_ids = reserve_ids(model, len(created))
        bulk_insert(model, [{"id": new_id, **new_row(new_id, entry)}
                            for new_id, entry in zip(new_ids, created, strict=True)])
        decided += [(entry[0], new_id, "created") for new_id, entry in zip(new_ids, created, strict=True)]
        if changed:
            db.session.execute(update(model), changed)
        for external_id, local_id, status in decided:
            self._link(kind, external_id, local_id)
            self._answer(kind.value, external_id, status, local_id)
