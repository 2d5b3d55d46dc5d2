"""The roster sync (`sync_roster`): areas, households, people and heads sent by another system (the city's
grid-management system) under its own ids, written into the client's area.

Each row is taken on its own: a bad row answers an error and the others go on; a row naming a failed row answers
`depends_on_failed_row`. A row is matched to ours through the client's links (models.SyncLink), else adopted by what
makes it unique here (an area by code, or by name under its parent; a household by door number in its unit; a person
by phone, when they belong to the client's area), else created; and linked. Sending the same payload again finds
every row as it is: nothing is written, not even an audit event.

The rules are those of the rest of the app, not copies: levels (models.ALLOWED_PARENTS), phones
(accounts.normalise_phone), names (bounds.text_refusal), household sizes (roster.MAX_HOUSEHOLD_SIZE), head posts
(one current post per area; a replaced head's post ends and their head role on the area goes, as org.appoint_head
and the roster import do).

Bulk throughout, as the roster import: what exists is loaded in a few queries (domain.sync.state), new rows get
their ids up front and are written one statement per table (models.sql), changes one executemany per table.
"""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from domain import audit
from domain.accounts import end_everything, normalise_phone
from domain.errors import Conflict, Invalid
from domain.roster.columns import MAX_HOUSEHOLD_SIZE
from domain.roster.state import _chunks
from domain.sync.book import NEW, Book, RowError, SyncResult, text_of
from domain.sync.state import AreaRow, PersonRow, load_state
from models import (
    ALLOWED_PARENTS,
    HEAD_TIERS,
    ApiClient,
    Area,
    AuditEvent,
    HeadPost,
    Household,
    Level,
    Role,
    RoleGrant,
    SyncKind,
    SyncLink,
    User,
    db,
    utcnow,
)
from models.sql import among, bulk_insert, reserve_ids

__all__ = ["MAX_ROWS", "SYNC_ROLES", "SyncResult", "sync_roster", "synced_people"]

#: Rows (areas + households + people + heads) one call may send: 50,000 take well under a minute on this machine kind.
MAX_ROWS = 50_000
#: The roles a sync gives and takes away; heads come from `heads`, staff and administrators only from people.
SYNC_ROLES = frozenset({Role.resident, Role.volunteer})
#: Levels from the top: a parent's level always comes first, so rows taken in this order meet their parent first.
LEVEL_RANK = {level: rank for rank, level in enumerate(Level)}
#: Why a person's post ended when a full sync left them out (audit reason).
MISSING_REASON = "roster_sync.missing"


