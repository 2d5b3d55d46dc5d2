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

Running an import commits (per chunk), so it lives with the periodic jobs: domain/jobs/roster_imports.py.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from flask_babel import lazy_gettext as _l

from domain import roster
from domain.access import get_visible
from domain.errors import NotFound
from models import Area, ImportStatus, RosterImport, User, db, files, utcnow

log = logging.getLogger(__name__)

#: Files of more rows than this are imported in the background (a 2,000-row import takes ~1 s on this machine kind).
SYNC_ROWS = 2000
#: Rows written and committed at a time: the progress moves at least every few seconds.
CHUNK_ROWS = 1000
#: A running import silent for this long lost its worker: the periodic job takes it up again.
STALE_AFTER = timedelta(minutes=5)
#: Row problems kept with a failed import (the page lists 500).
KEPT_PROBLEMS = 1000


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
    (files.imports_folder() / stored_as).write_bytes(data)
    job = RosterImport(area_id=community.id, actor_id=actor.id, filename=filename[:255], stored_as=stored_as,
                       status=ImportStatus.queued, rows_total=len(parsed.rows), rows_done=0,
                       created_at=now or utcnow())
    db.session.add(job)
    db.session.flush()
    return job


def visible_import(actor: User, community: Area, import_id: int) -> RosterImport:
    """The import `import_id` into `community`, for someone who may import there. Raises NotFound."""
    roster.check_target(actor, community)
    try:
        job = get_visible(RosterImport, import_id, actor, "roster_import.view")
    except NotFound:
        job = None
    if job is None or job.area_id != community.id:
        raise NotFound("not_found", _l("There is no such import."))
    return job


def status_of(job: RosterImport) -> dict:
    """What the page polls: status, rows total and done, and once over the result or the errors."""
    return {"id": job.id, "status": job.status.value, "rows_total": job.rows_total, "rows_done": job.rows_done,
            "result": job.result, "errors": job.errors}


def result_of(job: RosterImport) -> roster.ImportResult | None:
    return roster.ImportResult(**job.result) if job.result is not None else None
