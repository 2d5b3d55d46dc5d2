"""SQLite for a web app with several writers: WAL, durable commits, and writers that wait their turn in a queue.

SQLite lets one writer in at a time. A writer that finds the lock taken sleeps in SQLite's busy handler and tries
again, ever more slowly: with four gunicorn workers writing, the lock sat free while the next writer slept, and with
64 threads a newcomer kept winning while an old writer waited out the timeout ("database is locked"); bench/README.md
has the figures.

Here a write transaction first takes a lock of its process (threads in turn, woken the moment it is free) and then
an advisory lock on a file next to the database (`flock`: processes in turn, looked at again within milliseconds), then
BEGIN IMMEDIATE; it lets go right after its COMMIT or ROLLBACK. SQLite's own lock and busy timeout still guard
against anyone who does not queue (another program). Reads never queue: WAL readers do not block or wait for writers.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from contextvars import ContextVar

from sqlalchemy import event

#: How long a writer waits for its turn, and then for SQLite's lock, before "database is locked" (milliseconds).
BUSY_TIMEOUT_MS = 10_000


class WriterQueue:
    """One writer at a time among this host's processes and threads using one database file."""

    def __init__(self, path: str):
        self.path = f"{path}-writers.lock"
        self._reset()

    def _reset(self) -> None:
        """A fresh state: also in a forked child, which must neither share its parent's open lock file (flock is
        held per open file) nor inherit a thread lock a parent's thread held at the fork."""
        self.threads = threading.Lock()
        self._fd: int | None = None
        self._pid: int | None = None

    def _file(self) -> int:
        if self._pid != os.getpid():  # first use in this process
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    def enter(self) -> bool:
        """Wait for this writer's turn, at most BUSY_TIMEOUT_MS; False when it did not come (the writer then goes
        on unqueued and SQLite's busy timeout decides)."""
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        if not self.threads.acquire(timeout=BUSY_TIMEOUT_MS / 1000):
            return False
        pause = 0.0002
        try:
            fd = self._file()
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return True
                except BlockingIOError:
                    # Another process writes: look again soon (a blocking flock could not give up at the deadline).
                    if time.monotonic() > deadline:
                        break
                    time.sleep(pause)
                    pause = min(pause * 2, 0.002)
        except OSError:
            pass
        self.threads.release()
        return False

    def leave(self) -> None:
        if self._pid == os.getpid():
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            self.threads.release()


_queues: dict[str, WriterQueue] = {}
_queues_lock = threading.Lock()


def _queue_for(path: str) -> WriterQueue:
    path = os.path.realpath(path)
    with _queues_lock:
        if path not in _queues:
            _queues[path] = WriterQueue(path)
        return _queues[path]


os.register_at_fork(after_in_child=lambda: [queue._reset() for queue in _queues.values()])


class QueuedConnection(sqlite3.Connection):
    """A connection whose write transactions queue (`begin_immediate`) and leave the queue when they end."""

    queue: WriterQueue | None = None
    queued = False

    def begin_immediate(self) -> None:
        if self.queue is not None and not self.queued:
            self.queued = self.queue.enter()
        try:
            self.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._leave()
            raise

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._leave()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._leave()

    def close(self) -> None:
        self._leave()
        super().close()

    def _leave(self) -> None:
        if self.queued:
            self.queued = False
            self.queue.leave()


def engine_options(options: dict) -> dict:
    """Engine options for SQLite: queued connections, and no ping on checkout (a file cannot drop a
    connection the way a server can)."""
    return {**options, "pool_pre_ping": False,
            "connect_args": {**options.get("connect_args", {}), "factory": QueuedConnection}}


def tune(engine, read_only: ContextVar[bool]) -> None:
    """WAL, foreign keys, the busy timeout, durable commits (synchronous=FULL: no committed points lost on power
    failure); BEGIN IMMEDIATE in the writers' queue, plain BEGIN for requests that only read."""
    database = engine.url.database
    queue = _queue_for(database) if database and database != ":memory:" else None

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # the driver must not issue its own BEGIN
        if isinstance(dbapi_connection, QueuedConnection):
            dbapi_connection.queue = queue
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", f"busy_timeout={BUSY_TIMEOUT_MS}",
                       "synchronous=FULL"):
            dbapi_connection.execute(f"PRAGMA {pragma}")

    @event.listens_for(engine, "begin")
    def on_begin(connection):
        # A deferred transaction that has read and then writes fails at once with "database is locked" when
        # another writer is active; taking the lock up front makes writers queue.
        if read_only.get():
            connection.exec_driver_sql("BEGIN")
            return
        dbapi_connection = connection.connection.dbapi_connection
        if isinstance(dbapi_connection, QueuedConnection):
            dbapi_connection.begin_immediate()
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
