"""The production shape: `make serve` with 4 gunicorn workers on one PostgreSQL database, Redis as the shared
rate-limit storage, driven over real HTTP by real threads released together.

The other concurrency tests race threads of one process. Here the racers are separate processes that share nothing
but the database and Redis, as several hosts do: stock, attendance and the sign-in limit must hold all the same.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
import redis
from sqlalchemy import func, select, text

from domain import accounts, events, ledger, market
from models import ApiToken, Area, Attendance, Event, Level, Redemption, Reward, Role, RoleGrant, TxnKind, User, db
from tests.conftest import PASSWORD, PG_URL, _admin_conninfo, make_app, postgres_database, run_threads, together

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("TEST_REDIS_URL")
WORKERS = 4
PEOPLE, STOCK, PRICE, BALANCE = 200, 10, 100, 150
SCANS = 50
#: app.Config.LOGIN_RATE_LIMIT is "10 per minute" per address: more attempts than 4 workers × 10 could let through
#: if each counted on its own.
LOGIN_LIMIT, LOGINS = 10, 50
#: Variables of the caller's shell that would change what `make serve` does or sees (and every SANZHANG_ setting).
FOREIGN_ENV = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "BENCH_ENDPOINTS", "TRUSTED_PROXIES", "FLASK_APP", "FLASK_DEBUG")


# --- preconditions and the scratch database -------------------------------------------------------------------

def _require(ready: bool, reason: str) -> None:
    """Skip with the reason, or fail when TEST_REQUIRE_ALL=1 says nothing may be skipped."""
    if ready:
        return
    if os.environ.get("TEST_REQUIRE_ALL") == "1":
        pytest.fail(f"{reason}, but TEST_REQUIRE_ALL=1 requires the several-workers test")
    pytest.skip(reason)


def _redis_answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


# --- the processes, read from /proc ------------------------------------------------------------------------------

def _children(pid: int) -> list[int]:
    found: list[int] = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in children.read_text().split()]
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _gunicorn_master(root: int) -> int | None:
    """The first gunicorn process under `make` (its shell, which starts the scheduler beside it, sits in between),
    breadth first: the master. The shell's own command line names gunicorn too: the program run is what counts."""
    queue = [root]
    while queue:
        pid = queue.pop(0)
        if pid != root and any(arg.endswith(b"gunicorn") for arg in _cmdline(pid).split(b"\0")[:2]):
            return pid
        queue += _children(pid)
    return None


def _group_alive(group: int) -> list[int]:
    """The processes of a process group that have not exited (zombies excluded)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == group and fields[0] != "Z":
                alive.append(int(stat.parent.name))
    return alive


def _tcp_local_ports() -> dict[str, int]:
    """Socket inode → local port of every TCP connection of this network namespace."""
    ports = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as rows:
            next(rows)
            for row in rows:
                cells = row.split()
                ports[cells[9]] = int(cells[1].rsplit(":", 1)[1], 16)
    return ports


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").glob("*"):
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:["):-1])
    return inodes


def _workers_on_database(workers: list[int], database: str) -> set[int]:
    """The workers holding a connection to `database`: the local ports of their sockets matched against the client
    ports PostgreSQL lists for it. A sync worker opens its pool's connection on its first request that reads the
    database, so this names the workers that served such requests, without code in the app to say so."""
    with psycopg.connect(_admin_conninfo(PG_URL)) as conn:
        clients = {port for (port,) in conn.execute(
            "SELECT client_port FROM pg_stat_activity WHERE datname = %s", (database,))}
    ports = _tcp_local_ports()
    return {pid for pid in workers if clients & {ports.get(inode) for inode in _socket_inodes(pid)}}


# --- `make serve` --------------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _static_answers(port: int) -> bool:
    """A request that touches no database: the workers are up."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/static/css/app.css")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def _await(process: subprocess.Popen, log, what: str, found, limit: float = 120):
    """What `found()` returns once it is truthy; fails with the server's output when make stops or time runs out."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            pytest.fail(f"make serve stopped ({process.returncode}):\n{log.read()[-3000:]}")
        if value := found():
            return value
        time.sleep(0.2)
    log.seek(0)
    pytest.fail(f"make serve: {what} not seen within {limit} s:\n{log.read()[-3000:]}")


def _stop(process: subprocess.Popen, limit: float = 30) -> None:
    """SIGINT to the whole group (make, its shell, the gunicorn master and workers), as Ctrl-C in a terminal sends:
    gunicorn's quick shutdown (SIGTERM's graceful one keeps idle sync workers up to 15 s). SIGKILL to what outlives
    `limit`; returns once none of them runs."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    deadline = time.monotonic() + limit
    while _group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _group_alive(process.pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=limit)


