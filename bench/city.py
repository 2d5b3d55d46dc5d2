"""A synthetic city for the benchmarks, bulk-loaded through the real models' tables.

Scales (one place: SCALES): `community` (one community of ~4,000 households), `district` (~600 grids, ~20,000
heads, ~60,000 volunteers, 1 M ledger entries) and `city` (4,389 grids, ~35,000 buildings, ~125,000 units,
~160,000 heads, ~500,000 volunteers, 10 M ledger entries, 1 M attendances); `tiny` for the tests.

The data is what the application itself would have written: areas with their materialised paths, households,
people with their roles and head posts, each community's staff and system accounts, a year of balanced ledger
transactions (credits for service, events, tasks and honours; market debits that never take anyone below zero)
with the cached balances, balances after each entry, expiry lots and what each debit took from them, monthly
points and hours totals, and closed events with their attendance. Skewed like real life: communities of 3 to 10
grids, a few volunteers do most of the service (Pareto), more activity in recent months. `flask ledger verify`
passes on the result.

Rows go in by COPY on PostgreSQL (psycopg's cursor.copy) and executemany on SQLite, in one transaction, after
the project's migrations. The first community always has the same shape (6 grids, ~4,000 households), so
reads of "one community" compare across scales.

    .venv/bin/python bench/city.py --scale district                     # a temporary SQLite file
    .venv/bin/python bench/city.py --scale city --database-url postgresql://postgres@127.0.0.1:5432/test

It prints the time taken and the rows written, runs `ledger verify`, and drops the scratch database (on
PostgreSQL "<db>_bench_<scale>", bench/common.py); bench/run.py generates its own and measures on them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import sys
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import JSON, Date  # noqa: E402

from app import create_app  # noqa: E402
from bench import common  # noqa: E402
from domain.ledger import EARNING, SHANGHAI, month_of  # noqa: E402
from models import TxnKind, db  # noqa: E402
from models.base import UTCDateTime  # noqa: E402


@dataclass(frozen=True)
class Scale:
    """Everything that makes one scale differ from another."""

    grids: int
    volunteers: int
    #: Ledger entries: two per transaction.
    entries: int
    attendances: int
    grids_per_community: tuple[int, int] = (3, 10)
    communities_per_street: int = 8
    streets_per_district: int = 12
    buildings_per_grid: tuple[int, int] = (4, 12)
    #: Units per building, drawn from these with these weights (mean ~3.6).
    units_per_building: tuple[tuple[int, ...], tuple[int, ...]] = ((2, 3, 4, 6), (2, 5, 3, 1))
    households_per_unit: tuple[int, int] = (14, 42)
    events_per_community_month: int = 3
    months: int = 12
    #: The first community has FIRST_COMMUNITY's shape, so "one community" reads compare across scales.
    fixed_first: bool = True


SCALES: dict[str, Scale] = {
    "tiny": Scale(grids=2, volunteers=60, entries=2_000, attendances=150, grids_per_community=(1, 1),
                  buildings_per_grid=(2, 3), households_per_unit=(4, 8), events_per_community_month=1, months=3,
                  fixed_first=False),
    "community": Scale(grids=6, volunteers=600, entries=10_000, attendances=1_000),
    "district": Scale(grids=600, volunteers=60_000, entries=1_000_000, attendances=100_000),
    "city": Scale(grids=4_389, volunteers=500_000, entries=10_000_000, attendances=1_000_000),
}

#: The first community of every scale: 6 grids of 8 buildings of 3 units of 28 households (4,032).
FIRST_COMMUNITY = dict(grids=6, buildings=8, units=3, households=28)

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
GIVEN = "秀英桂兰建国志强丽娟海燕国华红梅德明淑珍文斌玉兰春生美玲立新翠花永福慧敏振华晓东"
#: Points per service hour (the rules' default): hours totals are the credited points × 6 minutes.
MINUTES_PER_POINT = 6
PRICES = (20, 30, 50, 80, 100, 150, 200)
#: Phones of generated people start here; the bench's own people (bench/run.py) use others.
PHONE_BASE = 15_000_000_000

#: Tables in the order rows must reach the database (parents first), with the columns written.
COLUMNS: dict[str, tuple[str, ...]] = {
    "area": ("id", "parent_id", "level", "name", "path", "settings", "created_at"),
    "household": ("id", "unit_id", "label", "size"),
    "user": ("id", "name", "phone", "household_id", "active", "public_consent", "created_at"),
    "role_grant": ("id", "user_id", "role", "area_id", "created_at"),
    "head_post": ("id", "user_id", "area_id", "tier", "since"),
    "ledger_account": ("id", "owner_id", "community_id", "kind", "balance", "created_at"),
    "event": ("id", "community_id", "area_id", "kind", "title", "place", "starts_at", "ends_at", "opens_minutes",
              "closes_minutes", "registration", "registered", "attendees", "category", "points_mode", "auto_approve",
              "poster", "secret", "organiser_id", "created_at", "closed_at"),
    "attendance": ("id", "event_id", "person_id", "checked_in_at", "checked_in_method", "checked_out_at",
                   "checked_out_method", "minutes", "processed_at"),
    "ledger_transaction": ("id", "community_id", "kind", "idempotency_key", "created_at"),
    "ledger_entry": ("id", "transaction_id", "account_id", "amount", "balance_after", "month"),
    "point_lot": ("id", "account_id", "entry_id", "amount", "remaining", "expires_at"),
    "point_lot_use": ("id", "entry_id", "lot_id", "amount"),
    "monthly_total": ("id", "account_id", "person_id", "community_id", "month", "earned", "spent", "expired", "net"),
    "hours_monthly": ("id", "person_id", "community_id", "month", "minutes"),
}


# --- loading ------------------------------------------------------------------------------------------------------

def _sqlite_converter(column):
    """How SQLAlchemy would store a value of this column on SQLite (UTC text timestamps, ISO dates, JSON)."""
    if isinstance(column.type, UTCDateTime):
        return lambda v: None if v is None else v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(column.type, Date):
        return lambda v: None if v is None else v.isoformat()
    if isinstance(column.type, JSON):
        return json.dumps
    return None


class Loader:
    """Buffers rows per table and bulk-loads them, parents first, on one raw connection in one transaction."""

    def __init__(self, raw_connection, dialect: str, flush_every: int = 50_000):
        self.raw = raw_connection
        self.dialect = dialect
        self.flush_every = flush_every
        self.rows: dict[str, list[tuple]] = {table: [] for table in COLUMNS}
        self.ids: dict[str, int] = {}
        self.counts: dict[str, int] = defaultdict(int)
        self.converters = {}
        cursor = self.raw.cursor()
        for table, columns in COLUMNS.items():
            cursor.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{table}"')  # noqa: S608 - our own table names
            self.ids[table] = cursor.fetchone()[0]
            if dialect == "sqlite":
                table_columns = db.metadata.tables[table].c
                self.converters[table] = [(i, f) for i, name in enumerate(columns)
                                          if (f := _sqlite_converter(table_columns[name])) is not None]
            else:
                self.converters[table] = [(i, json.dumps) for i, name in enumerate(columns)
                                          if isinstance(db.metadata.tables[table].c[name].type, JSON)]
        if dialect == "sqlite":
            cursor.execute("BEGIN IMMEDIATE")
        else:
            self._drop_checks(cursor)
        cursor.close()
        self.seconds: dict[str, float] = defaultdict(float)

    def _drop_checks(self, cursor) -> None:
        """PostgreSQL checks foreign keys row by row and updates every index on each COPYed row: drop them here,
        build them once at the end (`finish`), where adding the foreign keys back checks every row at once."""
        cursor.execute("SELECT c.relname, con.conname, pg_get_constraintdef(con.oid) FROM pg_constraint con "
                       "JOIN pg_class c ON c.oid = con.conrelid WHERE con.contype = 'f' AND c.relname = ANY(%s)",
                       (list(COLUMNS),))
        self.foreign_keys = cursor.fetchall()
        cursor.execute("SELECT i.tablename, i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = "
                       "current_schema() AND i.tablename = ANY(%s) AND i.indexname NOT IN (SELECT conname FROM "
                       "pg_constraint WHERE contype IN ('p', 'u'))", (list(COLUMNS),))
        self.indexes = cursor.fetchall()
        for table, name, _definition in self.foreign_keys:
            cursor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
        for _table, name, _definition in self.indexes:
            cursor.execute(f'DROP INDEX "{name}"')

    def _restore_checks(self, cursor) -> None:
        for _table, _name, definition in self.indexes:
            cursor.execute(definition)
        for table, name, definition in self.foreign_keys:
            cursor.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')

    def next_id(self, table: str) -> int:
        self.ids[table] += 1
        return self.ids[table]

    def add(self, table: str, row: tuple) -> None:
        self.rows[table].append(row)

    def flush_if_full(self) -> None:
        if max(len(rows) for rows in self.rows.values()) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        cursor = self.raw.cursor()
        for table, columns in COLUMNS.items():
            rows, self.rows[table] = self.rows[table], []
            if not rows:
                continue
            self.counts[table] += len(rows)
            started = time.perf_counter()
            if self.converters[table]:
                rows = [self._converted(table, row) for row in rows]
            names = ", ".join(f'"{c}"' for c in columns)
            if self.dialect == "postgresql":
                with cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" * len(columns))
                cursor.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)  # noqa: S608
            self.seconds[f"load {table}"] += time.perf_counter() - started
        cursor.close()

    def _converted(self, table: str, row: tuple) -> tuple:
        row = list(row)
        for index, convert in self.converters[table]:
            row[index] = convert(row[index])
        return tuple(row)

    def finish(self) -> None:
        """Flush, move the id sequences past what was written, commit, and refresh the planner's statistics."""
        self.flush()
        cursor = self.raw.cursor()
        if self.dialect == "postgresql":
            started = time.perf_counter()
            self._restore_checks(cursor)
            self.seconds["indexes and foreign keys"] = time.perf_counter() - started
            for table in COLUMNS:
                sequence = f"pg_get_serial_sequence('\"{table}\"', 'id')"
                cursor.execute(f'SELECT setval({sequence}, (SELECT MAX(id) + 1 FROM "{table}"), false)')  # noqa: S608
        self.raw.commit() if self.dialect == "postgresql" else cursor.execute("COMMIT")
        started = time.perf_counter()
        if self.dialect == "postgresql":
            self.raw.autocommit = True
            cursor.execute("VACUUM ANALYZE")
            self.raw.autocommit = False
        else:
            cursor.execute("ANALYZE")
        self.seconds["analyze"] = time.perf_counter() - started
        cursor.close()


