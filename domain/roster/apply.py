"""Writing a checked roster (`write_roster`): what the plan lacks, table by table in bulk (ids reserved up front,
nothing read back), inside the session's transaction, never committed; and `import_roster`, the three steps for
pages, the API and the CLI alike.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from domain import audit
from domain.access import require
from domain.errors import Conflict, Refused
from domain.roster.columns import ADDRESS_LEVELS
from domain.roster.parse import collector_paused, parse_roster
from domain.roster.plan import Entry, RosterPlan, plan_roster
from domain.roster.state import _chunks
from models import Area, AuditEvent, HeadPost, Household, Level, Role, RoleGrant, User, db, utcnow
from models.area import path_under
from models.sql import among, bulk_insert, reserve_ids

__all__ = ["ImportResult", "check_target", "import_roster", "target_communities", "write_roster"]


@dataclass
class ImportResult:
    rows: int = 0
    grids_created: int = 0
    buildings_created: int = 0
    units_created: int = 0
    households_created: int = 0
    households_updated: int = 0
    people_created: int = 0
    #: Registered people whose household changed inside the community.
    people_moved: int = 0
    roles_granted: int = 0
    heads_appointed: int = 0
    #: Of the appointments, those that ended another person's post.
    heads_replaced: int = 0
    rows_unchanged: int = 0

    @property
    def areas_created(self) -> int:
        return self.grids_created + self.buildings_created + self.units_created

    @property
    def changed(self) -> bool:
        return self.rows_unchanged < self.rows

    def as_dict(self) -> dict[str, int]:
        return asdict(self)



class _Writer:
    """Applies a plan table by table: one bulk statement per table, ids taken up front, no query per row."""

    def __init__(self, actor: User, plan: RosterPlan, now: datetime):
        self.actor = actor
        self.plan = plan
        self.state = plan.state
        self.now = now
        self.result = ImportResult(rows=len(plan.entries))
        #: Keys of what this import created or changed, to tell which rows changed nothing.
        self.new_areas: set[tuple[str, ...]] = set()
        self.changed_homes: set[tuple[str, ...]] = set()
        self.changed_phones: set[str] = set()
        self.new_grants: set[tuple[str, Role]] = set()
        self.new_heads: set[tuple[str, ...]] = set()

    def areas(self) -> None:
        """Every missing grid, building and unit, parents before children, with the materialised path that
        org.create_area gives (parent's path + "id/")."""
        state, community = self.state, self.plan.community
        wanted = {address for entry in self.plan.entries for address in entry.addresses}
        missing = sorted((a for a in wanted if a not in state.areas), key=lambda a: (len(a), a))
        rows = []
        for address, area_id in zip(missing, reserve_ids(Area, len(missing)), strict=True):
            parent = state.areas[address[:-1]] if len(address) > 1 else community.id
            state.areas[address] = area_id
            state.paths[area_id] = f"{state.paths[parent]}{area_id}/"
            rows.append({"id": area_id, "parent_id": parent, "level": ADDRESS_LEVELS[len(address) - 1],
                         "name": address[-1], "path": state.paths[area_id], "settings": {}, "created_at": self.now})
        bulk_insert(Area, rows)
        self.new_areas.update(missing)
        for depth, level in enumerate(ADDRESS_LEVELS, start=1):
            setattr(self.result, f"{level.value}s_created", sum(1 for a in missing if len(a) == depth))

    def households(self) -> dict[tuple[str, ...], int]:
        """Household id of every home the file names."""
        sizes: dict[tuple[str, ...], int | None] = {}
        for entry in self.plan.entries:
            if entry.home is not None and sizes.get(entry.home) is None:
                sizes[entry.home] = entry.size
        ids: dict[tuple[str, ...], int] = {}
        new: list[tuple[str, ...]] = []
        resized: list[dict] = []
        for home, size in sizes.items():
            found = self.state.households.get((self.state.areas[home[:3]], home[3]))
            if found is None:
                new.append(home)
                continue
            ids[home] = found[0]
            if size is not None and size != found[1]:
                resized.append({"id": found[0], "size": size})
                self.changed_homes.add(home)
        ids.update(zip(new, reserve_ids(Household, len(new)), strict=True))
        bulk_insert(Household, [{"id": ids[h], "unit_id": self.state.areas[h[:3]], "label": h[3], "size": sizes[h]}
                          for h in new])
        if resized:
            db.session.execute(update(Household), resized)
        self.changed_homes.update(new)
        self.result.households_created = len(new)
        self.result.households_updated = len(resized)
        return ids

    def people(self, household_ids: dict[tuple[str, ...], int]) -> dict[str, int]:
        """User id of every phone; new people get no password (staff set one later)."""
        homes: dict[str, tuple[str, ...] | None] = {}
        names: dict[str, str] = {}
        for entry in self.plan.entries:
            names.setdefault(entry.phone, entry.name)
            if homes.get(entry.phone) is None:
                homes[entry.phone] = entry.home
        known = self.state.people
        new = [phone for phone in names if phone not in known]
        moves = []
        for phone, home in homes.items():
            person = known.get(phone)
            if person is not None and home is not None and person.household_id != household_ids[home]:
                moves.append({"id": person.id, "household_id": household_ids[home]})
                self.changed_phones.add(phone)
        ids = {phone: person.id for phone, person in known.items()}
        ids.update(zip(new, reserve_ids(User, len(new)), strict=True))
        bulk_insert(User, [{"id": ids[p], "name": names[p], "phone": p, "password_hash": None, "active": True,
                      "public_consent": False, "created_at": self.now,
                      "household_id": household_ids[homes[p]] if homes[p] else None} for p in new])
        if moves:
            db.session.execute(update(User), moves)
        self.changed_phones.update(new)
        self.result.people_created = len(new)
        self.result.people_moved = len(moves)
        return ids

    def _held(self, phone: str) -> set[tuple[Role, int | None]]:
        person = self.state.people.get(phone)
        return person.grants if person is not None else set()

    def heads_and_grants(self, user_ids: dict[str, int]) -> None:
        """Role grants, and head posts by appoint_head's rules: another head's post ends, the same head's
        post is left as it is."""
        state, community = self.state, self.plan.community
        grants: set[tuple[int, Role, int]] = set()
        appointments: dict[tuple[str, ...], tuple[Entry, int, tuple[int, int] | None]] = {}
        for entry in self.plan.entries:
            user_id = user_ids[entry.phone]
            if entry.tier is None:
                if (entry.role, community.id) not in self._held(entry.phone):
                    grants.add((user_id, entry.role, community.id))
                    self.new_grants.add((entry.phone, entry.role))
                continue
            area_id = state.areas[entry.place]
            current = state.posts.get(area_id)
            if current is not None and current[1] == user_id:
                continue
            appointments.setdefault(entry.place, (entry, area_id, current))
            if (Role.head, area_id) not in self._held(entry.phone):
                grants.add((user_id, Role.head, area_id))
        self._end_replaced([(area_id, current) for _e, area_id, current in appointments.values() if current])
        bulk_insert(RoleGrant, [{"user_id": u, "role": r, "area_id": a, "created_at": self.now}
                          for u, r, a in sorted(grants)])
        self._appoint(list(appointments.values()), user_ids)
        self.new_heads.update(appointments)
        self.result.roles_granted = sum(1 for _u, role, _a in grants if role != Role.head)

    def _end_replaced(self, replaced: list[tuple[int, tuple[int, int]]]) -> None:
        """End the posts of heads the file replaces, and their head role on those areas."""
        ended = 0
        for batch in _chunks([post_id for _a, (post_id, _u) in replaced]):
            # Guarded like org._end: of two hands ending the same post at once, one ends it.
            ended += db.session.execute(
                update(HeadPost).where(among(HeadPost.id, batch), HeadPost.until.is_(None))
                .values(until=self.now, ended_by_id=self.actor.id, end_reason=None)
                .execution_options(synchronize_session=False)
            ).rowcount
        if ended != len(replaced):
            raise Conflict("post_already_ended", _l("This post has already ended."))
        # One current post per area: once it ends, its holder heads that area no more
        # (org._drop_head_role_if_idle).
        keys = [(user_id, area_id) for area_id, (_p, user_id) in replaced]
        dropped = [self.state.head_grants[key] for key in keys if key in self.state.head_grants]
        for batch in _chunks(dropped):
            db.session.execute(delete(RoleGrant).where(among(RoleGrant.id, batch))
                               .execution_options(synchronize_session=False))
        self.result.heads_replaced = len(replaced)

    def _appoint(self, appointments: list[tuple[Entry, int, tuple[int, int] | None]],
                 user_ids: dict[str, int]) -> None:
        """New head posts, each with the "head.appoint" audit event org.appoint_head writes (audit.columns, written
        in bulk)."""
        posts = [{"id": post_id, "user_id": user_ids[entry.phone], "area_id": area_id, "tier": entry.tier,
                  "since": self.now, "appointed_by_id": self.actor.id}
                 for post_id, (entry, area_id, _c) in zip(reserve_ids(HeadPost, len(appointments)), appointments,
                                                           strict=True)]
        bulk_insert(HeadPost, posts)
        bulk_insert(AuditEvent, [
            {**audit.columns(self.actor, "head.appoint", HeadPost, post["id"], area_id=post["area_id"],
                             before={"user_id": current[1]} if current else None,
                             after={"user_id": post["user_id"], "tier": post["tier"]}),
             "at": self.now}
            for post, (_e, _a, current) in zip(posts, appointments, strict=True)])
        self.result.heads_appointed = len(posts)

    def count_unchanged(self) -> None:
        def changed(entry: Entry) -> bool:
            return (any(a in self.new_areas for a in entry.addresses)
                    or (entry.home is not None and entry.home in self.changed_homes)
                    or entry.phone in self.changed_phones
                    or (entry.tier is None and (entry.phone, entry.role) in self.new_grants)
                    or (entry.tier is not None and entry.place in self.new_heads))
        self.result.rows_unchanged = sum(1 for entry in self.plan.entries if not changed(entry))


def write_roster(actor: User, plan: RosterPlan, *, now=None) -> ImportResult:
    """Create what the plan lacks: areas, households, people, role grants, head posts. Flushes.

    One "roster.import" audit event with the counts, plus a "head.appoint" event per appointment as
    org.appoint_head writes; none at all when the file changed nothing.
    Raises Conflict(roster_conflict) when another import changed the community meanwhile,
    Conflict(post_already_ended) when another hand ended a post being replaced.
    """
    now = now or utcnow()
    writer = _Writer(actor, plan, now)
    try:
        writer.areas()
        household_ids = writer.households()
        user_ids = writer.people(household_ids)
        writer.heads_and_grants(user_ids)
    except IntegrityError:
        raise Conflict("roster_conflict", _l("Someone changed this community while the file was imported. "
                                             "Upload it again.")) from None
    writer.count_unchanged()
    result = writer.result
    if result.changed:
        audit.record(actor, "roster.import", plan.community, area_id=plan.community.id, now=now,
                     after={**result.as_dict(), "file": plan.filename[:200]})
        db.session.flush()
        # The bulk statements bypassed the identity map: objects already loaded (the actor's grants, the
        # community) must be read again rather than trusted.
        db.session.expire_all()
    return result


@collector_paused()
def import_roster(actor: User, community: Area, filename: str, data: bytes, *, now=None) -> ImportResult:
    """Parse, check and write a roster into `community`, all or nothing. Flushes, never commits.

    Raises NotFound (community outside the actor's scope), Refused(not_a_community), the Invalid errors
    of parse_roster, Refused(roster_invalid) from plan_roster, the Conflicts of write_roster.
    """
    check_target(actor, community)
    return write_roster(actor, plan_roster(community, parse_roster(filename, data)), now=now)


def check_target(actor: User, community: Area) -> None:
    """Raises NotFound (community outside the actor's scope), Refused(not_a_community)."""
    require(actor, "roster.import", community)
    if community.level != Level.community:
        raise Refused("not_a_community", _l("A roster is imported into a community: open the community first."))


def target_communities(area: Area) -> list[Area]:
    """The communities at or under `area`, for choosing where a roster goes."""
    return list(db.session.scalars(
        select(Area).where(path_under(Area.path, area.path), Area.level == Level.community)
        .order_by(Area.path)
    ))
