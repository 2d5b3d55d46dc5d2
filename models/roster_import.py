"""A roster import too large for one request (more than domain.roster.SYNC_ROWS rows), run in the background."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Enum, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import UTCDateTime, db


class ImportStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


class RosterImport(db.Model):
    """One uploaded roster file on its way in: queued → running → done | failed. A running import whose worker
    died (no heartbeat for a while) is taken up again by the periodic job: importing a file again from the start
    changes nothing that was already written."""

    __tablename__ = "roster_import"

    id: Mapped[int] = mapped_column(primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id"), nullable=False, index=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False)
    #: The name the file had on the uploader's computer (shown, and tells .xlsx from .csv).
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    #: The stored upload under the instance folder (a random name), removed once the import is over.
    stored_as: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[ImportStatus] = mapped_column(
        Enum(ImportStatus, native_enum=False, length=16, validate_strings=True), nullable=False,
        default=ImportStatus.queued, index=True)
    rows_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rows_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    #: ImportResult.as_dict() once done.
    result: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    #: Why it failed: {"code", "message", "rows": [{"row", "key", "column", "message"}, ...]}.
    errors: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    #: Last sign of life of the worker running it: a running import silent for long is taken up again.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def __repr__(self) -> str:
        return f"<RosterImport {self.id} {self.status} {self.rows_done}/{self.rows_total}>"
