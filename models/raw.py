"""A raw DBAPI connection for the bench-only baselines (blueprints/bench.py): SQL written by hand, no ORM.

Kept in the models layer because it begins, commits and rolls back transactions itself, and takes SQLite's write
lock in the writers' queue as the app's writes do (models/sqlite.py): that is the door's business, not a view's.
"""

from __future__ import annotations

from datetime import UTC, datetime

from models.base import db


class Raw:
    """One pooled DBAPI connection; SQL written once with %s, run on either driver. On SQLite the reads before
    the writes (the caller's token, the event or the reward) run in a deferred transaction of their own and the
    write transaction takes the lock up front (`write`), as the app does (models.transaction.reads_apart); on
    PostgreSQL it is all one transaction. Used as a context manager: whatever ends the view, the connection is
    rolled back (unless closed) and returned, and SQLite's writers' queue let go."""

    closed = False

    def __init__(self):
        self.connection = db.engine.raw_connection()
        self.sqlite = db.engine.dialect.name == "sqlite"
        self.cursor = self.connection.cursor()
        if self.sqlite:
            self.cursor.execute("BEGIN")

    def __enter__(self) -> Raw:
        return self

    def __exit__(self, *_exc) -> None:
        if not self.closed:
            self.close(commit=False)

    def write(self) -> None:
        if self.sqlite:  # in the writers' queue, as the app's writes are (models/sqlite.py)
            self.cursor.execute("COMMIT")
            self.connection.driver_connection.begin_immediate()

    def value(self, moment: datetime):
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else moment

    def moment(self, value) -> datetime:
        if isinstance(value, str):
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        return value

    def one(self, sql: str, *params):
        self.cursor.execute(sql.replace("%s", "?") if self.sqlite else sql, params)
        return self.cursor.fetchone()

    def all(self, sql: str, *params):
        self.cursor.execute(sql.replace("%s", "?") if self.sqlite else sql, params)
        return self.cursor.fetchall()

    def run(self, sql: str, *params) -> int:
        self.cursor.execute(sql.replace("%s", "?") if self.sqlite else sql, params)
        return self.cursor.rowcount

    def close(self, commit: bool) -> None:
        self.closed = True
        try:
            if commit:
                self.connection.commit()
            else:
                self.connection.rollback()
        finally:
            self.cursor.close()
            self.connection.close()
