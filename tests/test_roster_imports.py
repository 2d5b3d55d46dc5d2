"""Roster imports too large for one request (issue 17): queued, run in the background chunk by chunk with their
progress, all or nothing as to bad rows, taken up again by the periodic job when their worker died."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from domain import roster, roster_imports
from domain.errors import NotFound
from domain.jobs import roster_imports as running_imports
from models import Area, AuditEvent, ImportStatus, RosterImport, User, db, files, utcnow
from tests.test_roster import GOOD, _row, csv_bytes, person, post_roster, sign_in, table_counts

#: What importing GOOD at once into community A gives (tests/test_roster.py).
GOOD_RESULT = {"rows": 7, "grids_created": 1, "buildings_created": 1, "units_created": 1, "households_created": 2,
               "households_updated": 0, "people_created": 6, "people_moved": 0, "roles_granted": 4,
               "heads_appointed": 3, "heads_replaced": 0, "rows_unchanged": 0}


@pytest.fixture
def small_chunks(monkeypatch, app, tmp_path):
    """Files of more than 3 rows go to the background, written 2 rows at a time; uploads kept in the test's own
    instance folder."""
    monkeypatch.setattr(roster_imports, "SYNC_ROWS", 3)
    monkeypatch.setattr(roster_imports, "CHUNK_ROWS", 2)
    monkeypatch.setattr(files, "imports_folder", lambda: tmp_path)
    return tmp_path


def queue(tree, rows, now=None) -> RosterImport:
    community = db.session.get(Area, tree.a.community.id)
    job = roster_imports.start(db.session.get(User, tree.staff_a.id), community, "roster.csv", csv_bytes(rows),
                               now=now)
    db.session.commit()
    return job


def test_a_small_file_is_still_imported_at_once(dbs, tree, small_chunks):
    result = queue(tree, GOOD[:3])
    assert isinstance(result, roster.ImportResult) and result.rows == 3
    assert db.session.scalar(select(func.count()).select_from(RosterImport)) == 0


def test_a_large_file_is_queued_then_written_in_chunks_to_the_same_result(dbs, tree, small_chunks):
    job = queue(tree, GOOD)
    assert (job.status, job.rows_total, job.rows_done) == (ImportStatus.queued, 7, 0)
    assert person("13911110001") is None  # nothing written yet
    assert [p.name for p in small_chunks.iterdir()] == [job.stored_as]

    done = running_imports.run_import(job.id)
    assert (done.status, done.rows_done, done.rows_total) == (ImportStatus.done, 7, 7)
    assert done.result == GOOD_RESULT
    assert person("13911110006").household_id == tree.a.household.id
    assert list(small_chunks.iterdir()) == []  # the stored upload is gone
    assert running_imports.run_import(job.id) is None  # over: nobody runs it again
    # One audit event per chunk written, each with its counts.
    audits = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "roster.import")).all()
    assert len(audits) == 4 and sum(a.after["rows"] for a in audits) == 7


def test_a_large_file_with_a_bad_row_writes_nothing_and_keeps_every_row_error(app, dbs, tree, small_chunks):
    rows = [*GOOD, _row(phone="010-12345678", name="坏号码"), _row(name="", phone="13911114002")]
    job = queue(tree, rows)
    before = table_counts(app)
    done = running_imports.run_import(job.id)
    assert done.status == ImportStatus.failed
    assert done.errors["code"] == "roster_invalid"
    assert {(p["row"], p["key"]) for p in done.errors["rows"]} == {(9, "phone"), (10, "name")}
    assert all(isinstance(p["message"], str) and p["message"] for p in done.errors["rows"])
    counts = table_counts(app)
    assert {k: v for k, v in counts.items() if k != "roster_import"} == \
        {k: v for k, v in before.items() if k != "roster_import"}
    assert person("13911110001") is None


def test_the_periodic_job_takes_up_queued_and_stalled_imports_only(dbs, tree, small_chunks):
    now = utcnow()
    queued = queue(tree, GOOD, now=now)
    stalled = queue(tree, GOOD, now=now)
    alive = queue(tree, GOOD, now=now)
    stalled.status, stalled.heartbeat_at, stalled.rows_done = ImportStatus.running, now - timedelta(minutes=6), 2
    alive.status, alive.heartbeat_at = ImportStatus.running, now - timedelta(seconds=30)
    db.session.commit()
    ran, broken = running_imports.run_pending_imports(now=now)
    assert (ran, broken) == (2, [])
    db.session.expire_all()
    assert db.session.get(RosterImport, queued.id).status == ImportStatus.done
    again = db.session.get(RosterImport, stalled.id)  # from the start: what the first run wrote is unchanged
    assert (again.status, again.rows_done, again.result["rows_unchanged"]) == (ImportStatus.done, 7, 7)
    assert db.session.get(RosterImport, alive.id).status == ImportStatus.running  # its worker is alive
    assert running_imports.run_pending_imports(now=now) == (0, [])


def test_an_import_is_seen_only_by_who_may_import_into_its_community(dbs, tree, small_chunks):
    job = queue(tree, GOOD)
    community = db.session.get(Area, tree.a.community.id)
    assert roster_imports.visible_import(db.session.get(User, tree.staff_a.id), community, job.id) is job
    for who in (tree.staff_b, tree.volunteer_a):
        with pytest.raises(NotFound):
            roster_imports.visible_import(db.session.get(User, who.id), community, job.id)
    with pytest.raises(NotFound):
        roster_imports.visible_import(db.session.get(User, tree.staff_b.id),
                                      db.session.get(Area, tree.b.community.id), job.id)


def test_the_page_runs_a_large_file_in_the_background_with_a_progress_bar(app, client, tree, small_chunks):
    sign_in(client, tree.staff_a)
    response = post_roster(client, tree.a.community, csv_bytes(GOOD))
    assert response.status_code == 303
    page = response.headers["Location"]
    status_url = f"{page}.json"
    for _ in range(200):  # the worker's thread, polled as the page's script does
        status = client.get(status_url).json
        assert status["rows_total"] == 7 and 0 <= status["rows_done"] <= 7
        if status["status"] in ("done", "failed"):
            break
        time.sleep(0.05)
    assert (status["status"], status["rows_done"], status["result"]) == ("done", 7, GOOD_RESULT)
    shown = client.get(page)
    assert 'data-testid="import-result"' in shown.text and "The roster is imported." in shown.text
    assert "<progress" not in shown.text
    other = app.test_client()
    sign_in(other, tree.staff_b)
    assert other.get(status_url).status_code == 404


def test_the_progress_page_says_how_far_in_words_and_with_a_bar(app, client, tree, small_chunks):
    with app.app_context():
        job = queue(tree, GOOD)
        job.status, job.rows_done, job.heartbeat_at = ImportStatus.running, 4, utcnow()
        db.session.commit()
        url = f"/areas/{tree.a.community.id}/roster/imports/{job.id}"
    sign_in(client, tree.staff_a)
    shown = client.get(url).text
    assert '<progress id="import-bar" max="7" value="4"' in shown
    assert 'role="status"' in shown and "4 of 7 rows imported." in shown
    assert "js/roster-progress.js" in shown
    assert client.get(f"{url}.json").json == {"id": job.id, "status": "running", "rows_total": 7, "rows_done": 4,
                                              "result": None, "errors": None}


def test_a_failed_background_import_shows_every_row_to_correct(app, client, tree, small_chunks):
    sign_in(client, tree.staff_a)
    with app.app_context():
        job = queue(tree, [*GOOD, _row(phone="010-12345678", name="坏号码")])
        running_imports.run_import(job.id)
        url = f"/areas/{tree.a.community.id}/roster/imports/{job.id}"
    shown = client.get(url)
    assert shown.status_code == 200
    assert 'data-testid="import-refused"' in shown.text and 'data-testid="problems"' in shown.text
    assert "<td>9</td>" in shown.text
