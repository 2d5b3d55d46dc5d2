"""Benchmark of the roster sync (PUT /api/v1/sync/roster) next to the spreadsheet import, for the same people.

The people are bench/roster_import.py's (`generate_rows`): grids, buildings and units, households, a head at every
grid, building and unit, residents and volunteers. The spreadsheet of them is imported into one fresh database; the
same roster, as the city's grid system would send it (its own ids for areas, households and people, and the heads),
is synced into another, then sent again (every row unchanged, nothing written). The sync is timed through the API
(JSON, the schema's checks and the answer included) and its domain call alone.

    .venv/bin/python bench/roster_sync.py                       # SQLite files in a temporary folder
    .venv/bin/python bench/roster_sync.py --database-url postgresql://postgres@127.0.0.1:5432/test

`--rows` counts the sync's rows (areas + households + people + heads, 20,000 by default); the import gets the same
people, as one spreadsheet row each.
"""

from __future__ import annotations

import argparse

import common
from roster_import import clocks, generate_rows, report, workbook_bytes

from blueprints.api.schemas import SyncRosterIn
from domain import roster
from domain.sync import clients
from domain.sync import roster as sync
from models import ApiClient, db

TIERS = {"网格长": 1, "楼栋长": 2, "单元长": 3}


def sync_payload(rows: list[list]) -> dict:
    """The roster of `rows` (as generate_rows makes them) in the sync's shape: areas, households, people, heads."""
    areas, households, people, heads = {}, {}, {}, []
    for grid, building, unit, door, name, phone, size, role in rows:
        place = (grid, building, unit)
        for depth, level in enumerate(("grid", "building", "unit"), start=1):
            key = "/".join(place[:depth])
            areas.setdefault(key, {"id": key, "parent_id": "/".join(place[:depth - 1]) or None, "level": level,
                                   "name": place[depth - 1]})
        home = f"{'/'.join(place)}#{door}"
        households.setdefault(home, {"id": home, "unit_id": "/".join(place), "label": door, "size": size or None})
        tier = TIERS.get(role)
        roles = [] if tier else [{"role": "volunteer" if role == "志愿者" else "resident", "area_id": None}]
        people[phone] = {"id": phone, "name": name, "phone": phone, "household_id": home, "roles": roles}
        if tier:
            heads.append({"area_id": "/".join(place[:tier]), "person_id": phone})
    return {"full": True, "areas": list(areas.values()), "households": list(households.values()),
            "people": list(people.values()), "heads": heads}


def rows_of(payload: dict) -> int:
    return sum(len(payload[kind]) for kind in ("areas", "households", "people", "heads"))


def people_for(total: int) -> tuple[list[list], dict]:
    """Roster rows whose sync payload has about `total` rows: people are about three in four of them."""
    people = int(total * 0.75)
    while True:
        rows = generate_rows(people)
        payload = sync_payload(rows)
        if rows_of(payload) <= total:
            return rows, payload
        people -= max(1, (rows_of(payload) - total) // 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000)
    common.add_database_argument(parser)
    args = parser.parse_args()
    rows, payload = people_for(args.rows)
    kinds = {kind: len(payload[kind]) for kind in ("areas", "households", "people", "heads")}
    print(f"sync payload: {rows_of(payload):,} rows {kinds}; the import: {len(rows):,} spreadsheet rows")

    with common.scratch_app(args.database_url, "roster_sync_bench"):
        community, staff = common.seed_community()
        data = workbook_bytes(rows)
        t0, c0 = clocks()
        roster.import_roster(staff, community, "bench.xlsx", data)
        db.session.commit()
        t1, c1 = clocks()
        report("import (.xlsx), first", len(rows), t1 - t0, c1 - c0)
        again = roster.import_roster(staff, community, "bench.xlsx", data)
        db.session.commit()
        t2, c2 = clocks()
        report("import again (no change)", len(rows), t2 - t1, c2 - c1)
        if again.changed:
            raise SystemExit(f"the import again changed something: {again}")

    with common.scratch_app(args.database_url, "roster_sync_bench") as app:
        community, _staff = common.seed_community()
        api_client, key = clients.create_client(None, area=community, name="bench")
        db.session.commit()
        http = app.test_client()
        for label in ("sync via API, first", "sync via API, again"):
            t0, c0 = clocks()
            answer = http.put("/api/v1/sync/roster", json=payload, headers={"Authorization": f"Bearer {key}"})
            t1, c1 = clocks()
            if answer.status_code != 200:
                raise SystemExit(f"the sync answered {answer.status_code}: {answer.text[:500]}")
            report(label, rows_of(payload), t1 - t0, c1 - c0)
            print("   ", {k: v for k, v in answer.json["totals"].items() if v})
        body = SyncRosterIn().load(payload)
        t0, c0 = clocks()
        unchanged = sync.sync_roster(db.session.get(ApiClient, api_client.id), body)
        db.session.commit()
        t1, c1 = clocks()
        report("sync, domain only, again", rows_of(payload), t1 - t0, c1 - c0)
        if unchanged.changed:
            raise SystemExit(f"the sync again changed something: {unchanged.totals}")


if __name__ == "__main__":
    main()
