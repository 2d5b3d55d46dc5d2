"""Fixtures: the app on each database backend, a clean database per test, factories and sign-in helpers.

Every test runs on SQLite; when TEST_DATABASE_URL is set, it runs on PostgreSQL as well. Each pytest-xdist
worker gets its own database, migrated with the project's real Alembic migrations.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import shutil
import tempfile
import threading
from types import SimpleNamespace
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from flask import has_app_context
from flask_migrate import upgrade
from sqlalchemy import event, text

from app import TestConfig, create_app, database_url
from blueprints.ext import limiter
from domain import accounts, org
from models import Area, Household, Level, Role, RoleGrant, User, db

PG_URL = os.environ.get("TEST_DATABASE_URL")
BACKENDS = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]
PASSWORD = "correct horse 42"


def pytest_report_header(config):
    if not PG_URL:
        return "PostgreSQL: SKIPPED (TEST_DATABASE_URL not set): the suite runs on SQLite only"
    return f"databases: SQLite and PostgreSQL ({urlsplit(PG_URL).netloc})"


def _worker() -> str:
    """This run's and this worker's name, so parallel runs on one server never share a database."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", f"p{os.getpid()}")[:8]
    return f"{run}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"


def _admin_conninfo(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@contextlib.contextmanager
def postgres_database(suffix: str):
    """A database of its own next to TEST_DATABASE_URL's, "<its name>_<suffix>", dropped afterwards: yields (its
    SQLAlchemy URL, its name)."""
    parts = urlsplit(PG_URL)
    name = f"{parts.path.lstrip('/') or 'test'}_{suffix}"
    with psycopg.connect(_admin_conninfo(PG_URL), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
        # A commit needs not wait for its WAL on disk: what a crash would lose is a test database, and what other
        # connections see at commit is unchanged. The suite's thousands of commits then cost no disk flush each.
        conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    try:
        yield database_url(urlunsplit(parts._replace(path=f"/{name}"))), name
    finally:
        with psycopg.connect(_admin_conninfo(PG_URL), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


#: Where the SQLite test databases live: memory (tmpfs) when the machine has it, as a disk flush at each of the
#: suite's commits tests nothing; SQLite's own locking, WAL and synchronous=FULL work there as on a disk.
_SHM = "/dev/shm"  # noqa: S108 - only a private folder of mkdtemp (mode 700, random name) is made in it
MEMORY = _SHM if os.access(_SHM, os.W_OK) else None


@pytest.fixture(scope="session", params=BACKENDS)
def backend_url(request, tmp_path_factory):
    if request.param == "sqlite":
        folder = tempfile.mkdtemp(prefix="sanzhang-test-db-", dir=MEMORY or tmp_path_factory.getbasetemp())
        try:
            yield f"sqlite:///{folder}/test.db"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    else:
        with postgres_database(_worker()) as (url, _name):
            yield url


#: Photos the tests upload go to a folder of this run's own, removed at its end, never to instance/uploads.
UPLOADS = tempfile.mkdtemp(prefix="sanzhang-test-uploads-")
atexit.register(shutil.rmtree, UPLOADS, ignore_errors=True)


def make_app(url: str, **overrides):
    """A test app on the database at `url`, with config overrides (e.g. rate limits on)."""
    settings = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
    return create_app({**settings, "SQLALCHEMY_DATABASE_URI": url, "UPLOAD_FOLDER": UPLOADS, **overrides})


@pytest.fixture
def other_worker(app):
    """Another worker: a second app on the test's database, with its own per-worker copies and caches."""
    other = make_app(app.config["SQLALCHEMY_DATABASE_URI"])
    yield other
    with other.app_context():
        db.engine.dispose()


@contextlib.contextmanager
def sent_statements(app=None):
    """The SQL statements (whitespace folded) that `app`, or the app of the current context, sends meanwhile."""
    if app is not None:
        with app.app_context():
            engine = db.engine
    else:
        engine = db.engine
    sent: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        sent.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.fixture(scope="session")
def session_app(backend_url):
    app = make_app(backend_url)
    with app.app_context():
        upgrade()
        db.session.remove()
    yield app
    with app.app_context():
        db.engine.dispose()


def _wipe() -> None:
    """Empties every table and restarts the ids, as a fresh database would have them."""
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    if db.engine.dialect.name == "postgresql":
        if db.session.scalar(text("SELECT current_setting('is_superuser')")) == "on":
            # DELETE of the few rows a test leaves takes milliseconds; TRUNCATE makes new files for every table and
            # index (half a second a test on a busy machine). Triggers off for this transaction: the append-only
            # ones refuse DELETE on the ledger, and with every table emptied no foreign key is left to check.
            db.session.execute(text("SET LOCAL session_replication_role = replica"))
            db.session.execute(text("; ".join(f'DELETE FROM "{table}"' for table in tables)))
            db.session.execute(text("SELECT setval(format('%I.%I', schemaname, sequencename)::regclass, 1, false) "
                                    "FROM pg_sequences WHERE schemaname = current_schema() "
                                    "AND last_value IS NOT NULL"))
        else:  # session_replication_role is a superuser's
            db.session.execute(text(f"TRUNCATE {', '.join(f'{t!r}'.replace(chr(39), chr(34)) for t in tables)} "
                                    "RESTART IDENTITY CASCADE"))
    else:
        # The append-only triggers refuse DELETE on the ledger: lift them for the wipe, then put them back.
        triggers = db.session.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")).all()
        for name, _sql in triggers:
            db.session.execute(text(f'DROP TRIGGER "{name}"'))
        for table in tables:
            db.session.execute(text(f'DELETE FROM "{table}"'))
        for _name, sql in triggers:
            db.session.execute(text(sql))
    db.session.commit()


@pytest.fixture
def strict_client(app):
    """A client of the app with CSRF checked, as in production."""
    strict = make_app(app.config["SQLALCHEMY_DATABASE_URI"], WTF_CSRF_ENABLED=True)
    yield strict.test_client()
    with strict.app_context():
        db.engine.dispose()


@pytest.fixture
def app(session_app):
    # Flask-Limiter has one switch for every app of the process, set by the last app made: an app another test made
    # with limits on (its own, a benchmark's) would leave them on for the next tests' sign-ins.
    limiter.init_app(session_app)
    yield session_app
    session_app.config["UPLOAD_FOLDER"] = UPLOADS  # a test that pointed it elsewhere leaves no trace
    with session_app.app_context():
        db.session.rollback()
        _wipe()
        db.session.remove()


@pytest.fixture
def backend(app) -> str:
    return "postgresql" if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql") else "sqlite"


@pytest.fixture
def dbs(app):
    """An app context for domain tests that call domain/ directly (no HTTP client in the same test)."""
    with app.app_context():
        yield db.session
        db.session.rollback()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@contextlib.contextmanager
def _context(app):
    """Reuse the test's app context when it has one (domain tests), else open one just for setup."""
    if has_app_context():
        yield
        db.session.flush()
    else:
        with app.app_context():
            yield
            db.session.commit()
            db.session.remove()


_phones = itertools.count(1)
_hashes: dict[tuple, str] = {}


def _hashed(password: str) -> str:
    """One Argon2 hash per password and hashing parameters, shared by the people made with it (an Argon2 hash carries
    its salt and parameters, so each still verifies): the suite makes thousands of people with one password."""
    hasher = accounts._HASHER
    key = (password, hasher.time_cost, hasher.memory_cost, hasher.parallelism, hasher.hash_len, hasher.salt_len)
    if key not in _hashes:
        _hashes[key] = accounts.hash_password(password)
    return _hashes[key]


@pytest.fixture
def make_area(app):
    def make(level: Level | str, parent: Area | None = None, name: str | None = None, **kw) -> Area:
        with _context(app):
            parent = db.session.merge(parent) if parent is not None else None
            area = Area(level=Level(level), parent=parent, name=name or f"{level}-{next(_phones)}", **kw)
            db.session.add(area)
            db.session.flush()
            area.path = f"{parent.path if parent else '/'}{area.id}/"
            db.session.flush()
        return area
    return make


@pytest.fixture
def make_user(app):
    def make(name: str = "测试用户", phone: str | None = None, password: str | None = PASSWORD,
             roles=(), household: Household | None = None, **kw) -> User:
        with _context(app):
            user = User(name=name, phone=phone or f"139{next(_phones):08d}",
                        password_hash=_hashed(password) if password else None,
                        household_id=household.id if household is not None else None, **kw)
            for role, area in roles:
                user.grants.append(RoleGrant(role=Role(role), area_id=area.id if area is not None else None))
            db.session.add(user)
            db.session.flush()
            user = db.session.get(User, user.id)
            _ = [g.area for g in user.grants], user.household
        return user
    return make


@pytest.fixture
def tree(app, make_area, make_user):
    """Two communities under one street; in each a grid → building → unit → household, and the people
    who act on them: an administrator, staff of each community, a street staff member, a unit head,
    a volunteer and a resident of community A. Made in one transaction (the test's own when it has one)."""
    t = SimpleNamespace()
    with _context(app):
        t.district = make_area("district", name="示范区")
        t.street = make_area("street", t.district, name="东风街道")
        for key, name in (("a", "银融社区"), ("b", "南湖社区")):
            community = make_area("community", t.street, name=name)
            grid = make_area("grid", community, name="第一网格")
            building = make_area("building", grid, name="1号楼")
            unit = make_area("unit", building, name="1单元")
            household = Household(unit_id=unit.id, label="101", size=2)
            db.session.add(household)
            db.session.flush()
            setattr(t, key, SimpleNamespace(community=community, grid=grid, building=building, unit=unit,
                                            household=household))
        t.admin = make_user("管理员", roles=[("admin", None)])
        t.street_staff = make_user("街道干部", roles=[("staff", t.street)])
        t.staff_a = make_user("银融干部", roles=[("staff", t.a.community)])
        t.staff_b = make_user("南湖干部", roles=[("staff", t.b.community)])
        t.head_a = make_user("单元长甲", roles=[("head", t.a.unit), ("resident", t.a.community)],
                             household=t.a.household)
        t.volunteer_a = make_user("志愿者乙", roles=[("volunteer", t.a.community)], household=t.a.household)
        t.resident_b = make_user("居民丙", roles=[("resident", t.b.community)], household=t.b.household)
    return t


@pytest.fixture
def headed_resident(app, tree, make_user):
    """王奶奶, a resident of the tree's household in community A without a password (no smartphone), and head_a
    appointed head of her unit: a head who may record service for her."""
    resident = make_user("王奶奶", password=None, roles=[("resident", tree.a.community)], household=tree.a.household)
    with app.app_context():
        org.appoint_head(db.session.get(User, tree.staff_a.id), db.session.get(Area, tree.a.unit.id),
                         db.session.get(User, tree.head_a.id))
        db.session.commit()
    return resident


@pytest.fixture
def ctx(dbs, tree):
    """The tree's communities and people merged into a domain test's session (test files needing others define
    their own `ctx`)."""
    class C:
        community = db.session.merge(tree.a.community)
        community_b = db.session.merge(tree.b.community)
        unit = db.session.merge(tree.a.unit)
        volunteer = db.session.merge(tree.volunteer_a)
        head = db.session.merge(tree.head_a)
        staff = db.session.merge(tree.staff_a)
        staff_b = db.session.merge(tree.staff_b)
        street_staff = db.session.merge(tree.street_staff)
        resident_b = db.session.merge(tree.resident_b)
    return C


def login(client, user: User, password: str = PASSWORD):
    response = client.post("/login", data={"phone": user.phone, "password": password})
    assert response.status_code == 302, response.text
    return response


def token_for(client, user: User, password: str = PASSWORD) -> dict:
    response = client.post("/api/v1/auth/token", json={"phone": user.phone, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json['token']}"}


@pytest.fixture
def threaded_app(app):
    """A second app on the same database with a pool big enough for real concurrency (own connections)."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    options = {"pool_size": 40, "max_overflow": 0, "pool_timeout": 60} if url.startswith("postgresql") else {}
    concurrent = make_app(url, SQLALCHEMY_ENGINE_OPTIONS=options)
    yield concurrent
    with concurrent.app_context():
        db.engine.dispose()


def run_threads(work, count: int) -> list:
    """`work(i)` for each i below `count`, each in a thread of its own, all started before any is joined. Returns
    what each returned, or the exception it raised, in order of `i`. Threads that must start together wait on a
    `together(count)` barrier inside `work`."""
    results: list = [None] * count

    def run(i: int) -> None:
        try:
            results[i] = work(i)
        except BaseException as error:  # noqa: BLE001 - the caller inspects every outcome
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def together(count: int) -> threading.Barrier:
    """A barrier for `count` threads that gives up after a minute: a thread that failed before reaching it makes the
    others fail (BrokenBarrierError) instead of hanging the run."""
    return threading.Barrier(count, timeout=60)


def run_concurrently(app, work, count: int) -> list:
    """Run `work(i)` in `count` threads released together, each in its own app context and session, committed when
    it returns and rolled back when it raises.

    Returns what each returned, or the exception it raised, in order of `i`.
    """
    barrier = together(count)

    def in_context(i: int):
        with app.app_context():
            try:
                barrier.wait()
                result = work(i)
                db.session.commit()
                return result
            except Exception:
                db.session.rollback()
                raise
            finally:
                db.session.remove()

    return run_threads(in_context, count)


def pytest_collection_modifyitems(config, items):
    """A case marked `postgresql` states what only PostgreSQL can show (two writers at once): it is not collected for
    SQLite, rather than skipped there (CI lets nothing be skipped)."""
    on_sqlite = [item for item in items if item.get_closest_marker("postgresql")
                 and getattr(item, "callspec", None) and item.callspec.params.get("backend_url") == "sqlite"]
    if on_sqlite:
        config.hook.pytest_deselected(items=on_sqlite)
        items[:] = [item for item in items if item not in on_sqlite]


_fuzz_runs: dict[str, dict] = {}
_failed: set[str] = set()


def pytest_runtest_logreport(report):
    """Collects what each Schemathesis operation ran (tests/test_fuzz.py records it), from xdist workers too."""
    if report.failed:
        _failed.add(report.nodeid)
    run = dict(report.user_properties).get("fuzz")
    if run is not None:
        _fuzz_runs[report.nodeid] = run


def pytest_terminal_summary(terminalreporter):
    """The fuzz run's figures: the proof the issue asks to see in CI's output."""
    if _fuzz_runs:
        first = next(iter(_fuzz_runs.values()))
        terminalreporter.write_sep("=", "Schemathesis")
        terminalreporter.write_line(
            f"{len(_fuzz_runs)} operations, {sum(r['cases'] for r in _fuzz_runs.values())} cases run "
            f"({sum(r['accepted'] for r in _fuzz_runs.values())} answered 2xx) "
            f"with up to {first['examples']} generated examples each, seed {first['seed']}: "
            f"{len(_failed & _fuzz_runs.keys())} failing operations")
