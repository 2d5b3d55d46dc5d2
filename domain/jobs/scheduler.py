"""`flask jobs run`: the scheduler. Safe to start on every host: one leader at a time runs the jobs, the others wait
and take over when it dies.

A simple loop over the schedule table rather than a library (APScheduler): the due time of each job is read from
job_run (its last start + its interval), so a leader that takes over carries on the same schedule, and leadership
is one lock (models/leader.py): a PostgreSQL session-level advisory lock held on a connection of its own (released by
the server when the leader's connection dies), or on SQLite an flock on a file next to the database (released by the
kernel).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import datetime

from domain.jobs.runner import Job, run, status
from models import db, transaction, utcnow
from models.leader import leadership

__all__ = ["leadership", "run_due", "serve"]

log = logging.getLogger(__name__)


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
                    transaction.abandon()
                finally:
                    db.session.remove()
            stop.wait(poll)
    finally:
        if leading:
            lock.release()
