"""`flask jobs run`: the scheduler. Safe to start on every host: one leader at a time runs the jobs, the others wait
and take over when it dies.

A simple loop over the schedule table rather than a library (APScheduler): the due time of each job is read from
job_run (its last start + its interval), so a leader that takes over carries on the same schedule, and leadership
is one lock: a PostgreSQL session-level advisory lock held on a connection of its own (released by the server when
the leader's connection dies), or on SQLite an flock on a file next to the database (released by the kernel).
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time
import zlib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

from domain.jobs.runner import Job, run, status
from models import db, utcnow

log = logging.getLogger(__name__)

#: The advisory lock's key: one for the whole deployment (every host shares the database).
LOCK_KEY = zlib.crc32(b"sanzhang jobs scheduler")


class PostgresLeadership:
    """A session-level advisory lock on a dedicated connection: held as long as that connection lives."""

    def __init__(self, engine: Engine):
        self.engine, self.connection = engine, None

    def try_acquire(self) -> bool:
        try:
            connection = self.engine.connect()
            taken = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}).scalar()
            connection.commit()  # a session-level lock outlives the transaction that took it
        except Exception:
            log.warning("scheduler: the database cannot be reached; trying again", exc_info=True)
            return False
        if not taken:
            connection.close()
            return False
        self.connection = connection
        return True

    def still_held(self) -> bool:
        """Whether the lock's connection is alive (if it died, so did the lock, and another may lead now)."""
        try:
            self.connection.execute(text("SELECT 1")).scalar()
            self.connection.commit()
            return True
        except Exception:
            log.warning("scheduler: lost the leader's connection", exc_info=True)
            self.connection.invalidate()
            self.connection = None
            return False

    def release(self) -> None:
        if self.connection is not None:
            try:
                self.connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
                self.connection.commit()
            finally:
                self.connection.close()
                self.connection = None


class FileLeadership:
    """An exclusive flock on "<database>.jobs.lock": the kernel lets it go when the process ends, however."""

    def __init__(self, path: Path):
        self.path, self.file = path, None

    def try_acquire(self) -> bool:
        handle = open(self.path, "a")  # noqa: SIM115 - held open for as long as this process leads
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self.file = handle
        return True

    def still_held(self) -> bool:
        return True

    def release(self) -> None:
        if self.file is not None:
            fcntl.flock(self.file, fcntl.LOCK_UN)
            self.file.close()
            self.file = None


def leadership(engine: Engine, instance_path: str):
    if engine.dialect.name == "postgresql":
        return PostgresLeadership(engine)
    database = engine.url.database
    if not database or database == ":memory:":
        return FileLeadership(Path(instance_path) / "jobs.lock")
    return FileLeadership(Path(database).with_name(Path(database).name + ".jobs.lock"))


def run_due(jobs: Sequence[Job], now: datetime | None = None) -> list[str]:
    """Run each job whose next run has come (one after the other); returns their names."""
    ran = []
    for each in status(jobs, now=now):
        if each.next_at <= (now or utcnow()):
            done = run(each.job)
            # A round that found nothing to do is not worth a line every minute.
            level = logging.ERROR if not done.ok else logging.INFO if done.done else logging.DEBUG
            log.log(level, "%s: %s", each.job.name, " ".join(done.lines()))
            ran.append(each.job.name)
    return ran


def serve(jobs: Sequence[Job], lock, *, poll: float, stop: threading.Event, until: float | None = None) -> None:
    """Lead or wait, until `stop` is set (or `until`, a time.monotonic() deadline, has come)."""
    leading = False
    try:
        while not stop.is_set() and (until is None or time.monotonic() < until):
            if not leading:
                leading = lock.try_acquire()
                if leading:
                    log.info("scheduler: this process leads now")
            elif not lock.still_held():
                leading = False
            if leading:
                try:
                    run_due(jobs)
                except Exception:
                    # The database went away mid-run, say: roll back, keep leading, try again at the next tick.
                    log.exception("scheduler: a round of jobs failed")
                    db.session.rollback()
                finally:
                    db.session.remove()
            stop.wait(poll)
    finally:
        if leading:
            lock.release()
