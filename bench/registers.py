"""Benchmark of the streamed registers (台账): a 200,000-row and a 2,000-row events and attendance register.

Two communities are filled straight through the models: 1,000 residents each, and enough events with everyone
checked in and out to give the rows asked for (200 events × 1,000 people = 200,000 rows). Each register is then
made in a fresh process of its own, twice: by `registers.write` (rows streamed from the database into the
workbook), and as the download staff get (GET /areas/<id>/registers/events.xlsx through the app, the body read
8 KB at a time as a server sends it). Each reports the wall and CPU time, the file size, the resident memory
before and its peak during the work (Linux /proc: VmRSS, and VmHWM reset just before), and with --trace the
peak of Python's own allocations (tracemalloc, which makes writing several times slower). Flat memory means the
big register costs about what the small one does; the last line gives the ratios.

    .venv/bin/python bench/registers.py                       # SQLite file in a temporary folder
    .venv/bin/python bench/registers.py --trace
    .venv/bin/python bench/registers.py --database-url postgresql://postgres@127.0.0.1:5432/test

With --database-url a fresh database "<name>_registers_bench" is created on that server and dropped after
(bench/common.py).
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

import common
from sqlalchemy import insert

from domain import registers
from models import Area, Attendance, CheckMethod, Event, EventKind, Household, Level, User, db

PEOPLE = 1_000
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = ["秀英", "桂兰", "建国", "志强", "丽娟", "海燕", "国华", "红梅", "德明", "淑珍"]


def community_with_attendance(street: Area | None, name: str, rows: int, index: int) -> tuple[Area, User]:
    """A community (and its staff) of PEOPLE residents in one unit, and events until there are `rows`
    attendances."""
    community, staff = common.seed_community(name, street, staff_phone=f"1380000010{index}")
    grid = common.area(Level.grid, "第一网格", community)
    unit = common.area(Level.unit, "1单元", common.area(Level.building, "1号楼", grid))
    home = Household(unit_id=unit.id, label="101")
    db.session.add(home)
    db.session.flush()
    base = 13_000_000_000 + index * 1_000_000
    db.session.execute(insert(User), [
        {"name": SURNAMES[n % len(SURNAMES)] + GIVEN[n % len(GIVEN)], "phone": str(base + n), "household_id": home.id}
        for n in range(PEOPLE)])
    people = list(db.session.scalars(db.select(User.id).where(User.household_id == home.id).order_by(User.id)))
    organiser = people[0]
    start = datetime(2025, 1, 4, 1, 0, tzinfo=UTC)
    for n in range(-(-rows // PEOPLE)):
        starts = start + timedelta(days=n)
        event = Event(community_id=community.id, area_id=community.id, kind=EventKind.activity,
                      title=f"楼道清洁日 第{n + 1}期", place="社区广场", starts_at=starts,
                      ends_at=starts + timedelta(hours=2), category="environment", secret=secrets.token_hex(8),
                      organiser_id=organiser)
        db.session.add(event)
        db.session.flush()
        comers = people[:min(PEOPLE, rows - n * PEOPLE)]
        db.session.execute(insert(Attendance), [
            {"event_id": event.id, "person_id": person, "checked_in_at": starts + timedelta(seconds=i % 600),
             "checked_in_method": CheckMethod.event_code, "checked_out_at": starts + timedelta(hours=2),
             "checked_out_method": CheckMethod.event_code, "minutes": 120}
            for i, person in enumerate(comers)])
    db.session.commit()
    return community, staff


def measure(url: str, area_id: int, phone: str, http: bool, trace: bool) -> dict:
    """Make one register in this (fresh) process and say what it cost."""
    app = common.make_app(url)
    with app.app_context():
        target = db.session.get(Area, area_id)
        register = registers.streamed(db.session.scalar(db.select(User).filter_by(phone=phone)), target, "events")
        client = app.test_client()
        if http and client.post("/login", data={"phone": phone, "password": common.PASSWORD}).status_code != 302:
            raise SystemExit(f"{phone} could not sign in")
        before = common.rss_kb()
        common.reset_peak_rss()
        if trace:
            tracemalloc.start()
        started, cpu = time.perf_counter(), time.process_time()
        if http:
            response = client.get(f"/areas/{area_id}/registers/events.xlsx", buffered=False)
            if response.status_code != 200:
                raise SystemExit(f"the register answered {response.status}")
            size = sum(len(chunk) for chunk in response.response)
            response.close()
        else:
            book = registers.write(register, target)
            size = book.seek(0, 2)
            book.close()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        traced = tracemalloc.get_traced_memory()[1] if trace else None
        if trace:
            tracemalloc.stop()
        peak = common.rss_kb("VmHWM")
    return {"seconds": seconds, "cpu": cpu, "bytes": size, "rss_before_kb": before, "rss_peak_kb": peak,
            "traced": traced}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--small", type=int, default=2_000)
    common.add_database_argument(parser)
    parser.add_argument("--trace", action="store_true", help="also measure Python's peak allocations (slower)")
    parser.add_argument("--measure", nargs=4, metavar=("URL", "AREA_ID", "PHONE", "HOW"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        url, area_id, phone, how = args.measure
        print(json.dumps(measure(url, int(area_id), phone, how == "http", args.trace)))
        return

    with common.scratch_app(args.database_url, "registers_bench") as app:
        started = time.perf_counter()
        big, big_staff = community_with_attendance(None, "银融社区", args.rows, 1)
        small, small_staff = community_with_attendance(big.parent, "南湖社区", args.small, 2)
        print(f"filled {args.rows + args.small:,} attendances in {time.perf_counter() - started:.1f} s")
        targets = [(args.rows, big.id, big_staff.phone), (args.small, small.id, small_staff.phone)]
        url = app.config["SQLALCHEMY_DATABASE_URI"]
        db.session.remove()
        db.engine.dispose()
        print(f"{'events+attendance':<18} {'rows':>9} {'seconds':>8} {'CPU s':>7} {'rows/s':>9} {'file MB':>8} "
              f"{'RSS before':>11} {'RSS peak':>9} {'growth':>8}"
              + (f" {'tracemalloc peak':>17}" if args.trace else ""))
        peaks: dict[str, list[int]] = {}
        for how in ("write", "http"):
            for rows, area_id, phone in targets:
                command = [sys.executable, __file__, "--measure", url, str(area_id), phone, how]
                result = json.loads(subprocess.run(command + (["--trace"] if args.trace else []), check=True,
                                                   capture_output=True, text=True).stdout)
                peaks.setdefault(how, []).append(result["rss_peak_kb"])
                growth = (result["rss_peak_kb"] - result["rss_before_kb"]) / 1024
                print(f"{'registers.write' if how == 'write' else 'GET .xlsx':<18} {rows:>9,} "
                      f"{result['seconds']:>8.2f} {result['cpu']:>7.2f} {rows / result['seconds']:>9,.0f} "
                      f"{result['bytes'] / 1e6:>8.1f} {result['rss_before_kb'] / 1024:>8.1f} MB "
                      f"{result['rss_peak_kb'] / 1024:>6.1f} MB {growth:>5.1f} MB"
                      + (f" {result['traced'] / 1e6:>14.1f} MB" if args.trace else ""))
        print(f"peak RSS, {args.rows:,} rows / {args.small:,} rows: "
              + ", ".join(f"{how} {big / small:.2f}×" for how, (big, small) in peaks.items()))


if __name__ == "__main__":
    main()