@contextlib.contextmanager
def _make_serve(url: str, secret: str, workers: int = WORKERS, **settings: str):
    """The app started as production starts it: `make serve` (migrations, then gunicorn) with `workers` workers,
    DATABASE_URL, REDIS_URL (when the suite has one), SECRET_KEY and `settings` from the environment. `-o
    translations`: the catalogues were compiled when the suite was installed, and recompiling them now could hand a
    half-written file to a parallel test.

    Yields once migrations are done; `ready()` waits for the workers, so the scene is set while they boot."""
    port = _free_port()
    env = {key: value for key, value in os.environ.items()
           if key not in FOREIGN_ENV and not key.startswith("SANZHANG_")}
    env.update(DATABASE_URL=url, SECRET_KEY=secret, **({"REDIS_URL": REDIS_URL} if REDIS_URL else {}), **settings)
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            ["make", "--no-print-directory", "-o", "translations", "serve", f"WORKERS={workers}", f"PORT={port}"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            # make starts gunicorn once `flask db upgrade` is done: the schema is there, the workers still booting.
            master = _await(process, log, "the gunicorn master", lambda: _gunicorn_master(process.pid))
            yield SimpleNamespace(port=port, master=master, ready=lambda: _await(
                process, log, f"{workers} workers answering",
                lambda: len(_children(master)) == workers and _static_answers(port)))
        finally:
            _stop(process)


# --- requests fired at once ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: dict | None = None
    headers: dict = field(default_factory=dict)
    #: The loopback address to send from, so the app sees a client address of this test's own.
    source: str | None = None


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict
    headers: dict

    @property
    def outcome(self) -> tuple[int, str | None]:
        """The status with the answer's own word for it: `status` of a success, the error code of a refusal."""
        return self.status, self.body.get("status") or self.body.get("error", {}).get("code")


def _send(conn: http.client.HTTPConnection, call: Call) -> Answer:
    body = json.dumps(call.body).encode() if call.body is not None else None
    conn.request(call.method, call.path, body=body, headers={"Content-Type": "application/json", **call.headers})
    response = conn.getresponse()
    raw = response.read()
    return Answer(response.status, json.loads(raw) if raw else {}, dict(response.getheaders()))


def _fire(port: int, calls: list[Call]) -> list[Answer | Exception]:
    """Each call from a thread of its own over a connection of its own, all sent once every connection is open."""
    barrier = together(len(calls))

    def send(i: int) -> Answer:
        call = calls[i]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120,
                                          source_address=(call.source, 0) if call.source else None)
        try:
            conn.connect()
            barrier.wait()
            return _send(conn, call)
        except Exception:
            barrier.abort()  # the others fail at once rather than wait for this one
            raise
        finally:
            conn.close()

    return run_threads(send, len(calls))


def _outcomes(answers) -> Counter:
    return Counter(a.outcome if isinstance(a, Answer) else repr(a) for a in answers)


# --- the community, through the domain ---------------------------------------------------------------------------

def _area(level: Level, parent: Area | None, name: str) -> Area:
    area = Area(level=level, parent=parent, name=name)
    db.session.add(area)
    db.session.flush()
    area.path = f"{parent.path if parent else '/'}{area.id}/"
    return area


def _person(i: int, role: Role, community: Area, password_hash: str | None = None) -> User:
    person = User(name=f"居民{i:03d}", phone=f"1370000{i:04d}", password_hash=password_hash)
    person.grants.append(RoleGrant(role=role, area_id=community.id))
    db.session.add(person)
    db.session.flush()
    return person


def _bearer(person: User) -> dict:
    clear, _token = accounts.issue_token(person)
    return {"Authorization": f"Bearer {clear}"}