# --- the city -------------------------------------------------------------------------------------------------------

@dataclass
class Shape:
    """One community's tree: buildings per grid, then units per building, then households per unit."""

    buildings: list[int]
    units: list[list[int]]
    households: list[list[list[int]]]

    @property
    def grid_count(self) -> int:
        return len(self.buildings)

    @property
    def heads(self) -> int:
        return self.grid_count + sum(self.buildings) + sum(sum(u) for u in self.units)

    @property
    def household_count(self) -> int:
        return sum(sum(units) for grid in self.households for units in grid)


def community_shapes(scale: Scale, rng: random.Random) -> list[Shape]:
    """Communities of skewed sizes until the scale's grids are used up; the first one fixed."""
    shapes: list[Shape] = []
    left = scale.grids
    while left > 0:
        if not shapes and scale.fixed_first:
            f = FIRST_COMMUNITY
            grids, buildings = min(f["grids"], left), [f["buildings"]] * min(f["grids"], left)
            units = [[f["units"]] * b for b in buildings]
            households = [[[f["households"]] * u for u in grid] for grid in units]
        else:
            grids = min(left, rng.randint(*scale.grids_per_community))
            buildings = [rng.randint(*scale.buildings_per_grid) for _ in range(grids)]
            units = [rng.choices(*scale.units_per_building, k=b) for b in buildings]
            households = [[[rng.randint(*scale.households_per_unit) for _ in range(u)] for u in grid]
                          for grid in units]
        shapes.append(Shape(buildings, units, households))
        left -= grids
    return shapes


