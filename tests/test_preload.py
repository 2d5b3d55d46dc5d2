"""gunicorn with `preload_app` (gunicorn.conf.py, as `make serve` runs it): the app is loaded once in the master and
the workers are forked from it, so nothing the master opened may be shared by two processes.

A forked process starts with an empty database pool and leaves its parent's connections open (models.base.fork_safe);
two workers forked from one master write side by side on the real database and every write lands once.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from app import TestConfig
from domain import accounts, events, ledger
from models import Area, Attendance, Event, Level, Role, RoleGrant, User, db
from tests.conftest import run_threads, together
from tests.test_several_workers import FOREIGN_ENV, ROOT, _children, _free_port, _static_answers, _stop

GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
PEOPLE = 24


def _backend_id() -> str:
    """Which connection this is, as the database sees it (PostgreSQL's backend pid; SQLite: the driver object's id)."""
    if db.engine.dialect.name == "postgresql":
        return str(db.session.scalar(text("SELECT pg_backend_pid()")))
    return str(id(db.session.connection().connection.dbapi_connection))


def test_a_forked_process_opens_its_own_connection_and_leaves_the_parents_open(app):
    with app.app_context():
        db.session.remove()
        db.engine.dispose()  # one connection in the pool, the parent's (the fixtures' reads may have left two)
        parent = _backend_id()
        db.session.remove()  # the connection goes back to the pool, where a child would find it
        assert db.engine.pool.checkedin() == 1
        read, write = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover - the child reports through the pipe and never returns to pytest
            try:
                report = {"pooled": db.engine.pool.checkedin(), "connection": _backend_id()}
                db.session.remove()
            except BaseException as error:  # noqa: BLE001 - whatever happened goes to the parent
                report = {"error": repr(error)}
            os.write(write, json.dumps(report).encode())
            os._exit(0)
        os.close(write)
        _pid, status = os.waitpid(child, 0)
        with os.fdopen(read) as answer:
            report = json.loads(answer.read())
        assert os.waitstatus_to_exitcode(status) == 0 and "error" not in report, report
        assert report["pooled"] == 0
        assert report["connection"] != parent
        # The child did not close the parent's connection on its way out: the parent still talks over it.
        assert _backend_id() == parent
        assert db.session.scalar(text("SELECT 1")) == 1


def _people(app) -> tuple[int, list[dict]]:
    """An event open now in community A and PEOPLE residents with bearer tokens: (its id, their headers)."""
    with app.app_context():
        district = Area(level=Level.district, name="示范区")
        db.session.add(district)
        db.session.flush()
        district.path = f"/{district.id}/"
        community = Area(level=Level.community, name="银融社区", parent=district)
        db.session.add(community)
        db.session.flush()
        community.path = f"{district.path}{community.id}/"
        staff = User(name="社区干部", phone="13800000001")
        staff.grants.append(RoleGrant(role=Role.staff, area_id=community.id))
        people = [User(name=f"居民{i}", phone=f"1370000{i:04d}") for i in range(PEOPLE)]
        for person in people:
            person.grants.append(RoleGrant(role=Role.resident, area_id=community.id))
        db.session.add_all([staff, *people])
        db.session.flush()
        now = datetime.now(UTC)
        event = events.create_event(staff, community, events.EventForm(
            kind="activity", title="楼道清洁", place="1号楼", starts_at=now - timedelta(minutes=10),
            ends_at=now + timedelta(hours=1), category="environment"))
        headers = [{"Authorization": f"Bearer {accounts.issue_token(person)[0]}", "Content-Type": "application/json"}
                   for person in people]
        code = events.event_code(event).token
        db.session.commit()
        return event.id, [{**h, "body": json.dumps({"token": code})} for h in headers]


@contextlib.contextmanager
def _gunicorn(url: str, log: Path):
    """gunicorn as `make serve` starts it (gunicorn.conf.py: preload), 2 workers, each request's worker pid in
    `log` (and gunicorn's own messages in `log`.err)."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in (*FOREIGN_ENV, "REDIS_URL", "ACCESS_LOG")
           and not k.startswith("SANZHANG_")}
    env.update(DATABASE_URL=url, SECRET_KEY=TestConfig.SECRET_KEY)
    with open(f"{log}.err", "w") as errors:
        process = subprocess.Popen(
            [GUNICORN, "--no-control-socket", "--workers", "2", "--bind", f"127.0.0.1:{port}",
             "--access-logfile", str(log), "--access-logformat", "%(p)s %(s)s %(U)s", "app:create_app()"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=errors, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while len(_children(process.pid)) < 2 or not _static_answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not start: {Path(f'{log}.err').read_text()[-3000:]}")
            time.sleep(0.1)
        yield port, process.pid
    finally:
        _stop(process)


def test_two_preloaded_workers_write_side_by_side_and_every_write_lands_once(app, tmp_path):
    event_id, calls = _people(app)
    log = tmp_path / "access.log"
    with _gunicorn(app.config["SQLALCHEMY_DATABASE_URI"], log) as (port, master):
        # The master loaded the app (the ORM's compiled parts are mapped in it) before forking the workers.
        assert "sqlalchemy" in Path(f"/proc/{master}/maps").read_text()
        workers = set(_children(master))
        barrier = together(PEOPLE)

        def check_in(i: int) -> tuple[int, str]:
            call = dict(calls[i])
            body = call.pop("body")
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            try:
                conn.connect()
                barrier.wait()
                conn.request("POST", "/api/v1/checkins", body=body, headers=call)
                response = conn.getresponse()
                return response.status, json.loads(response.read()).get("status")
            finally:
                conn.close()

        answers = run_threads(check_in, PEOPLE)
    assert answers == [(201, "checked_in")] * PEOPLE, answers
    served = {int(pid) for pid, status in re.findall(r"^<(\d+)> (\d+) /api/v1/checkins$", log.read_text(), re.M)
              if status == "201"}
    assert served == workers and len(served) == 2, (served, workers)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Attendance).where(
            Attendance.event_id == event_id)) == PEOPLE
        assert db.session.get(Event, event_id).attendees == PEOPLE
        assert ledger.verify() == []


def test_the_memory_bench_reads_a_process_private_memory_within_its_pss_within_its_rss():
    from bench import memory

    measured = memory.process_mb(os.getpid())
    assert 0 < measured["private"] <= measured["pss"] <= measured["rss"]
