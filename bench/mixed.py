"""The mixed-read load of bench/run.py: what many people and the staff above them read at once, at the asked scale.

One pool of GET requests, each with its own reader's bearer token, shuffled, a third of each kind:

  /api/v1/me                     people of every community (many different people, not one)
  /api/v1/leaderboards           a person's own community and grid, the street's and the district's boards read by
                                 their staff; points or hours; this month, this year or all time
  /api/v1/areas/<id>/dashboard   staff of several communities, of the streets and of the district, 12 months

bench/get.lua sends them in turn from 64 connections (MIXED_CONNECTIONS): four sync workers queue them, so the p99
is what a reader waits when everyone reads at once.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import aliased

from domain.ledger import SHANGHAI
from models import Area, Household, Level, Role, RoleGrant, User, db

#: Connections of the mixed load (the issue's 64).
MIXED_CONNECTIONS = 64
#: Seconds it runs unless told (the issue's 30).
MIXED_SECONDS = 30
#: Requests of each kind in the pool, and readers of each kind sampled for them.
PER_KIND = 600
PEOPLE = 600
COMMUNITY_STAFF = 24


def _periods(now: datetime) -> list[str]:
    local = now.astimezone(SHANGHAI)
    return [f"{local:%Y-%m}", f"{local:%Y}", "all"]


def _staff(level: Level) -> list[tuple[int, int]]:
    """(staff member, their area) for every area of `level` that has staff."""
    return list(db.session.execute(
        select(RoleGrant.user_id, RoleGrant.area_id).join(Area, RoleGrant.area_id == Area.id)
        .where(RoleGrant.role == Role.staff, Area.level == level).order_by(RoleGrant.id)).all())


def _people(rng: random.Random, count: int) -> list[tuple[int, int, int]]:
    """(person, their community, their grid) of `count` volunteers sampled from all (a volunteer's role is on their
    community, so they read its board and their grid's; a head's covers only the area they head)."""
    community, grid, building, unit = (aliased(Area) for _ in range(4))
    rows = db.session.execute(
        select(User.id, community.id, grid.id).join(Household, User.household_id == Household.id)
        .join(unit, Household.unit_id == unit.id).join(building, unit.parent_id == building.id)
        .join(grid, building.parent_id == grid.id).join(community, grid.parent_id == community.id)
        .join(RoleGrant, (RoleGrant.user_id == User.id) & (RoleGrant.area_id == community.id))
        .where(RoleGrant.role == Role.volunteer, User.active.is_(True)).order_by(User.id)).all()
    return rng.sample(rows, min(count, len(rows)))


def pool(make_tokens: Callable[[list[int]], dict[int, str]], *, seed: int = 21,
         now: datetime | None = None) -> list[tuple[str, str]]:
    """(token, path) of the mixed reads, shuffled; `make_tokens` gives a bearer token to each of a list of people.
    Call it in the app context of the measured database."""
    rng = random.Random(seed)
    periods = _periods(now or datetime.now(UTC))
    people = _people(rng, PEOPLE)
    street_staff, district_staff = _staff(Level.street), _staff(Level.district)
    community_staff = _staff(Level.community)
    community_staff = rng.sample(community_staff, min(COMMUNITY_STAFF, len(community_staff)))
    tokens = make_tokens(sorted({p for p, *_ in people} | {s for s, _ in street_staff + district_staff
                                                             + community_staff}))

    def board(reader: int, area: int) -> tuple[str, str]:
        metric = rng.choice(("points", "hours"))
        return tokens[reader], f"/api/v1/leaderboards?area_id={area}&period={rng.choice(periods)}&metric={metric}"

    def dashboard(reader: int, area: int) -> tuple[str, str]:
        return tokens[reader], f"/api/v1/areas/{area}/dashboard?months=12"

    above = street_staff + district_staff
    requests = [(tokens[person], "/api/v1/me") for person, _c, _g in people]
    for n in range(PER_KIND):
        person, community, grid = people[n % len(people)]
        # Half the boards are a person's community, a quarter their grid, a quarter a street's or the district's.
        requests.append(board(person, community) if n % 4 < 2 else board(person, grid) if n % 4 == 2
                        else board(*above[n % len(above)]) if above else board(person, community))
        # Most dashboards are a community's; one in five a street's or the district's.
        requests.append(dashboard(*(above[n % len(above)] if above and n % 5 == 4
                                    else community_staff[n % len(community_staff)])))
    rng.shuffle(requests)
    return requests
