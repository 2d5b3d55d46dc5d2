"""Benchmark of the roster import: a realistic community roster parsed, checked, written, and imported again.

The generated file has ~30 grids of ~10 buildings of ~4 units, households of 1-4 people, a head at every
grid, building and unit (living in their area), about one volunteer in ten, and residents for the rest.

    .venv/bin/python bench/roster_import.py                       # SQLite file in a temporary folder
    .venv/bin/python bench/roster_import.py --database-url postgresql://postgres@127.0.0.1:5432/test

With --database-url a fresh database "<name>_roster_bench" is created on that server and dropped after
(bench/common.py).
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import time

import common
from openpyxl import Workbook

from domain import roster
from models import Area, User, db

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
GIVEN = "秀英桂兰建国志强丽娟海燕国华红梅德明淑珍文斌玉兰春生美玲立新翠花永福慧敏振华晓东"


def generate_rows(total: int, grids: int = 30, buildings: int = 10, units: int = 4, seed: int = 7) -> list[list]:
    """`total` roster rows: every head first, then households filled unit by unit until the total."""
    rng = random.Random(seed)
    phones = iter(rng.sample(range(10**8, 10**9), total))

    def person() -> tuple[str, str]:
        given = "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
        return rng.choice(SURNAMES) + given, f"13{next(phones)}"

    places = [(f"第{g + 1}网格", f"{b + 1}号楼", f"{u + 1}单元")
              for g in range(grids) for b in range(buildings) for u in range(units)]
    doors = {place: iter(f"{floor}{door:02d}" for floor in range(1, 34) for door in (1, 2, 3, 4)) for place in places}
    rows: list[list] = []

    def head(place: tuple[str, ...], role: str) -> None:
        # Heads live in the area they head: a grid head in its first building's first unit, and so on.
        unit = (*place, *("1号楼", "1单元")[len(place) - 1:])
        name, phone = person()
        rows.append([*unit, next(doors[unit]), name, phone, "", role])

    for g in range(grids):
        head(places[g * buildings * units][:1], "网格长")
    for index in range(0, len(places), units):
        head(places[index][:2], "楼栋长")
    for place in places:
        head(place, "单元长")
    unit_cycle = 0
    while len(rows) < total:
        place = places[unit_cycle % len(places)]
        unit_cycle += 1
        door = next(doors[place])
        size = min(rng.choice((1, 2, 2, 3, 3, 3, 4)), total - len(rows))
        for _ in range(size):
            name, phone = person()
            rows.append([*place, door, name, phone, size, "志愿者" if rng.random() < .1 else "居民"])
    return rows


def workbook_bytes(rows: list[list]) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("花名册")
    sheet.append(["网格", "楼栋", "单元", "户号", "姓名", "手机", "户人数", "身份"])
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def report(label: str, rows: int, seconds: float, cpu: float) -> None:
    """Wall time, and this process's CPU time: on a busy machine the second moves much less (on PostgreSQL it
    leaves out the server's share)."""
    print(f"{label:<28} {seconds:8.2f} s {rows / seconds:10,.0f} rows/s   cpu {cpu:6.2f} s")


def clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000)
    common.add_database_argument(parser)
    parser.add_argument("--format", choices=["xlsx", "csv"], default="xlsx")
    args = parser.parse_args()

    started = time.perf_counter()
    rows = generate_rows(args.rows)
    if args.format == "xlsx":
        data = workbook_bytes(rows)
    else:
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(["网格", "楼栋", "单元", "户号", "姓名", "手机", "户人数", "身份"])
        writer.writerows(rows)
        data = text.getvalue().encode("utf-8-sig")
    print(f"generated {len(rows):,} rows, {len(data) / 1e6:.1f} MB of {args.format} "
          f"in {time.perf_counter() - started:.1f} s")

    with common.scratch_app(args.database_url, "roster_bench"):
        community, staff = common.seed_community()

        with roster.collector_paused():  # as import_roster runs its three steps
            t0, c0 = clocks()
            parsed = roster.parse_roster(f"bench.{args.format}", data)
            t1, c1 = clocks()
            plan = roster.plan_roster(community, parsed)
            t2, c2 = clocks()
            result = roster.write_roster(staff, plan)
            db.session.commit()
            t3, c3 = clocks()
        report("parse", len(parsed.rows), t1 - t0, c1 - c0)
        report("validate (plan)", len(parsed.rows), t2 - t1, c2 - c1)
        report("parse + validate", len(parsed.rows), t2 - t0, c2 - c0)
        report("write + commit", len(parsed.rows), t3 - t2, c3 - c2)
        report("first import, total", len(parsed.rows), t3 - t0, c3 - c0)
        print("   ", {k: v for k, v in result.as_dict().items() if v})

        # A fresh session, as the next request would have: nothing cached from the first import.
        ids = community.id, staff.id
        db.session.remove()
        community, staff = db.session.get(Area, ids[0]), db.session.get(User, ids[1])
        t4, c4 = clocks()
        again = roster.import_roster(staff, community, f"bench.{args.format}", data)
        db.session.commit()
        t5, c5 = clocks()
        report("re-import (no change)", len(parsed.rows), t5 - t4, c5 - c4)
        if again.changed:
            raise SystemExit(f"the re-import changed something: {again}")
        print(f"    rows unchanged: {again.rows_unchanged:,} of {again.rows:,}")


if __name__ == "__main__":
    main()
