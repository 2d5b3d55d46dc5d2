"""The periodic jobs' record: one row per run of a job, written by the jobs module (domain/jobs)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import UTCDateTime, db


class Outcome(enum.StrEnum):
    running = "running"
    ok = "ok"
    #: At least one item failed (the others were done), or the job could not list its items.
    failed = "failed"


class JobRun(db.Model):
    __tablename__ = "job_run"
    __table_args__ = (Index("ix_job_run_job_started", "job", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The job's name as the command says it, e.g. "events close".
    job: Mapped[str] = mapped_column(String(64), nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    outcome: Mapped[Outcome] = mapped_column(Enum(Outcome, native_enum=False, length=16),
                                             nullable=False, default=Outcome.running)
    items_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    items_failed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    #: The job's summary line and the failures it names.
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: Which process ran it ("host:pid"): the scheduler's leader, or an operator's command.
    runner: Mapped[str] = mapped_column(String(128), nullable=False)

    def __repr__(self) -> str:
        return f"<JobRun {self.job} {self.started_at:%Y-%m-%d %H:%M} {self.outcome}>"
