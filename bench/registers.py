"""Benchmark of the streamed registers (台账): a 200,000-row and a 2,000-row events and attendance register.

Two communities are filled straight through the models: 1,000 residents each, and enough events with everyone
checked in and out to give the rows asked for (200 events × 1,000 people = 200,000 rows). Each register is then
written by `registers.write` — rows streamed from the database with yield_per into a write-only workbook — in a
fresh process of its own, which reports the time, the file size, its resident memory before writing and its
peak while writing (Linux /proc: VmRSS, and VmHWM reset just before), and with --trace the peak of Python's own
allocations (tracemalloc, which makes writing several times slower). Flat memory means the big register costs
about what the small one does.

    .venv/bin/python bench/registers.py                       # SQLite file in a temporary folder
    .venv/bin/python bench/registers.py --trace
    .venv/bin/python bench/registers.py --database-url postgresql://postgres@127.0.0.1:5432/test

With --database-url a fresh database "<name>_registers_bench" is created on that server and dropped after.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

import psycopg  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from app import create_app, database_url  # noqa: E402
from domain import registers  # noqa: E402
from models import Area, Attendance, CheckMethod, Event, EventKind, Household, Level, User, db  # noqa: E402

PEOPLE = 1_000
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = ["秀英", "桂兰", "建国", "志强", "丽娟", "海燕", "国华", "红梅", "德明", "淑珍"]


@contextlib.contextmanager
def fresh_database(url: str | None):
    """A SQLAlchemy URL of an empty database, removed afterwards."""
    if url is None:
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/bench.db"
        return
    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/') or 'postgres'}_registers_bench"
    admin = urlunsplit(parts._replace(scheme="postgresql"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield database_url(urlunsplit(parts._replace(path=f"/{name}")))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def area(level: Level, name: str, parent: Area | None) -> Area:
    row = Area(level=level, name=name, parent=parent)
    db.session.add(row)
    db.session.flush()
    row.path = f"{parent.path if parent else '/'}{row.id}/"
    return row


def community_with_attendance(street: Area, name: str, rows: int, index: int) -> Area:
    """A community of PEOPLE residents in one unit, and events until there are `rows` attendances."""
    community = area(Level.community, name, street)
    grid = area(Level.grid, "第一网格", community)
    unit = area(Level.unit, "1单元", area(Level.building, "1号楼", grid))
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
    return community


def _rss(field: str) -> int:
    """This process's resident memory in kB: VmRSS now, or VmHWM, its peak since the last reset."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure(url: str, area_id: int, trace: bool) -> dict:
    """Write one register in this (fresh) process and say what it cost."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench-only"})
    with app.app_context():
        target = db.session.get(Area, area_id)
        register = next(r for r in registers._REGISTERS.values() if r.key == "events")
        db.session.scalar(db.select(Event.id).limit(1))  # connect before measuring
        before = _rss("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) starts again from here
        if trace:
            tracemalloc.start()
        started = time.perf_counter()
        book = registers.write(register, target)
        seconds = time.perf_counter() - started
        traced = tracemalloc.get_traced_memory()[1] if trace else None
        if trace:
            tracemalloc.stop()
        book.seek(0, 2)
        size = book.tell()
        book.close()
        peak = _rss("VmHWM")
    return {"seconds": seconds, "bytes": size, "rss_before_kb": before, "rss_peak_kb": peak, "traced": traced}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--small", type=int, default=2_000)
    parser.add_argument("--database-url", help="a PostgreSQL server to use instead of a temporary SQLite file")
    parser.add_argument("--trace", action="store_true", help="also measure Python's peak allocations (slower)")
    parser.add_argument("--measure", nargs=2, metavar=("URL", "AREA_ID"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure[0], int(args.measure[1]), args.trace)))
        return

    with fresh_database(args.database_url) as url:
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench-only"})
        with app.app_context():
            upgrade()
            print(f"database: {db.engine.dialect.name}")
            started = time.perf_counter()
            street = area(Level.street, "东风街道", area(Level.district, "示范区", None))
            big = community_with_attendance(street, "银融社区", args.rows, 1)
            small = community_with_attendance(street, "南湖社区", args.small, 2)
            print(f"filled {args.rows + args.small:,} attendances in {time.perf_counter() - started:.1f} s")
            targets = [(args.rows, big.id), (args.small, small.id)]
            db.session.remove()
            db.engine.dispose()
        print(f"{'register':<18} {'rows':>9} {'seconds':>8} {'rows/s':>9} {'file MB':>8} {'RSS before':>11} "
              f"{'RSS peak':>9} {'growth':>8}" + (f" {'tracemalloc peak':>17}" if args.trace else ""))
        for rows, area_id in targets:
            command = [sys.executable, __file__, "--measure", url, str(area_id)] + (["--trace"] if args.trace else [])
            result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
            growth = (result["rss_peak_kb"] - result["rss_before_kb"]) / 1024
            print(f"{'events+attendance':<18} {rows:>9,} {result['seconds']:>8.2f} {rows / result['seconds']:>9,.0f} "
                  f"{result['bytes'] / 1e6:>8.1f} {result['rss_before_kb'] / 1024:>9.1f} MB "
                  f"{result['rss_peak_kb'] / 1024:>6.1f} MB {growth:>5.1f} MB"
                  + (f" {result['traced'] / 1e6:>14.1f} MB" if args.trace else ""))


if __name__ == "__main__":
    main()