class _Sync(Book):
    """Takes the payload kind by kind (areas, households, people, heads), each row deciding on what the state holds
    and what the rows before it decided; then writes what changed, table by table."""

    # --- areas ------------------------------------------------------------------------------------------------

    def areas(self, rows: list[dict]) -> None:
        """Areas in level order (a parent's level comes before its children's), so every parent is decided first.
        New areas get their ids and paths at the end, parents before children."""
        state = self.state
        decided, created, renamed = [], [], []
        # A row of no known level first: it fails, and its children then fail as depending on it.
        ordered = sorted(self._rows("area", rows), key=lambda r: LEVEL_RANK.get(r["level"], -1))
        pending = {}  # a new area's stand-in id (negative) → its row
        for row in ordered:
            external_id = row["id"]
            try:
                area_id, change = self._area(row, pending)
            except RowError as error:
                self._fail("area", external_id, error)
                continue
            if area_id < 0:
                created.append(area_id)
            elif change:
                renamed.append({"id": area_id, **change})
            self.ids[("area", external_id)] = area_id
            decided.append((external_id, area_id,
                            "created" if area_id < 0 else self._status(SyncKind.area, external_id, change)))
        real = dict(zip(created, reserve_ids(Area, len(created)), strict=True))
        new_rows = []
        for stand_in in created:  # parents before children: the order they were decided in
            row = pending[stand_in]
            area_id, parent = real[stand_in], real.get(row.parent_id, row.parent_id)
            area = state.areas[area_id] = AreaRow(area_id, parent, row.level, row.name, row.code,
                                                  f"{state.areas[parent].path}{area_id}/")
            new_rows.append({"id": area_id, "parent_id": parent, "level": area.level, "name": area.name,
                             "code": area.code, "path": area.path, "settings": {}, "created_at": self.now})
        bulk_insert(Area, new_rows)
        if renamed:
            db.session.execute(update(Area), renamed)
        for external_id, area_id, status in decided:
            area_id = real.get(area_id, area_id)
            self._link(SyncKind.area, external_id, area_id)
            self._answer("area", external_id, status, area_id)

    def _area(self, row: dict, pending: dict) -> tuple[int, dict]:
        """Our id of the row's area (negative: new, in `pending`) and the columns that change."""
        state = self.state
        try:
            level = Level(row["level"])
        except ValueError:
            raise RowError("level_invalid") from None
        name = text_of(row["name"], "name_invalid", 100, max=100)
        code = text_of(row["code"], "code_invalid", 64, visible=False) if row.get("code") else None
        if row.get("parent_id") is None:
            parent_id = self.client.area_id
        else:
            parent_id = self._resolve(SyncKind.area, row["parent_id"], "unknown_parent")
        parent = state.areas.get(parent_id) or pending.get(parent_id)
        if parent is None:
            raise RowError("outside_scope")
        if parent.level not in ALLOWED_PARENTS[level]:
            raise RowError("level_not_allowed")
        # Adopted by its code, else by its name under the parent; a row of this payload (a stand-in) or an area
        # elsewhere holding either is another area.
        by_code = state.by_code.get(code) if code else None
        if by_code is not None and (by_code < 0 or by_code not in state.areas):
            raise RowError("code_taken")
        adopted = by_code if by_code is not None else state.by_name.get((parent_id, name))
        if adopted is not None and adopted < 0:
            raise RowError("name_taken")
        area_id = self._match(SyncKind.area, row["id"], adopted)
        if area_id is None:
            area_id = -len(pending) - 1
            pending[area_id] = AreaRow(area_id, parent_id, level, name, code, "")
            state.by_name[(parent_id, name)] = area_id
            if code is not None:
                state.by_code[code] = area_id
            return area_id, {}
        area = state.areas.get(area_id)
        if area is None:
            raise RowError("linked_row_gone" if (SyncKind.area, row["id"]) in state.links else "outside_scope")
        if area.parent_id != parent_id or area.level != level:
            raise RowError("cannot_move")
        change = {}
        if name != area.name:
            if state.by_name.get((parent_id, name), area_id) != area_id:
                raise RowError("name_taken")
            state.by_name.pop((parent_id, area.name), None)
            state.by_name[(parent_id, name)] = area_id
            change["name"] = area.name = name
        if code is not None and code != area.code:
            if state.by_code.get(code, area_id) != area_id:
                raise RowError("code_taken")
            state.by_code[code] = area_id
            change["code"] = area.code = code
        return area_id, change

    # --- households -------------------------------------------------------------------------------------------

    def households(self, rows: list[dict]) -> None:
        state = self.state
        decided, created, changed = [], [], []
        for row in self._rows("household", rows):
            external_id = row["id"]
            try:
                unit_id = self._resolve(SyncKind.area, row["unit_id"], "unknown_unit")
                unit = state.areas.get(unit_id)
                if unit is None:
                    raise RowError("outside_scope")
                if unit.level != Level.unit:
                    raise RowError("not_a_unit")
                label = text_of(row["label"], "label_invalid", 32)
                size = row.get("size")
                if size is not None and not 1 <= size <= MAX_HOUSEHOLD_SIZE:
                    raise RowError("size_invalid")
                adopted = state.by_label.get((unit_id, label))
                if adopted == NEW:
                    raise RowError("label_taken")
                household_id = self._match(SyncKind.household, external_id, adopted)
                if household_id is not None and household_id not in state.households:
                    raise RowError("linked_row_gone")
                if household_id is not None:
                    change = self._household_change(household_id, unit_id, label, size)
            except RowError as error:
                self._fail("household", external_id, error)
                continue
            if household_id is None:
                created.append((external_id, {"unit_id": unit_id, "label": label, "size": size}))
                state.by_label[(unit_id, label)] = NEW
                continue
            if change:
                changed.append({"id": household_id, **change})
            self.ids[("household", external_id)] = household_id
            decided.append((external_id, household_id, self._status(SyncKind.household, external_id, change)))
        self._settle(SyncKind.household, Household, decided, created, changed, self._new_household)

    def _new_household(self, household_id: int, created: tuple[str, dict]) -> dict:
        columns = created[1]
        self.state.households[household_id] = [columns["unit_id"], columns["label"], columns["size"]]
        self.state.by_label[(columns["unit_id"], columns["label"])] = household_id
        return columns

    def _household_change(self, household_id: int, unit_id: int, label: str, size: int | None) -> dict:
        state = self.state
        held = state.households[household_id]
        change = {}
        if (unit_id, label) != (held[0], held[1]):
            if state.by_label.get((unit_id, label), household_id) != household_id:
                raise RowError("label_taken")
            state.by_label.pop((held[0], held[1]), None)
            state.by_label[(unit_id, label)] = household_id
            change.update(unit_id=unit_id, label=label)
            held[0], held[1] = unit_id, label
        if size is not None and size != held[2]:
            change["size"] = held[2] = size
        return change

    # --- people -----------------------------------------------------------------------------------------------

    def people(self, rows: list[dict]) -> None:
        state = self.state
        decided, created, changed = [], [], []
        for row in self._rows("person", rows):
            external_id = row["id"]
            try:
                name = text_of(row["name"], "name_invalid", 50, max=50)
                try:
                    phone = normalise_phone(row["phone"])
                except Invalid:
                    raise RowError("phone_invalid") from None
                household_id = (self._resolve(SyncKind.household, row["household_id"], "unknown_household")
                                if row.get("household_id") is not None else None)
                wanted = {self._role(role) for role in row.get("roles") or ()}
                person = self._person(external_id, phone)
                change = self._person_change(person, name, phone, household_id) if person is not None else {}
            except RowError as error:
                self._fail("person", external_id, error)
                continue
            if person is None:
                state.by_phone[phone] = NEW
                created.append((external_id, {"name": name, "phone": phone, "household_id": household_id}, wanted))
                continue
            if change:
                changed.append({"id": person.id, **change})
            roles_changed = self._regrant(person.id, person.grants, wanted)
            self.ids[("person", external_id)] = person.id
            decided.append((external_id, person.id,
                            self._status(SyncKind.person, external_id, change or roles_changed)))
        self._settle(SyncKind.person, User, decided, created, changed, self._new_person)

    def _new_person(self, user_id: int, created: tuple[str, dict, set]) -> dict:
        """A new person has no password yet (staff set one, or a sign-in code); their roles are granted."""
        _external_id, columns, wanted = created
        person = self.state.people[user_id] = PersonRow(user_id, columns["name"], columns["phone"],
                                                        columns["household_id"], True)
        self.state.by_phone[person.phone] = user_id
        self._regrant(user_id, person.grants, wanted)
        return {**columns, "password_hash": None, "active": True, "public_consent": False, "created_at": self.now}

    def _role(self, grant: dict) -> tuple[Role, int]:
        role = Role(grant["role"]) if grant["role"] in Role.__members__ else None
        if role not in SYNC_ROLES:
            raise RowError("role_not_allowed")
        area_id = (self._resolve(SyncKind.area, grant["area_id"], "unknown_area") if grant.get("area_id") is not None
                   else self.client.area_id)
        if area_id not in self.state.areas:
            raise RowError("outside_scope")
        return role, area_id

    def _person(self, external_id: str, phone: str) -> PersonRow | None:
        """The person the row is about: the linked one, or the one of this phone if they belong to the client's
        area; None for a new person."""
        state = self.state
        by_phone = state.by_phone.get(phone)
        if by_phone == NEW:
            raise RowError("phone_taken")
        adopted = by_phone if (SyncKind.person, external_id) not in state.links else None
        if adopted is not None and not state.is_inside(state.people[adopted]):
            raise RowError("person_outside_scope")
        person_id = self._match(SyncKind.person, external_id, adopted)
        if person_id is None:
            return None
        person = state.people.get(person_id)
        if person is None:
            raise RowError("linked_row_gone")
        return person

    def _person_change(self, person: PersonRow, name: str, phone: str, household_id: int | None) -> dict:
        state = self.state
        change = {}
        if phone != person.phone:
            if state.by_phone.get(phone, person.id) != person.id:
                raise RowError("phone_taken")
            state.by_phone.pop(person.phone, None)
            state.by_phone[phone] = person.id
            change["phone"] = person.phone = phone
        if name != person.name:
            change["name"] = person.name = name
        if household_id is not None and household_id != person.household_id:
            change["household_id"] = person.household_id = household_id
        return change

    def _regrant(self, user_id: int, held: dict, wanted: set[tuple[Role, int]]) -> bool:
        """Make the person's resident and volunteer roles inside the client's area those the row gives. Whether any
        changed."""
        have = {key for key in held if key[0] in SYNC_ROLES and key[1] in self.state.areas}
        for role, area_id in wanted - have:
            self.grants_added.append({"user_id": user_id, "role": role, "area_id": area_id, "created_at": self.now})
        self.grants_dropped.extend(held[key] for key in have - wanted)
        return wanted != have

    # --- heads ------------------------------------------------------------------------------------------------

    def heads(self, rows: list[dict]) -> None:
        """Appointments as org.appoint_head makes them: the current head's post ends and their head role on the area
        goes; the same head is left as they are."""
        state = self.state
        seen: set[str] = set()
        ended, appointed = [], []
        for row in rows:
            external_id = row["area_id"]
            try:
                if external_id in seen:
                    raise RowError("duplicate_head")
                seen.add(external_id)
                area_id = self._resolve(SyncKind.area, external_id, "unknown_area")
                area = state.areas.get(area_id)
                if area is None:
                    raise RowError("outside_scope")
                tier = HEAD_TIERS.get(area.level)
                if tier is None:
                    raise RowError("not_a_head_level")
                user_id = self._resolve(SyncKind.person, row["person_id"], "unknown_person")
                person = state.people.get(user_id)
                if person is None:
                    raise RowError("linked_row_gone")
                if not person.active:
                    raise RowError("person_disabled")
            except RowError as error:
                self._answer("head", external_id, "error", error=error)
                continue
            # A head is someone the roster has, whether or not the people part names them: never "missing".
            self.sent.add(("person", state.linked.get((SyncKind.person, user_id), "")))
            current = state.posts.get(area_id)
            if current is not None and current[1] == user_id:
                self._answer("head", external_id, "unchanged", current[0])
                continue
            if current is not None:
                ended.append(current[0])
                dropped = state.head_grants.pop((current[1], area_id), None)
                if dropped is not None:
                    self.grants_dropped.append(dropped)
            if (Role.head, area_id) not in person.grants:
                self.grants_added.append({"user_id": user_id, "role": Role.head, "area_id": area_id,
                                          "created_at": self.now})
            post = {"user_id": user_id, "area_id": area_id, "tier": tier, "since": self.now, "appointed_by_id": None}
            answer = self._answer("head", external_id, "updated" if current else "created")
            appointed.append((post, answer, current))
        self._end_posts(ended, reason=None)
        self.ended_posts.update(ended)
        for (post, answer, current), post_id in zip(appointed, reserve_ids(HeadPost, len(appointed)), strict=True):
            post["id"] = answer["local_id"] = post_id
            self.new_posts.append(post)
            # The "head.appoint" event org.appoint_head writes, with the client for an actor.
            self.audits.append({**audit.columns(None, "head.appoint", HeadPost, post_id, area_id=post["area_id"],
                                                before={"user_id": current[1]} if current else None,
                                                after={"user_id": post["user_id"], "tier": post["tier"],
                                                       "api_client": self.client.id}), "at": self.now})

    def _end_posts(self, post_ids: list[int], reason: str | None) -> None:
        ended = 0
        for batch in _chunks(post_ids):
            # Guarded like org._end: of two hands ending the same post at once, one ends it.
            ended += db.session.execute(
                update(HeadPost).where(among(HeadPost.id, batch), HeadPost.until.is_(None))
                .values(until=self.now, ended_by_id=None, end_reason=reason)
                .execution_options(synchronize_session=False)).rowcount
        if ended != len(post_ids):
            raise Conflict("post_already_ended", "A head's post ended meanwhile: send the roster again.")

    # --- people left out, and the writes ----------------------------------------------------------------------

    def missing(self, end: bool) -> None:
        """The people this client synced before whom a full sync leaves out, still active; ended when `end`:
        disabled (sessions and tokens ended), their roles in the client's area taken away, their posts there ended,
        each with a "person.disable" audit event."""
        state = self.state
        gone = sorted((external_id, local_id) for (kind, external_id), local_id in state.links.items()
                      if kind == SyncKind.person and ("person", external_id) not in self.sent
                      and local_id in state.people and state.people[local_id].active)
        self.result.missing = [{"id": external_id, "local_id": local_id, "ended": end} for external_id, local_id
                               in gone]
        if not end or not gone:
            return
        for external_id, local_id in gone:
            person = db.session.get(User, local_id)
            person.active = False
            tokens = end_everything(person, self.now)
            held = state.people[local_id].grants
            grants = [grant_id for (role, area_id), grant_id in held.items() if area_id in state.areas]
            self.grants_dropped.extend(grants)
            posts = [post_id for post_id, user_id in state.posts.values()
                     if user_id == local_id and post_id not in self.ended_posts]
            self._end_posts(posts, MISSING_REASON)
            self.audits.append({**audit.columns(None, "person.disable", User, local_id,
                                                area_id=self.client.area_id, before={"active": True},
                                                after={"active": False, "tokens_revoked": tokens,
                                                       "roles_ended": len(grants), "posts_ended": len(posts),
                                                       "api_client": self.client.id, "external_id": external_id},
                                                reason=MISSING_REASON), "at": self.now})

    def write(self) -> None:
        """What the kinds left to write: role grants, head posts, links, audit events."""
        for batch in _chunks(self.grants_dropped):
            db.session.execute(delete(RoleGrant).where(among(RoleGrant.id, batch))
                               .execution_options(synchronize_session=False))
        bulk_insert(RoleGrant, self.grants_added)
        bulk_insert(HeadPost, self.new_posts)
        bulk_insert(SyncLink, self.new_links)
        if self.result.changed:
            self.audits.append({**audit.columns(None, "roster.sync", ApiClient, self.client.id,
                                                area_id=self.client.area_id,
                                                after={**self.result.totals, "api_client": self.client.id}),
                                "at": self.now})
        bulk_insert(AuditEvent, self.audits)


