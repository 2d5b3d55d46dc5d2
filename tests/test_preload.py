"""gunicorn with `preload_app` (gunicorn.conf.py, as `make serve` runs it): the app is loaded once in the master and
the workers are forked from it, so nothing the master opened may be shared by two processes.

A forked process starts with an empty database pool and leaves its parent's connections open (models.base.fork_safe);
the master's warm-up before the first fork (app.share_before_fork) writes nothing, counts against no rate limit,
closes every connection it opened and, with the database out of reach, says so in one line and lets gunicorn serve;
two workers forked from the warmed master write side by side on the real database and every write lands once.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import func, make_url, select, text

from app import TestConfig, share_before_fork
from blueprints.ext import limiter
from domain import accounts, events, ledger
from models import Area, Attendance, Event, Level, Role, RoleGrant, User, db
from tests.conftest import make_app, run_threads, sent_statements, together
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


def _rows(app) -> dict[str, int]:
    """How many rows each of the app's tables holds."""
    with app.app_context():
        counts = {table.name: db.session.scalar(select(func.count()).select_from(table))
                  for table in db.metadata.sorted_tables}
        db.session.remove()
    return counts


def _sessions_named(url: str, name: str) -> int:
    """How many connections PostgreSQL has open under the application name `name`, seen from a connection of its
    own."""
    with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (name,)).fetchone()[0]


def test_the_masters_warm_up_writes_nothing_counts_against_nobody_and_keeps_no_connection(app, caplog):
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    name = f"warm-up-{uuid.uuid4().hex[:12]}"
    options = {"connect_args": {"application_name": name}} if url.startswith("postgresql") else {}
    # As the master has it: rate limits counted (in memory here, where they can be read back).
    master = make_app(url, RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://",
                      SQLALCHEMY_ENGINE_OPTIONS={**TestConfig.SQLALCHEMY_ENGINE_OPTIONS, **options})
    try:
        before = _rows(app)
        with sent_statements(master) as sent:
            share_before_fork(master)
        assert not [r for r in caplog.records if r.name == "app"], caplog.text  # it ran, nothing skipped
        assert any("FROM api_token" in statement for statement in sent), sent  # the token read, at least once
        # Reads only, in read transactions (SQLite: a plain BEGIN, never BEGIN IMMEDIATE and the writers' queue).
        assert all(statement.startswith("SELECT") or statement == "BEGIN" for statement in sent), sent
        assert limiter.storage.storage == {}  # nobody's counter moved
        with master.app_context():
            assert (db.engine.pool.checkedout(), db.engine.pool.checkedin()) == (0, 0)
        if options:  # closed, not merely forgotten by the pool: the server sees none of its connections
            assert _sessions_named(url, name) == 0
        assert _rows(app) == before
    finally:
        limiter.init_app(app)  # the limiter's switch back to the test app's (conftest's `app`)


def test_the_warm_up_without_a_database_says_so_in_one_line_and_does_not_raise(backend_url, app, caplog):
    unreachable = (str(make_url(backend_url).set(port=1)) if backend_url.startswith("postgresql")
                   else "sqlite:////nonexistent-folder/warm-up.db")
    master = make_app(unreachable)
    try:
        share_before_fork(master)
    finally:
        limiter.init_app(app)
    lines = [r.getMessage() for r in caplog.records if r.name == "app"]
    assert len(lines) == 1 and lines[0].startswith("Warm-up before forking the workers skipped"), lines
    with master.app_context():
        assert (db.engine.pool.checkedout(), db.engine.pool.checkedin()) == (0, 0)


def _database_handles(pid: int, url: str) -> int:
    """How many connections to the database of `url` the process `pid` holds open: SQLite, files of the database
    (the database, its -wal and -shm); PostgreSQL, TCP sockets to the server's port."""
    fds = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            fds.append(os.readlink(fd))
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return sum(target.startswith(parsed.database) for target in fds)
    sockets = {target[len("socket:["):-1] for target in fds if target.startswith("socket:[")}
    port = f"{parsed.port or 5432:04X}"
    held = 0
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            held += fields[2].endswith(f":{port}") and fields[9] in sockets
    return held


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
        url = app.config["SQLALCHEMY_DATABASE_URI"]
        # The master was warmed (its requests read the database) and forked holding no connection; the workers
        # hold theirs (and so show that one would be seen).
        assert _database_handles(master, url) == 0
        assert all(_database_handles(worker, url) > 0 for worker in workers)
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
