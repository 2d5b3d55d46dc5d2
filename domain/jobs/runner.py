"""One run of a periodic job: its items listed, each handled in its own transaction, the run recorded in job_run."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select, update

from domain.errors import DomainError
from models import JobRun, Outcome, db, transaction, utcnow

log = logging.getLogger(__name__)

#: How much of a run's failures job_run keeps (the log has them all).
MESSAGE_LIMIT = 4000


@dataclass(frozen=True)
class Job:
    """A periodic job: `items(run)` lists what is due (a read), `process(item, run)` handles one and flushes,
    returning what it made (a count; None when the item turned out to need nothing)."""

    #: As the command says it: "events close" is `flask events close`.
    name: str
    #: The default time between two runs (JOB_INTERVALS in the settings overrides it).
    every: timedelta
    items: Callable[[Run], Iterable[Any]]
    process: Callable[[Any, Run], int | None]
    #: What an item is called in the failures: "event 17".
    label: Callable[[Any], str]
    #: The summary line; {done} items handled, {made} their counts added up.
    summary: str
    #: A check's items report problems (`Run.fail`) rather than change anything; its summary when a problem is found.
    failed_summary: str | None = None

    def interval(self) -> timedelta:
        seconds = current_app.config.get("JOB_INTERVALS", {})
        seconds = seconds.get(self.name, seconds.get("*"))
        return timedelta(seconds=seconds) if seconds else self.every


@dataclass
class Run:
    """What one run did, as it goes."""

    job: Job
    #: The time the job works at (tests pass a later one); the record keeps the wall clock.
    now: datetime
    params: dict = field(default_factory=dict)
    total: int = 0
    done: int = 0
    made: int = 0
    failures: list[str] = field(default_factory=list)
    #: Lines a job adds to its summary (e.g. each campaign moved).
    notes: list[str] = field(default_factory=list)

    def fail(self, what: str) -> None:
        self.failures.append(what)

    @property
    def ok(self) -> bool:
        return not self.failures

    def lines(self) -> list[str]:
        """The run's report: the summary, the notes, then the failures, each named."""
        values = {"done": self.done, "made": self.made, "failed": len(self.failures), "total": self.total}
        if self.ok or self.job.failed_summary is None:
            lines = [self.job.summary.format(**values), *self.notes]
        else:
            lines = [self.job.failed_summary.format(**values), *self.notes]
        if self.failures and self.job.failed_summary is None:
            lines.append(f"{len(self.failures)} of {self.total} failed:")
        return lines + [f"  - {failure}" for failure in self.failures]


def _why(error: Exception) -> str:
    if isinstance(error, DomainError):
        return f"{error.code}: {error.message}"
    return f"{type(error).__name__}: {error}"


def runner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run(job: Job, *, now: datetime | None = None, **params) -> Run:
    """Run `job` once: each item in its own transaction; an item that fails is rolled back, logged with its
    traceback, named in the run and skipped. The run is recorded in job_run, from start (outcome running) to end."""
    started = utcnow()
    record = JobRun(job=job.name, started_at=started, outcome=Outcome.running, items_done=0, items_failed=0,
                    runner=runner_name())
    with transaction.unit():
        db.session.add(record)
    record_id = record.id
    current = Run(job, now or started, params)
    try:
        items = list(job.items(current))
    except Exception as error:
        # Nothing to go through: the run fails as a whole (a bad argument, the database away).
        log.exception("%s: could not list its items", job.name)
        current.fail(f"listing the items ({_why(error)})")
        items = []
    transaction.abandon()  # the listing's read transaction ends before the first item's begins
    current.total = len(items)
    for each in items:
        try:
            with transaction.unit():
                made = job.process(each, current)
        except Exception as error:
            log.exception("%s: %s failed", job.name, job.label(each))
            current.fail(f"{job.label(each)} ({_why(error)})")
            continue
        if made is not None:
            current.done += 1
            current.made += made
    with transaction.unit():
        db.session.execute(update(JobRun).where(JobRun.id == record_id).values(
            finished_at=utcnow(), outcome=Outcome.ok if current.ok else Outcome.failed, items_done=current.done,
            items_failed=len(current.failures), message="\n".join(current.lines())[:MESSAGE_LIMIT]))
    return current


@dataclass(frozen=True)
class Status:
    job: Job
    every: timedelta
    last: JobRun | None
    next_at: datetime


def last_runs() -> dict[str, JobRun]:
    """The latest run of each job, by name."""
    latest = select(JobRun.job, func.max(JobRun.id).label("id")).group_by(JobRun.job).subquery()
    return {row.job: row for row in db.session.scalars(select(JobRun).join(latest, latest.c.id == JobRun.id))}


def status(jobs: Iterable[Job], *, now: datetime | None = None) -> list[Status]:
    """Each job's last run and its next: an interval after the last one started (now, if it never ran)."""
    now = now or utcnow()
    last = last_runs()
    found = []
    for job in jobs:
        every, previous = job.interval(), last.get(job.name)
        found.append(Status(job, every, previous, previous.started_at + every if previous else now))
    return found


def job_named(jobs: Iterable[Job], name: str) -> Job:
    return next(job for job in jobs if job.name == name)
