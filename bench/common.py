"""What the benchmarks share: a scratch app on an empty, migrated database (a temporary SQLite file, or a fresh
database on the PostgreSQL server of --database-url, dropped afterwards), a seeded community with its staff, and
the process's resident memory.

Import it first: it puts the project on the path, so a benchmark runs as a script from anywhere.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402
from flask import Flask  # noqa: E402
from flask_migrate import upgrade  # noqa: E402

from app import create_app, database_url  # noqa: E402
from domain.accounts import hash_password  # noqa: E402
from models import Area, Level, Role, RoleGrant, User, db  # noqa: E402

#: The password of the staff `seed_community` makes.
PASSWORD = "bench-only-password"  # noqa: S105


def add_database_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", help="a PostgreSQL server to use instead of a temporary SQLite file")


def make_app(url: str) -> Flask:
    """The app on the database at `url`, as a benchmark drives it: no CSRF tokens, no rate limits, cheap hashes."""
    return create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench-only", "WTF_CSRF_ENABLED": False,
                       "RATELIMIT_ENABLED": False,
                       "ARGON2_PARAMS": {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}})


@contextlib.contextmanager
def fresh_database(url: str | None, name: str) -> Iterator[str]:
    """A SQLAlchemy URL of an empty database, removed afterwards: a SQLite file in a temporary folder, or the
    database "<database of url>_<name>" created on the PostgreSQL server of `url`."""
    if url is None:
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/bench.db"
        return
    parts = urlsplit(url)
    database = f"{parts.path.lstrip('/') or 'postgres'}_{name}"
    admin = urlunsplit(parts._replace(scheme="postgresql"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')
    try:
        yield database_url(urlunsplit(parts._replace(path=f"/{database}")))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@contextlib.contextmanager
def scratch_app(url: str | None, name: str) -> Iterator[Flask]:
    """The app on a fresh database (see `fresh_database`), migrated, inside its app context."""
    with fresh_database(url, name) as scratch:
        app = make_app(scratch)
        with app.app_context():
            upgrade()
            print(f"database: {db.engine.dialect.name} {db.engine.url.render_as_string(hide_password=True)}")
            try:
                yield app
            finally:
                db.session.remove()
                db.engine.dispose()


def area(level: Level, name: str, parent: Area | None) -> Area:
    """A new area under `parent`, with its materialised path (flushed)."""
    row = Area(level=level, name=name, parent=parent)
    db.session.add(row)
    db.session.flush()
    row.path = f"{parent.path if parent else '/'}{row.id}/"
    return row


def seed_community(name: str = "银融社区", street: Area | None = None, staff_phone: str = "13800000101"
                   ) -> tuple[Area, User]:
    """A community (under a new 示范区 / 东风街道 unless a street is given) and a member of its staff, who signs in
    with PASSWORD; committed."""
    if street is None:
        street = area(Level.street, "东风街道", area(Level.district, "示范区", None))
    community = area(Level.community, name, street)
    staff = User(name="社区干部", phone=staff_phone, password_hash=hash_password(PASSWORD))
    staff.grants.append(RoleGrant(role=Role.staff, area=community))
    db.session.add(staff)
    db.session.commit()
    return community, staff


def rss_kb(field: str = "VmRSS", pid: int | str = "self") -> int:
    """A process's resident memory in kB (this one's by default): VmRSS now, or VmHWM, its peak since the last
    `reset_peak_rss`."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def reset_peak_rss(pid: int | str = "self") -> None:
    """Start a process's VmHWM again from its current resident memory (Linux)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


#: The kernel's clock ticks a second, the unit of a process's CPU times in /proc/<pid>/stat.
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """The CPU time the processes have used (user + system), in seconds."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def smaps_kb(pid: int | str = "self") -> dict[str, int]:
    """A process's memory by /proc/<pid>/smaps_rollup (Linux ≥ 4.14), in kB: Rss, Pss, Private_* and the rest."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        fields[name] = int(value.split()[0])
    return fields


def pss_kb(pid: int | str = "self") -> int:
    """A process's proportional set size in kB (Linux): its resident pages, each shared page divided among the
    processes that share it, so workers forked from a preloaded master count their common pages once."""
    return smaps_kb(pid)["Pss"]