def _community(app) -> SimpleNamespace:
    """A community with its staff member and PEOPLE residents, each with BALANCE points and a bearer token, a reward
    of stock STOCK at PRICE, and an event open for check-in now.

    People's ids start at a random number: the scan limit counts per person in Redis, and another run of this test
    within the hour (or at the same time) must not share its counters."""
    with app.app_context():
        db.session.execute(text("SELECT setval(pg_get_serial_sequence('\"user\"', 'id'), :start)"),
                           {"start": 1_000_000 + secrets.randbelow(1_000_000_000)})
        street = _area(Level.street, _area(Level.district, None, "示范区"), "东风街道")
        community = _area(Level.community, street, "银融社区")
        hashed = accounts.hash_password(PASSWORD)  # one hash for everyone: the salt is in it, and hashing is slow
        staff = _person(9999, Role.staff, community, password_hash=hashed)
        people = [_person(i, Role.resident, community, password_hash=hashed if i < LOGINS else None)
                  for i in range(PEOPLE)]
        for person in people:
            ledger.credit(person, community, BALANCE, kind=TxnKind.service, key=f"service:seed:{person.id}")
        reward = market.create_reward(staff, community,
                                      market.RewardForm(name="东北大米 5kg", price=PRICE, stock=STOCK))
        now = datetime.now(UTC)
        event = events.create_event(staff, community, events.EventForm(
            kind="activity", title="楼道清洁", place="1号楼", starts_at=now - timedelta(minutes=10),
            ends_at=now + timedelta(hours=1), category="environment"))
        made = SimpleNamespace(community_id=community.id, staff_id=staff.id, phones=[p.phone for p in people],
                               staff=_bearer(staff), people=[p.id for p in people],
                               tokens=[_bearer(p) for p in people], reward_id=reward.id, event_id=event.id)
        db.session.commit()
        return made


# --- the scenarios -----------------------------------------------------------------------------------------------

def _redeem_200_against_stock_10(app, served, city) -> Counter:
    calls = [Call("POST", "/api/v1/redemptions", {"reward_id": city.reward_id, "quantity": 1},
                  {**token, "Idempotency-Key": f"several-workers-{i}"}) for i, token in enumerate(city.tokens)]
    answers = _fire(served.port, calls)
    outcomes = _outcomes(answers)
    assert outcomes == {(201, "reserved"): STOCK, (422, "out_of_stock"): PEOPLE - STOCK}, outcomes
    winners = {a.body["person_id"] for a in answers if a.status == 201}
    with app.app_context():
        community = db.session.get(Area, city.community_id)
        assert db.session.get(Reward, city.reward_id).stock == 0
        assert set(db.session.scalars(select(Redemption.person_id))) == winners and len(winners) == STOCK
        balances = {pid: market.balance(db.session.get(User, pid), community) for pid in city.people}
        assert balances == {pid: BALANCE - PRICE if pid in winners else BALANCE for pid in city.people}
        assert ledger.verify() == []
        assert market.verify() == []
    return outcomes


def _scan_one_code_50_times(app, served, city) -> tuple[Counter, Counter]:
    """One person sends the event's code SCANS times at once while staff scan another person's own code SCANS times
    at once: one attendance each, the rest answered as already checked in."""
    checker, scanned = city.people[0], city.people[1]
    with app.app_context():
        event_code = events.event_code(db.session.get(Event, city.event_id)).token
        personal_code = events.personal_code(db.session.get(User, scanned)).token
    answers = _fire(served.port, [Call("POST", "/api/v1/checkins", {"token": event_code}, city.tokens[0])] * SCANS
                    + [Call("POST", f"/api/v1/events/{city.event_id}/scans", {"token": personal_code},
                            city.staff)] * SCANS)
    once = {(201, "checked_in"): 1, (200, "already_checked_in"): SCANS - 1}
    checkins, scans = _outcomes(answers[:SCANS]), _outcomes(answers[SCANS:])
    assert checkins == once, checkins
    assert scans == once, scans
    with app.app_context():
        rows = db.session.execute(select(Attendance.person_id, func.count()).where(
            Attendance.event_id == city.event_id).group_by(Attendance.person_id)).all()
        assert sorted(rows) == sorted([(checker, 1), (scanned, 1)])
        assert db.session.get(Event, city.event_id).attendees == 2
        assert ledger.verify() == []
    return checkins, scans