def person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


class City:
    """Writes one scale of city through a Loader, community by community."""

    def __init__(self, loader: Loader, scale: Scale, *, seed: int = 1, now: datetime | None = None):
        self.w = loader
        self.scale = scale
        self.rng = random.Random(seed)
        self.now = now or datetime.now(UTC)
        self.long_ago = self.now - timedelta(days=400)
        self.first_month_start = self._month_start(scale.months - 1)
        self.shapes = community_shapes(scale, self.rng)
        heads = sum(s.heads for s in self.shapes)
        households = sum(s.household_count for s in self.shapes)
        #: Transactions and attendances per person who takes part; volunteers per household.
        self.txns_per_person = scale.entries / 2 / (heads + scale.volunteers)
        self.attendances_per_person = scale.attendances / (heads + scale.volunteers)
        self.volunteers_per_household = scale.volunteers / households
        self.first_community_id: int | None = None

    def _month_start(self, months_back: int) -> datetime:
        local = self.now.astimezone(SHANGHAI)
        year, month = divmod(local.year * 12 + local.month - 1 - months_back, 12)
        return datetime(year, month + 1, 1, tzinfo=SHANGHAI).astimezone(UTC)

    def _recent_moment(self) -> datetime:
        """A moment in the scale's months, more of them recent (activity grows)."""
        span = (self.now - self.first_month_start).total_seconds()
        return self.now - timedelta(seconds=span * (1 - math.sqrt(self.rng.random())))

    def write(self) -> None:
        w = self.w
        admin = self.person(None, "管理员")
        w.add("role_grant", (w.next_id("role_grant"), admin, "admin", None, self.long_ago))
        communities_per_district = self.scale.communities_per_street * self.scale.streets_per_district
        district = street = None
        for index, shape in enumerate(self.shapes):
            if index % communities_per_district == 0:
                district = self.area(None, "district", f"第{index // communities_per_district + 1}区")
                self.staff(district)
            if index % self.scale.communities_per_street == 0:
                street = self.area(district, "street", f"第{index // self.scale.communities_per_street + 1}街道")
                self.staff(street)
            self.community(street, f"第{index + 1}社区", shape)
            w.flush_if_full()

    # -- one row each ------------------------------------------------------------------------------------------------

    def area(self, parent: tuple[int, str] | None, level: str, name: str) -> tuple[int, str]:
        area_id = self.w.next_id("area")
        path = f"{parent[1] if parent else '/'}{area_id}/"
        self.w.add("area", (area_id, parent[0] if parent else None, level, name, path, {}, self.long_ago))
        return area_id, path

    def person(self, household_id: int | None, name: str | None = None) -> int:
        user_id = self.w.next_id("user")
        self.w.add("user", (user_id, name or person_name(self.rng), str(PHONE_BASE + user_id), household_id, True,
                            self.rng.random() < 0.6, self.long_ago))
        return user_id

    def grant(self, user_id: int, role: str, area_id: int | None) -> None:
        self.w.add("role_grant", (self.w.next_id("role_grant"), user_id, role, area_id, self.long_ago))

    def staff(self, area: tuple[int, str]) -> int:
        user_id = self.person(None, "工作人员")
        self.grant(user_id, "staff", area[0])
        return user_id

    # -- a community ----------------------------------------------------------------------------------------------

    def community(self, street: tuple[int, str], name: str, shape: Shape) -> None:
        w, rng = self.w, self.rng
        community = self.area(street, "community", name)
        if self.first_community_id is None:
            self.first_community_id = community[0]
        staff = self.staff(community)
        people: list[int] = []
        households: list[int] = []
        for g, buildings in enumerate(shape.buildings):
            grid = self.area(community, "grid", f"第{g + 1}网格")
            grid_head_home = None
            for b in range(buildings):
                building = self.area(grid, "building", f"{b + 1}号楼")
                building_head_home = None
                for u, count in enumerate(shape.households[g][b]):
                    unit = self.area(building, "unit", f"{u + 1}单元")
                    homes = [w.next_id("household") for _ in range(count)]
                    for n, home in enumerate(homes):
                        w.add("household", (home, unit[0], f"{n // 4 + 1}{n % 4 + 1:02d}", rng.choice((1, 2, 3, 4))))
                    households += homes
                    grid_head_home = grid_head_home or homes[0]
                    building_head_home = building_head_home or homes[0]
                    people.append(self.head(unit, 3, homes[-1]))
                people.append(self.head(building, 2, building_head_home))
            people.append(self.head(grid, 1, grid_head_home))
        volunteers = self._round(len(households) * self.volunteers_per_household)
        for home in rng.choices(households, k=volunteers):
            volunteer = self.person(home)
            self.grant(volunteer, "volunteer", community[0])
            people.append(volunteer)
        Ledger(self, community[0], people).write()
        self.events(community[0], staff, people)

    def head(self, area: tuple[int, str], tier: int, household_id: int) -> int:
        user_id = self.person(household_id)
        self.grant(user_id, "head", area[0])
        self.w.add("head_post", (self.w.next_id("head_post"), user_id, area[0], tier, self.long_ago))
        return user_id

    def _round(self, expected: float) -> int:
        """An integer with the expected value `expected` (so small communities still add up)."""
        whole = int(expected)
        return whole + (self.rng.random() < expected - whole)

    def events(self, community_id: int, organiser: int, people: list[int]) -> None:
        """Closed events of the scale's months with their attendance (checked in and out, processed)."""
        w, rng = self.w, self.rng
        count = self.scale.events_per_community_month * self.scale.months
        per_event = self.attendances_per_person * len(people) / count
        for n in range(count):
            starts = self._recent_moment().replace(minute=0, second=0, microsecond=0)
            ends = starts + timedelta(hours=rng.choice((1, 2, 2, 3)))
            if ends + timedelta(hours=1) > self.now:
                starts, ends = starts - timedelta(days=1), ends - timedelta(days=1)
            closed = ends + timedelta(hours=1)
            event_id = w.next_id("event")
            present = rng.sample(people, min(len(people), self._round(per_event)))
            w.add("event", (event_id, community_id, community_id, "activity", f"志愿活动{n + 1}", "社区活动室",
                            starts, ends, 30, 15, False, 0, len(present), "other", "per_hour", True, True,
                            f"{rng.getrandbits(64):016x}", organiser, starts - timedelta(days=3), closed))
            minutes = int((ends - starts).total_seconds() // 60)
            for person in present:
                w.add("attendance", (w.next_id("attendance"), event_id, person, starts - timedelta(minutes=5),
                                     "event_code", ends, "event_code", minutes, closed))


class Ledger:
    """One community's year of points: balanced transactions, balances, lots, monthly points and hours.

    Worked out in memory first, so each account is written once with its final cached balance.
    """

    def __init__(self, city: City, community_id: int, people: list[int]):
        self.city, self.w, self.rng = city, city.w, city.rng
        self.community_id = community_id
        self.people = people
        #: account id -> [owner or None, kind, created_at]; person id -> account id.
        self.accounts: dict[int, list] = {}
        self.account_of: dict[int, int] = {}
        self.balances: dict[int, int] = defaultdict(int)
        self.transactions: list[tuple] = []
        self.entries: list[tuple] = []
        self.lot_uses: list[tuple] = []
        #: Open lots per person account, oldest first: [lot id, account, entry id, amount, remaining, expires].
        self.lots: dict[int, deque[list]] = defaultdict(deque)
        self.closed_lots: list[list] = []
        self.totals: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0, 0])  # earned, spent, net
        self.minutes: dict[tuple[int, int], int] = defaultdict(int)

    def write(self) -> None:
        w, rng = self.w, self.rng
        system = {kind: self._account(None, kind, self.city.long_ago)
                  for kind in ("issued", "spent", "expired", "adjustments")}
        # A few people do most of the work: Pareto weights over the community's heads and volunteers.
        weights = [rng.paretovariate(1.3) for _ in self.people]
        count = self.city._round(self.city.txns_per_person * len(self.people))
        moments = sorted(self.city._recent_moment() for _ in range(count))
        for moment, person in zip(moments, rng.choices(self.people, weights, k=count), strict=True):
            account = self.account_of.get(person) or self._account(person, "person", moment)
            price = rng.choice(PRICES)
            if rng.random() < 0.15 and self.balances[account] >= price:
                self._post(moment, "redemption", person, account, system["spent"], -price)
            else:
                kind = rng.choices(("service", "event", "task", "honour"), (70, 20, 9, 1))[0]
                amount = rng.choice((5, 10, 10, 15, 20, 20, 30, 40)) if kind != "honour" else 200
                self._post(moment, kind, person, account, system["issued"], amount)
        for account_id, (owner, kind, created_at) in self.accounts.items():
            w.add("ledger_account", (account_id, owner, self.community_id, kind, self.balances[account_id], created_at))
        w.rows["ledger_transaction"] += self.transactions
        w.rows["ledger_entry"] += self.entries
        for lots in self.lots.values():
            self.closed_lots += lots
        w.rows["point_lot"] += sorted(tuple(lot) for lot in self.closed_lots)
        w.rows["point_lot_use"] += self.lot_uses
        for (account, month), (earned, spent, net) in self.totals.items():
            w.add("monthly_total", (w.next_id("monthly_total"), account, self.accounts[account][0], self.community_id,
                                    month, earned, spent, 0, net))
        for (person, month), minutes in self.minutes.items():
            w.add("hours_monthly", (w.next_id("hours_monthly"), person, self.community_id, month, minutes))

    def _account(self, owner: int | None, kind: str, created_at: datetime) -> int:
        account_id = self.w.next_id("ledger_account")
        self.accounts[account_id] = [owner, kind, created_at]
        if owner is not None:
            self.account_of[owner] = account_id
        return account_id

    def _post(self, moment: datetime, kind: str, person: int, account: int, system: int, amount: int) -> None:
        """One transaction of two entries: `amount` into the person's account, its opposite into `system`."""
        w = self.w
        txn = w.next_id("ledger_transaction")
        self.transactions.append((txn, self.community_id, kind, f"bench:{txn}", moment))
        month = month_of(moment)
        person_entry = 0
        for account_id, value in sorted(((account, amount), (system, -amount))):  # the ledger's lock order
            entry = w.next_id("ledger_entry")
            self.balances[account_id] += value
            self.entries.append((entry, txn, account_id, value, self.balances[account_id], month))
            if account_id == account:
                person_entry = entry
        totals = self.totals[(account, month)]
        if kind in EARNING:
            totals[0] += amount
        if kind == TxnKind.redemption:
            totals[1] -= amount
        totals[2] += amount
        if kind in ("service", "event"):
            self.minutes[(person, month)] += amount * MINUTES_PER_POINT
        if amount > 0:
            # The rules' default expiry: 31 Dec of the year after the points were earned (Beijing time).
            expires = datetime(moment.astimezone(SHANGHAI).year + 2, 1, 1, tzinfo=SHANGHAI).astimezone(UTC)
            self.lots[account].append([w.next_id("point_lot"), account, person_entry, amount, amount, expires])
        else:
            self._consume(account, person_entry, -amount)

    def _consume(self, account: int, entry: int, need: int) -> None:
        """Take from the oldest lots first, as the ledger does, recording what came from which lot."""
        lots = self.lots[account]
        while need:
            lot = lots[0]
            take = min(need, lot[4])
            lot[4] -= take
            need -= take
            self.lot_uses.append((self.w.next_id("point_lot_use"), entry, lot[0], take))
            if lot[4] == 0:
                self.closed_lots.append(lots.popleft())


