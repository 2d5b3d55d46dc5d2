"""The scheduler's leadership: one lock for the whole deployment, held by the process that runs the periodic jobs.

Concurrency machinery, so it sits in the models layer beside models/sqlite.py: on PostgreSQL a session-level
advisory lock held on a connection of its own (released by the server when the leader's connection dies), on SQLite
an flock on a file next to the database (released by the kernel when the process ends, however it ends). Both have
`try_acquire()`, `still_held()` and `release()`; `leadership(engine, instance_path)` picks one.
"""

from __future__ import annotations

import fcntl
import logging
import zlib
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

#: Its warnings are the scheduler's, under the scheduler's name in the log.
log = logging.getLogger("domain.jobs.scheduler")

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
