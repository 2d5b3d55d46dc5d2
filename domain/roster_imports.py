"""Roster imports too large for one request: stored, then run in the background with their progress recorded.

A file of up to SYNC_ROWS rows is imported inside the request, as before (domain.roster.import_roster). A larger one
kept a worker past its time-out, so `start` stores the upload under the instance folder with a RosterImport row
(queued) and the page starts `run_import` in a thread of the worker once that row is committed; the page then polls
the row's progress. The periodic job `run_pending_imports` takes up what no thread did: imports still queued (the
worker died before starting the thread) and running ones whose heartbeat stopped (the worker died mid-way).

All or nothing as far as the rows go: every row is checked against the file and the community first, and a file
with a bad row writes nothing and reports every row, as a small file does. Then the rows are written CHUNK_ROWS at a
time, each chunk checked again against what the chunks before it wrote and committed with the progress, so the
page sees it move. An import taken up again runs from the start: importing a file again changes nothing that was
already written.

`run_import` and `run_pending_imports` are jobs: they commit (per chunk), as the other periodic jobs do.
"""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import fields
from datetime import datetime, timedelta
from pathlib import Path

from flask import Flask, current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, or_, select, update

from domain import roster
from domain.errors import DomainError, NotFound
from models import Area, ImportStatus, RosterImport, User, db, utcnow

log = logging.getLogger(__name__)

#: Files of more rows than this are imported in the background (a 2,000-row import takes ~1 s on this machine kind).
SYNC_ROWS = 2000
#: Rows written and committed at a time: the progress moves at least every few seconds.
CHUNK_ROWS = 1000
#: A running import silent for this long lost its worker: the periodic job takes it up again.
STALE_AFTER = timedelta(minutes=5)
#: Row problems kept with a failed import (the page lists 500).
KEPT_PROBLEMS = 1000


def folder() -> Path:
    path = Path(current_app.instance_path) / "roster-imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def start(actor: User, community: Area, filename: str, data: bytes, *, now=None) -> roster.ImportResult | RosterImport:
    """Import a small file at once (ImportResult) or queue a large one (a RosterImport to start with
    `run_in_background` once committed). Flushes.

    Raises what domain.roster.import_roster raises; for a queued file only what reading it raises (parse_roster),
    its rows being checked in the background.
    """
    roster.check_target(actor, community)
    with roster.collector_paused():
        parsed = roster.parse_roster(filename, data)
        if len(parsed.rows) <= SYNC_ROWS:
            return roster.write_roster(actor, roster.plan_roster(community, parsed), now=now)
    stored_as = f"{secrets.token_hex(16)}.{filename.rsplit('.', 1)[-1].lower()}"
    (folder() / stored_as).write_bytes(data)
    job = RosterImport(area_id=community.id, actor_id=actor.id, filename=filename[:255], stored_as=stored_as,
                       status=ImportStatus.queued, rows_total=len(parsed.rows), rows_done=0,
                       created_at=now or utcnow())
    db.session.add(job)
    db.session.flush()
    return job


def visible_import(actor: User, community: Area, import_id: int) -> RosterImport:
    """The import `import_id` into `community`, for someone who may import there. Raises NotFound."""
    roster.check_target(actor, community)
    job = db.session.get(RosterImport, import_id)
    if job is None or job.area_id != community.id:
        raise NotFound("not_found", _l("There is no such import."))
    return job


def status_of(job: RosterImport) -> dict:
    """What the page polls: status, rows total and done, and once over the result or the errors."""
    return {"id": job.id, "status": job.status.value, "rows_total": job.rows_total, "rows_done": job.rows_done,
            "result": job.result, "errors": job.errors}


def result_of(job: RosterImport) -> roster.ImportResult | None:
    return roster.ImportResult(**job.result) if job.result is not None else None


# --- running: jobs, they commit -----------------------------------------------------------------------------------


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
    taken = db.session.execute(
        update(RosterImport)
        .where(RosterImport.id == import_id, _runnable(now))
        .values(status=ImportStatus.running, rows_done=0, heartbeat_at=now)
        .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return taken == 1


def _runnable(now: datetime):
    return or_(RosterImport.status == ImportStatus.queued,
               and_(RosterImport.status == ImportStatus.running, RosterImport.heartbeat_at < now - STALE_AFTER))


def _errors_of(error: DomainError) -> dict:
    problems = (error.fields or {}).get("rows", [])
    return {"code": error.code, "message": str(error.message), "problems_total": len(problems),
            "rows": [{**p, "message": str(p["message"])} for p in problems[:KEPT_PROBLEMS]]}


def _merge(total: roster.ImportResult, part: roster.ImportResult) -> None:
    for each in fields(total):
        setattr(total, each.name, getattr(total, each.name) + getattr(part, each.name))


def run_import(import_id: int, *, now=None) -> RosterImport | None:
    """Run one queued (or stalled) import to its end: check every row, then write CHUNK_ROWS at a time, committing
    each chunk with the progress. Returns the import, or None when another worker has it. Commits.

    A file with a bad row, or a community changed meanwhile, ends `failed` with the errors; so does an unexpected
    error (logged, then raised for the caller to log too).
    """
    if not _claim(import_id, now or utcnow()):
        return None
    job = db.session.get(RosterImport, import_id)
    path = folder() / job.stored_as
    try:
        actor, community = db.session.get(User, job.actor_id), db.session.get(Area, job.area_id)
        with roster.collector_paused():
            parsed = roster.parse_roster(job.filename, path.read_bytes())
            roster.plan_roster(community, parsed)  # every row checked before any is written
            db.session.rollback()  # nothing written: the check's reads end here
            total = roster.ImportResult()
            for start_at in range(0, len(parsed.rows), CHUNK_ROWS):
                chunk = roster.RosterFile(parsed.filename, parsed.headers, parsed.rows[start_at:start_at + CHUNK_ROWS])
                _merge(total, roster.write_roster(actor, roster.plan_roster(community, chunk), now=now))
                job.rows_done, job.heartbeat_at = start_at + len(chunk.rows), now or utcnow()
                db.session.commit()
        job.status, job.result, job.finished_at = ImportStatus.done, total.as_dict(), now or utcnow()
    except DomainError as error:
        db.session.rollback()
        job.status, job.errors, job.finished_at = ImportStatus.failed, _errors_of(error), now or utcnow()
    except Exception:
        db.session.rollback()
        job.status, job.finished_at = ImportStatus.failed, now or utcnow()
        job.errors = {"code": "roster_import_error", "message": str(_l("The import stopped on an unexpected error. "
                                                                       "Upload the file again.")), "rows": []}
        db.session.commit()
        path.unlink(missing_ok=True)
        raise
    db.session.commit()
    path.unlink(missing_ok=True)
    return job


def waiting(now: datetime) -> list[int]:
    """The imports to run: queued, or running without a heartbeat for STALE_AFTER (their worker died). A read,
    ended before the imports run."""
    ids = db.session.scalars(select(RosterImport.id).where(_runnable(now)).order_by(RosterImport.id)).all()
    db.session.rollback()
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
            db.session.rollback()
            broken.append(import_id)
    return ran, broken