def _sign_in_from_one_address(app, served, city, source: str) -> Counter:
    """LOGINS token requests at once from one client address, each by another person (one person's own budget is
    tested in test_rate_limits.py): the workers count them in one Redis counter, so exactly LOGIN_LIMIT get a
    token."""
    answers = _fire(served.port, [Call("POST", "/api/v1/auth/token", {"phone": phone, "password": PASSWORD},
                                       source=source) for phone in city.phones[:LOGINS]])
    outcomes = _outcomes(answers)
    assert outcomes == {(200, None): LOGIN_LIMIT, (429, "too_many_requests"): LOGINS - LOGIN_LIMIT}, outcomes
    assert all(int(a.headers["Retry-After"]) > 0 for a in answers if a.status == 429)
    with app.app_context():
        issued = db.session.scalar(select(func.count()).select_from(ApiToken).where(
            ApiToken.user_id.in_(city.people[:LOGINS])))
        assert issued == LOGINS + LOGIN_LIMIT  # the ones made for the scenarios, and the ones just won
    return outcomes


def _forget_counters(client: redis.Redis, keys: list[str]) -> None:
    """Remove this test's counters (its address, its people) and no one else's: the Redis database is shared."""
    for pattern in keys:
        for key in client.scan_iter(match=f"*/{pattern}/*"):
            client.delete(key)


def test_four_workers_on_one_postgresql_and_redis_keep_stock_attendance_and_limits(capsys):
    """One test, one server: under pytest-xdist separate tests could land on different workers and start a server
    each. The scenarios run in turn against the same `make serve`; the figures are printed at the end."""
    _require(bool(PG_URL), "TEST_DATABASE_URL not set: the several-workers test needs a PostgreSQL server")
    _require(bool(REDIS_URL), "TEST_REDIS_URL not set (e.g. redis://127.0.0.1:6379/15): the several-workers test "
                              "needs Redis as the shared rate-limit storage")
    _require(_redis_answers(REDIS_URL), f"Redis at {REDIS_URL} does not answer")
    started = time.monotonic()
    secret = secrets.token_hex(32)
    source = f"127.{1 + secrets.randbelow(254)}.{secrets.randbelow(256)}.{1 + secrets.randbelow(254)}"
    counters, forget = redis.Redis.from_url(REDIS_URL), [source]
    with postgres_database(f"workers_{uuid.uuid4().hex[:8]}") as (url, name), _make_serve(url, secret) as served:
        migrated = time.monotonic() - started
        # The test's own app on the same database and secret: it sets the scene and signs the codes.
        app = make_app(url, SECRET_KEY=secret)
        try:
            city = _community(app)
            forget += [f"user:{city.people[0]}", f"user:{city.staff_id}"]
            set_up = time.monotonic() - started - migrated
            served.ready()
            workers = _children(served.master)
            assert len(workers) == WORKERS
            redeemed = _redeem_200_against_stock_10(app, served, city)
            checkins, scans = _scan_one_code_50_times(app, served, city)
            serving = _workers_on_database(workers, name)
            assert len(serving) > 1, f"only workers {serving} of {workers} served the database"
            signed_in = _sign_in_from_one_address(app, served, city, source)
            kept = list(counters.scan_iter(match=f"*/{source}/*"))
            assert len(kept) == 1, f"the sign-in counter is not in Redis: {kept}"
            assert int(counters.get(kept[0])) == LOGINS  # every worker counted every sign-in in the one counter
        finally:
            _forget_counters(counters, forget)
            counters.close()
            with app.app_context():
                db.engine.dispose()
    with capsys.disabled():
        print(f"\n{WORKERS} workers, {len(serving)} of them on the database; redemptions {dict(redeemed)}; "
              f"check-ins {dict(checkins)}; scans {dict(scans)}; sign-ins {dict(signed_in)}; "
              f"migrated in {migrated:.1f} s, scene set in {set_up:.1f} s while the workers booted, "
              f"{time.monotonic() - started:.1f} s in all")
