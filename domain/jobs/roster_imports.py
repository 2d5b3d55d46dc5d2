"""Running the roster imports that domain/roster_imports.py queued, as a job. Each chunk of rows is a unit of work
of its own (`transaction.unit`), committed with the progress (the page sees it move), as the other periodic jobs
commit once per item.

`run_in_background` starts one in a thread of the worker that queued it; the periodic job ("roster imports", in
table.py) takes up what no thread did: imports still queued (the worker died before starting the thread) and running
ones whose heartbeat stopped (the worker died mid-way).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import fields
from datetime import datetime

from flask import Flask
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, or_, select, update

from domain import roster
from domain import roster_imports as queued
from domain.errors import DomainError
from models import Area, ImportStatus, RosterImport, User, db, files, transaction, utcnow

log = logging.getLogger(__name__)


def run_in_background(app: Flask, import_id: int) -> threading.Thread:
    """Start `run_import` in a thread of this process (after the queued row is committed)."""
    thread = threading.Thread(target=_run_in_app, args=(app, import_id), name=f"roster-import-{import_id}",
                              daemon=True)
    thread.start()
    return thread


def _run_in_app(app: Flask, import_id: int) -> None:
    with app.app_context():
        try:
            run_import(import_id)
        except Exception:  # the periodic job takes it up again; the thread has nobody to tell
            log.exception("roster import %s stopped", import_id)
        finally:
            db.session.remove()


def _claim(import_id: int, now: datetime) -> bool:
    """Take the import for this worker, if nobody runs it: one guarded UPDATE, so two takers never both get it."""
    with transaction.unit():
        taken = db.session.execute(
            update(RosterImport)
            .where(RosterImport.id == import_id, _runnable(now))
            .values(status=ImportStatus.running, rows_done=0, heartbeat_at=now)
            .execution_options(synchronize_session=False)).rowcount
    return taken == 1


def _runnable(now: datetime):
    return or_(RosterImport.status == ImportStatus.queued,
               and_(RosterImport.status == ImportStatus.running, RosterImport.heartbeat_at < now - queued.STALE_AFTER))


def _errors_of(error: DomainError) -> dict:
    problems = (error.fields or {}).get("rows", [])
    return {"code": error.code, "message": str(error.message), "problems_total": len(problems),
            "rows": [{**p, "message": str(p["message"])} for p in problems[:queued.KEPT_PROBLEMS]]}


def _merge(total: roster.ImportResult, part: roster.ImportResult) -> None:
    for each in fields(total):
        setattr(total, each.name, getattr(total, each.name) + getattr(part, each.name))


def run_import(import_id: int, *, now=None) -> RosterImport | None:
    """Run one queued (or stalled) import to its end: check every row, then write CHUNK_ROWS at a time,
    committing each chunk with the progress. Returns the import, or None when another worker has it. Commits.

    A file with a bad row, or a community changed meanwhile, ends `failed` with the errors; so does an unexpected
    error (logged, then raised for the caller to log too).
    """
    if not _claim(import_id, now or utcnow()):
        return None
    job = db.session.get(RosterImport, import_id)
    path = files.imports_folder() / job.stored_as
    try:
        actor, community = db.session.get(User, job.actor_id), db.session.get(Area, job.area_id)
        with roster.collector_paused():
            parsed = roster.parse_roster(job.filename, path.read_bytes())
            roster.plan_roster(community, parsed)  # every row checked before any is written
            transaction.abandon()  # nothing written: the check's reads end here
            total = roster.ImportResult()
            size = queued.CHUNK_ROWS
            for start_at in range(0, len(parsed.rows), size):
                chunk = roster.RosterFile(parsed.filename, parsed.headers, parsed.rows[start_at:start_at + size])
                with transaction.unit():  # the chunk's rows with the progress the page shows
                    _merge(total, roster.write_roster(actor, roster.plan_roster(community, chunk), now=now))
                    job.rows_done, job.heartbeat_at = start_at + len(chunk.rows), now or utcnow()
        ended = {"status": ImportStatus.done, "result": total.as_dict()}
    except DomainError as error:
        transaction.abandon()
        ended = {"status": ImportStatus.failed, "errors": _errors_of(error)}
    except Exception:
        transaction.abandon()
        _end(job, now, status=ImportStatus.failed, errors={
            "code": "roster_import_error", "rows": [],
            "message": str(_l("The import stopped on an unexpected error. Upload the file again."))})
        path.unlink(missing_ok=True)
        raise
    _end(job, now, **ended)
    path.unlink(missing_ok=True)
    return job


def _end(job: RosterImport, now: datetime | None, **outcome) -> None:
    with transaction.unit():
        for name, value in outcome.items():
            setattr(job, name, value)
        job.finished_at = now or utcnow()


def waiting(now: datetime) -> list[int]:
    """The imports to run: queued, or running without a heartbeat for STALE_AFTER (their worker died). A read,
    ended before the imports run."""
    ids = db.session.scalars(select(RosterImport.id).where(_runnable(now)).order_by(RosterImport.id)).all()
    transaction.abandon()
    return ids


def run_pending_imports(now=None) -> tuple[int, list[int]]:
    """The periodic job: run every import still queued, or running without a heartbeat for STALE_AFTER (its
    worker died). Each in its own transactions; one that fails unexpectedly is logged and skipped.

    Returns (imports run, ids of those that failed unexpectedly).
    """
    now = now or utcnow()
    ran, broken = 0, []
    for import_id in waiting(now):
        try:
            ran += run_import(import_id, now=now) is not None
        except Exception:
            log.exception("roster import %s failed", import_id)
            transaction.abandon()
            broken.append(import_id)
    return ran, broken