# --- running it ----------------------------------------------------------------------------------------------------

def generate(scale: Scale, *, seed: int = 1, now: datetime | None = None) -> City:
    """Write a city of `scale` into the current app's (migrated) database and commit it."""
    raw = db.engine.raw_connection()
    try:
        loader = Loader(raw.driver_connection, db.engine.dialect.name)
        city = City(loader, scale, seed=seed, now=now)
        city.write()
        loader.finish()
    finally:
        raw.close()
    return city


@contextlib.contextmanager
def built(scale_name: str, url: str | None, name: str, *, seed: int = 1, verify: bool = True) -> Iterator[dict]:
    """A scratch database (bench/common.py: a temporary SQLite file, or "<db>_<name>" on the PostgreSQL server of
    `url`), migrated and filled with a city of the scale; yields what was measured (and its URL) while it lives."""
    from domain import ledger

    with common.fresh_database(url, name) as sqlalchemy_url:
        app = create_app({"SQLALCHEMY_DATABASE_URI": sqlalchemy_url, "SECRET_KEY": "bench-only"})
        with app.app_context():
            started = time.perf_counter()
            upgrade()
            migrated = time.perf_counter()
            city = generate(SCALES[scale_name], seed=seed)
            generated = time.perf_counter()
            result = {"scale": scale_name, "database": db.engine.dialect.name, "url": sqlalchemy_url,
                      "migrate_s": round(migrated - started, 1), "generate_s": round(generated - migrated, 1),
                      "rows": dict(city.w.counts), "first_community_id": city.first_community_id,
                      "load_s": round(sum(v for k, v in city.w.seconds.items() if k.startswith("load")), 1),
                      "indexes_s": round(city.w.seconds["indexes and foreign keys"], 1),
                      "analyze_s": round(city.w.seconds["analyze"], 1)}
            if verify:
                problems = ledger.verify()
                result["verify_s"] = round(time.perf_counter() - generated, 1)
                result["verify_problems"] = len(problems)
                for problem in problems[:10]:
                    print("  ledger verify:", problem, file=sys.stderr)
            db.session.remove()
            db.engine.dispose()
        yield result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=list(SCALES), default="district")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"),
                        help="a PostgreSQL server (a scratch database is created on it); default SQLite")
    parser.add_argument("--name", help="the scratch database's name suffix (default bench_<scale>)")
    parser.add_argument("--no-verify", action="store_true", help="skip `ledger verify` (slow at city scale)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with built(args.scale, args.database_url, args.name or f"bench_{args.scale}", seed=args.seed,
               verify=not args.no_verify) as result:
        pass
    rows = result.pop("rows")
    print(json.dumps(result, ensure_ascii=False))
    print("rows:", ", ".join(f"{table} {count:,}" for table, count in rows.items()))
    if result.get("verify_problems"):
        raise SystemExit(f"ledger verify found {result['verify_problems']} problems")


if __name__ == "__main__":
    main()
