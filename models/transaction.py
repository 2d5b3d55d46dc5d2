"""The one door to transactions: who ends them, and how SQLite's single writer is kept waiting as little as possible.

- A request is one transaction (blueprints/boundary.py): its writes commit after the view returns, or roll back on
  any exception. A CLI command is one unit (`unit()`); a periodic job commits once per item (domain/jobs/runner.py).
  Pages, API views and domain functions never commit: they write, and raise a DomainError to refuse.
- A view that catches a refusal to show it (a form shown again with its errors) calls `abandon()`: what the request
  wrote so far is dropped, and nothing is committed after it.
- On SQLite, a request that only reads runs in a deferred transaction (`read_only`), one that writes takes the write
  lock at its first statement (BEGIN IMMEDIATE in the writers' queue, models/sqlite.py). `reads_apart()` lets a
  writing request make its first reads (who is calling) before it takes the lock; `writing()` marks a GET that
  writes on purpose. On PostgreSQL (row locks) both do nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from models.base import db

#: True while a request only reads: SQLite then opens a deferred transaction instead of taking the write lock up
#: front (BEGIN IMMEDIATE, see models/sqlite.py).
read_only: ContextVar[bool] = ContextVar("read_only", default=False)


def begin_request(method: str) -> None:
    """A request starts: it only reads if its method is safe (GET, HEAD, OPTIONS)."""
    read_only.set(method in ("GET", "HEAD", "OPTIONS"))


def end_request() -> None:
    read_only.set(False)


def writing() -> None:
    """This GET writes on purpose (the check-in link a phone's camera opens): its writes take SQLite's write lock up
    front, as a POST's do, instead of running in a read transaction (which fails at once when another writer got in
    first)."""
    read_only.set(False)


_AFTER_COMMIT = "after_commit"


def commit() -> None:
    """End the unit of work with its writes kept, then run what waited for them (`after_commit`). Called by `unit()`
    and the job runner only."""
    db.session.commit()
    for run in db.session.info.pop(_AFTER_COMMIT, []):
        run()


def after_commit(run: Callable[[], object]) -> None:
    """Call `run` once this unit's writes are committed (a background import that reads the row just written);
    never if they are abandoned."""
    db.session.info.setdefault(_AFTER_COMMIT, []).append(run)


def abandon() -> None:
    """Drop everything written since the unit began: a refusal writes nothing. Objects read stay usable."""
    db.session.info.pop(_AFTER_COMMIT, None)
    db.session.rollback()


@contextmanager
def unit() -> Iterator[None]:
    """One unit of work: committed when the block ends, rolled back if it raises. The request boundary runs each
    view in one (blueprints/boundary.py), a CLI command its whole work."""
    try:
        yield
    except BaseException:
        abandon()
        raise
    commit()


@contextmanager
def reads_apart() -> Iterator[None]:
    """Reads a write request makes before it writes (who the bearer token is), in a transaction of their own.

    On SQLite a writing request takes the one write lock at its first statement, and everyone else's writes
    queue behind it until it commits: looking the caller up inside it would hold the lock through
    authentication and the rate limiter. Here the reads run deferred and end at once, and the write lock is
    taken by the first statement after. Objects read stay usable (expire_on_commit=False). Inside a transaction
    already begun (as any change waiting to be flushed begins one: nothing pending is ever committed here), or
    on PostgreSQL (row locks, no database-wide lock), it does nothing.
    """
    session = db.session()
    if session.in_transaction() or db.engine.dialect.name != "sqlite":
        yield
        return
    marked = read_only.set(True)
    try:
        yield
    except BaseException:
        read_only.reset(marked)
        session.rollback()
        raise
    read_only.reset(marked)
    if session.in_transaction():
        session.commit()
