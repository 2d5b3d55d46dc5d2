"""SQLite under real concurrency: 64 connections at once check in, redeem and read, and none of them ever sees
"database is locked"; commits are durable (synchronous=FULL, WAL).

Writers wait their turn in the writers' queue (models/sqlite.py) and take the write lock up front (BEGIN IMMEDIATE);
a request's reads before its writes (who the bearer token is, the event) run in a deferred transaction of their own
(models.transaction.reads_apart); pure reads never take the lock. A write that upgraded a read transaction would fail at
once under this load.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from flask_migrate import upgrade
from sqlalchemy import event, func, select, text

from bench import common
from domain import accounts, events, ledger
from models import Reward, Role, RoleGrant, User, db
from models.events import Attendance
from models.ledger import TxnKind
from models.market import Redemption
from models.transaction import reads_apart
from tests.conftest import PASSWORD, make_app, run_threads, together

CONNECTIONS = 64
ROUNDS = 3
STOCK = 10_000


@pytest.fixture
def crowd(tmp_path):
    """A SQLite file app with a pool of 64 connections; a community with 64 volunteers holding points and API
    tokens, ROUNDS open events and a reward with a deep stock."""
    app = make_app(f"sqlite:///{tmp_path / 'crowd.db'}",
                   SQLALCHEMY_ENGINE_OPTIONS={"pool_size": CONNECTIONS, "max_overflow": 0, "pool_timeout": 60})
    with app.app_context():
        upgrade()
        community, staff = common.seed_community()
        now = datetime.now(UTC)
        password = accounts.hash_password(PASSWORD)
        people = [User(name=f"志愿者{i}", phone=f"1370001{i:04d}", password_hash=password, active=True)
                  for i in range(CONNECTIONS)]
        db.session.add_all(people)
        db.session.flush()
        db.session.add_all(RoleGrant(user_id=p.id, role=Role.volunteer, area_id=community.id) for p in people)
        for person in people:
            ledger.credit(person, community, 100, kind=TxnKind.service, key=f"service:{person.id}")
        tokens = [accounts.issue_token(person)[0] for person in people]
        opened = [events.create_event(staff, community, events.EventForm(
            kind="activity", title=f"活动{n}", place="活动室", starts_at=now - timedelta(minutes=5),
            ends_at=now + timedelta(hours=1), category="other")) for n in range(ROUNDS)]
        reward = Reward(community_id=community.id, name="环保袋", category="goods", price=1, initial_stock=STOCK,
                        stock=STOCK, active=True, created_by_id=staff.id, created_at=now)
        db.session.add(reward)
        db.session.commit()
        codes = [events.event_code(event).token for event in opened]
        yield app, tokens, codes, reward.id, [p.phone for p in people]
        db.session.remove()
        db.engine.dispose()


def test_64_connections_write_and_read_at_once_without_database_is_locked(crowd):
    app, tokens, codes, reward_id, _phones = crowd
    barrier = together(CONNECTIONS)

    def visit(i: int) -> list[tuple[str, int, str]]:
        client = app.test_client()
        headers = {"Authorization": f"Bearer {tokens[i]}"}
        barrier.wait()
        answers = []
        for n, code in enumerate(codes):
            for kind, response in (
                    ("checkin", client.post("/api/v1/checkins", json={"token": code}, headers=headers)),
                    ("me", client.get("/api/v1/me", headers=headers)),
                    ("redeem", client.post("/api/v1/redemptions", json={"reward_id": reward_id, "quantity": 1},
                                           headers={**headers, "Idempotency-Key": f"{i}-{n}"})),
                    ("board", client.get("/api/v1/leaderboards", headers=headers))):
                answers.append((kind, response.status_code, response.get_data(as_text=True)[:200]))
        return answers

    # Each person's requests from a thread of its own, with no app context of the test's: a request then opens and
    # ends its own (the fixture's context would give every thread one session outliving its requests).
    visits = run_threads(visit, CONNECTIONS)
    crashed = [v for v in visits if isinstance(v, BaseException)]
    assert not crashed, crashed[:3]
    answers = [answer for v in visits for answer in v]
    failures = [a for a in answers if a[1] not in (200, 201)]
    assert not failures, failures[:5]
    assert not [a for a in answers if "locked" in a[2]]
    assert Counter((kind, status) for kind, status, _ in answers) == {
        ("checkin", 201): CONNECTIONS * ROUNDS, ("redeem", 201): CONNECTIONS * ROUNDS,
        ("me", 200): CONNECTIONS * ROUNDS, ("board", 200): CONNECTIONS * ROUNDS}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Attendance)) == CONNECTIONS * ROUNDS
        assert db.session.scalar(select(func.count()).select_from(Redemption)) == CONNECTIONS * ROUNDS
        assert db.session.get(Reward, reward_id).stock == STOCK - CONNECTIONS * ROUNDS
        assert ledger.verify() == []


def test_64_people_open_the_check_in_link_at_once(crowd):
    """The link an event's QR code holds is a GET that writes: it too queues and takes the lock up front."""
    app, _tokens, codes, _reward_id, phones = crowd
    barrier = together(CONNECTIONS)

    def scan(i: int) -> list:
        client = app.test_client()  # signed in from the thread: see the test above
        assert client.post("/login", data={"phone": phones[i], "password": PASSWORD}).status_code == 302
        barrier.wait()
        return [client.get(f"/c?t={code}").status_code for code in codes]

    scans = run_threads(scan, CONNECTIONS)
    assert not [s for s in scans if isinstance(s, BaseException)], scans[:3]
    answers = [status for s in scans for status in s]
    assert Counter(answers) == {200: CONNECTIONS * ROUNDS}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Attendance)) == CONNECTIONS * ROUNDS


def test_the_check_in_link_writes_in_a_transaction_that_took_the_lock_up_front(crowd):
    app, _tokens, codes, _reward_id, phones = crowd
    client = app.test_client()
    sent: list[str] = []  # what SQLite itself ran, as its trace reports it

    def trace(dbapi_connection, _record, _proxy):
        dbapi_connection.set_trace_callback(sent.append)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "checkout", trace)
    answers = []

    def visit(_i: int) -> None:  # in a thread of its own: not inside the fixture's app context and its session
        answers.append(client.post("/login", data={"phone": phones[0], "password": PASSWORD}).status_code)
        sent.clear()
        answers.append(client.get(f"/c?t={codes[0]}").status_code)

    try:
        assert run_threads(visit, 1) == [None]
    finally:
        event.remove(engine, "checkout", trace)
    assert answers == [302, 200]
    insert = next(i for i, sql in enumerate(sent) if sql.startswith("INSERT INTO attendance"))
    assert [sql for sql in sent[:insert] if sql.startswith("BEGIN")][-1] == "BEGIN IMMEDIATE", sent[:insert + 1]


def test_sqlite_commits_are_durable(crowd):
    app = crowd[0]
    with app.app_context():
        assert db.session.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert db.session.execute(text("PRAGMA busy_timeout")).scalar() >= 5000


def test_reads_apart_end_their_own_transaction_and_never_commit_pending_changes(app, backend):
    with app.app_context():
        with reads_apart():
            db.session.scalar(select(func.count()).select_from(User))
        # On SQLite the read transaction has ended (the write lock will be taken by the next statement alone);
        # on PostgreSQL nothing was done apart.
        assert db.session().in_transaction() == (backend == "postgresql")
        db.session.rollback()
        db.session.add(User(name="未提交", phone="13700009999", active=True))
        with reads_apart():
            db.session.scalar(select(func.count()).select_from(User))
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(User).where(User.phone == "13700009999")) == 0