def _phones(people: list[dict]) -> list[str]:
    """The payload's phones as they will be compared (those that are no phone are refused by their row)."""
    phones = []
    for row in people:
        try:
            phones.append(normalise_phone(row["phone"]))
        except Invalid:
            pass
    return phones


def sync_roster(client: ApiClient, payload: dict, *, now=None) -> SyncResult:
    """Apply a roster sent by `client` under its own ids: `areas`, `households`, `people`, `heads` (lists of rows as
    the API's SyncRosterIn loads them), `full` (the payload is every person the client has: those it sent before and
    not now are reported missing) and `end_missing` (and ended). Flushes, never commits.

    Each row answers created / updated / unchanged / error (with a code of RowError); SyncResult.missing lists the
    people left out of a full sync. Raises Invalid(too_many_rows) beyond MAX_ROWS, Conflict(sync_conflict) when
    another hand changed the same rows meanwhile, Conflict(post_already_ended).
    """
    kinds = ("areas", "households", "people", "heads")
    if sum(len(payload.get(kind) or ()) for kind in kinds) > MAX_ROWS:
        raise Invalid("too_many_rows", f"At most {MAX_ROWS} rows (areas, households, people and heads) per call.")
    if payload.get("end_missing") and not payload.get("full"):
        raise Invalid("end_missing_needs_full", "end_missing ends the people a full sync leaves out: send full too.")
    now = now or utcnow()
    codes = [row["code"].strip() for row in payload.get("areas") or () if row.get("code")]
    state = load_state(client, _phones(payload.get("people") or []), codes)
    sync = _Sync(client, state, now)
    try:
        sync.areas(payload.get("areas") or [])
        sync.households(payload.get("households") or [])
        sync.people(payload.get("people") or [])
        sync.heads(payload.get("heads") or [])
        if payload.get("full"):
            sync.missing(bool(payload.get("end_missing")))
        sync.write()
    except IntegrityError:
        raise Conflict("sync_conflict", "Someone changed these rows while the roster was synced. "
                                        "Send it again.") from None
    if sync.result.changed:
        db.session.flush()
        # The bulk statements bypassed the identity map: what it holds must be read again.
        db.session.expire_all()
    return sync.result


def synced_people(client: ApiClient) -> int:
    """How many people the client has synced (the admin page's list)."""
    return db.session.scalar(select(db.func.count()).select_from(SyncLink)
                             .where(SyncLink.client_id == client.id, SyncLink.kind == SyncKind.person))

