"""The benchmark runner: the app under gunicorn (4 sync workers) on a synthetic city, measured side by side.

For each database (SQLite, and PostgreSQL when a server is named) it generates the community scale and the
asked scale (bench/city.py), starts gunicorn on each the way `make serve` does (plus BENCH_ENDPOINTS=1 for the
bench-only baselines of blueprints/bench.py), and drives it with wrk on 127.0.0.1 in short rounds, all
measures interleaved round by round, so the machine's noise falls on every measure alike:

  hello               GET /bench/hello: no database, the framework's ceiling
  checkin / raw       POST /api/v1/checkins vs /bench/raw/checkin (the same check-in in hand-written SQL)
  redeem / raw        POST /api/v1/redemptions vs /bench/raw/redemption
  me, board, dash     GET /api/v1/me, /api/v1/leaderboards (a community, this month), /api/v1/areas/<id>/dashboard,
                      at the community scale and at the asked one (the same community in both: bench/city.py)
  roster import       20,000 rows through domain.roster vs the same people bulk-loaded (COPY / executemany)
  export              the events register (台账) of 200,000 attendances vs of 2,000, downloaded over HTTP as staff
                      download it: time, and the serving worker's peak resident memory
  memory              resident memory (RSS) and proportional set size (PSS) of each warmed worker
  mixed               /me, leaderboards and dashboards of many readers at once, 64 connections, 30 s, at the asked
                      scale (bench/mixed.py, bench/get.lua; --mixed-seconds)

Rate limits are counted in Redis, as in production (--redis-url, default redis://127.0.0.1:6379/14, a database
the tests leave alone; emptied before each backend's run); when it cannot be reached the run goes on with each
worker counting in its own memory, and says so.

It prints a table and writes bench/results/<scale>-<time>.json; a line sums up the ratios, and the goals table of
issue 21 (GOALS) ends it: each goal's value per backend, met or not.

    .venv/bin/python bench/run.py                                   # district scale, SQLite only
    .venv/bin/python bench/run.py --database-url postgresql://postgres@127.0.0.1:5432/test   # and PostgreSQL
    .venv/bin/python bench/run.py --scale city --database-url ...  # what `make bench-city` runs
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from http.cookiejar import CookieJar
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from sqlalchemy import insert, select  # noqa: E402

from app import create_app  # noqa: E402
from bench import city, common, mixed  # noqa: E402
from domain import events, ledger  # noqa: E402
from models import (  # noqa: E402
    Account,
    AccountKind,
    ApiToken,
    Area,
    Event,
    EventKind,
    Household,
    Reward,
    Role,
    RoleGrant,
    User,
    db,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SECRET = "bench-" + secrets.token_hex(16)
WORKERS = 4
#: Events opened for each round of check-ins: every (person, event) pair is checked in once.
EVENTS_PER_ROUND = 20
#: The register rows the big export is compared with (the issue's 2,000).
EXPORT_SMALL_ROWS = 2_000


# --- the database's side --------------------------------------------------------------------------------------

class Fixtures:
    """What the requests need in one generated database: tokens of the first community's people and staff, a
    reward with a deep stock, fresh events for each round of check-ins."""

    def __init__(self, url: str, community_id: int):
        self.app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET, "BENCH_ENDPOINTS": True})
        self.community_id = community_id
        with self.app.app_context():
            community = db.session.get(Area, community_id)
            self.staff_id = db.session.scalar(select(RoleGrant.user_id).where(
                RoleGrant.role == Role.staff, RoleGrant.area_id == community_id))
            people = db.session.scalars(
                select(User.id).join(Household, User.household_id == Household.id)
                .join(Area, Household.unit_id == Area.id).where(Area.path.startswith(community.path))).all()
            self.tokens = self._tokens([self.staff_id, *people])
            self.staff_token = self.tokens.pop(self.staff_id)
            rich = set(db.session.scalars(select(Account.owner_id).where(
                Account.community_id == community_id, Account.kind == AccountKind.person, Account.balance >= 200)))
            self.spenders = [token for person, token in self.tokens.items() if person in rich]
            #: The person with the most entries reads /me.
            self.reader = self.tokens[db.session.scalar(
                select(Account.owner_id).where(Account.community_id == community_id, Account.kind == AccountKind.person)
                .order_by(Account.balance.desc()).limit(1))]
            self.reward_id = db.session.execute(insert(Reward).values(
                community_id=community_id, name="环保袋", category="goods", price=1, initial_stock=10**8, stock=10**8,
                active=True, created_by_id=self.staff_id, created_at=datetime.now(UTC)).returning(Reward.id)).scalar()
            db.session.commit()

    def _tokens(self, people: list[int]) -> dict[int, str]:
        now = datetime.now(UTC)
        tokens = {person: f"bench-{person}-{secrets.token_hex(8)}" for person in people}
        db.session.execute(insert(ApiToken), [
            {"user_id": person, "token_hash": hashlib.sha256(token.encode()).hexdigest(), "created_at": now,
             "expires_at": now + timedelta(days=1)} for person, token in tokens.items()])
        db.session.commit()
        return tokens

    def open_events(self, count: int = EVENTS_PER_ROUND) -> list[Event]:
        """`count` new events of the community, open for check-in now (committed)."""
        now = datetime.now(UTC)
        with self.app.app_context():
            opened = [Event(community_id=self.community_id, area_id=self.community_id, kind=EventKind.activity,
                            title="压测活动", place="活动室", starts_at=now - timedelta(minutes=10),
                            ends_at=now + timedelta(hours=2), category="other", secret=secrets.token_hex(16),
                            organiser_id=self.staff_id, created_at=now) for _ in range(count)]
            db.session.add_all(opened)
            db.session.commit()
        return opened

    def checkin_pool(self, opened: list[Event] | None = None) -> list[tuple[str, str]]:
        """(token, body) for every person of the community at each of `opened` (by default EVENTS_PER_ROUND new
        open events), shuffled; the events' codes are of this moment (they live 30 to 60 s)."""
        opened = opened or self.open_events()
        with self.app.app_context():
            codes = [events.event_code(event).token for event in opened]
        pool = [(token, json.dumps({"token": code})) for code in codes for token in self.tokens.values()]
        secrets.SystemRandom().shuffle(pool)
        return pool

    def redemption_pool(self) -> list[tuple[str, str]]:
        body = json.dumps({"reward_id": self.reward_id, "quantity": 1})
        return [(token, body) for token in self.spenders]

    def verify(self) -> int:
        with self.app.app_context():
            return len(ledger.verify())

    def close(self) -> None:
        with self.app.app_context():
            db.engine.dispose()


# --- the server and the load ----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rate_limit_storage(redis_url: str | None) -> str | None:
    """`redis_url` cleared of earlier rate-limit counters (Flask-Limiter's `LIMITS*` keys, nothing else), for the
    servers to keep theirs in as production does; None when no URL is given or Redis cannot be reached (with a
    warning): each worker then counts alone."""
    if not redis_url:
        return None
    import redis  # Flask-Limiter's Redis storage brings it

    try:
        with redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5) as client:
            for key in client.scan_iter(match="LIMITS*", count=1000):
                client.delete(key)
    except (redis.RedisError, ValueError) as error:
        print(f"WARNING: Redis at {redis_url} is not reachable ({error}): rate limits are counted in each worker's "
              "memory, not shared as in production", file=sys.stderr, flush=True)
        return None
    return redis_url


@contextmanager
def server(url: str, redis_url: str | None, workers: int = WORKERS, *, root: Path = ROOT):
    """gunicorn as `make serve` runs it (sync workers, 4 unless told), on 127.0.0.1, with the bench endpoints on;
    rate limits counted in `redis_url` (as production counts them across processes), else in each worker's memory.
    The app is preloaded in the master as gunicorn.conf.py says. `root`: the checkout served (bench/cpu.py compares
    two)."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": SECRET, "BENCH_ENDPOINTS": "1"}
    if redis_url:
        env["REDIS_URL"] = redis_url
    else:
        env.pop("REDIS_URL", None)
    process = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "--no-control-socket", "--workers", str(workers),
         "--bind", f"127.0.0.1:{port}", "app:create_app()"], cwd=root, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_workers(base, process, workers)
        yield base, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _hello(base: str) -> str | None:
    try:
        with urllib.request.urlopen(f"{base}/bench/hello", timeout=5) as answer:  # noqa: S310 - our own server
            return answer.read().decode()
    except OSError:
        return None


def _wait_for_workers(base: str, process: subprocess.Popen, workers: int, limit: float = 180) -> None:
    """Until every worker has booted and answered (on a busy machine booting takes a while)."""
    seen: set[str] = set()
    deadline = time.monotonic() + limit
    with ThreadPoolExecutor(2 * workers) as pool:
        while len(seen) < workers:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn stopped: {process.stderr.read()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(seen)} of {workers} workers answered in {limit} s")
            seen.update(pid for pid in pool.map(_hello, [base] * 2 * workers) if pid)
            time.sleep(0.2)


def drain(base: str, limit: float = 60) -> None:
    """Wait until the workers are idle again: wrk stops with requests still queued in gunicorn's backlog, and
    the next measure must not pay for them."""
    deadline = time.monotonic() + limit
    with ThreadPoolExecutor(2 * WORKERS) as pool:
        while time.monotonic() < deadline:
            started = time.monotonic()
            list(pool.map(_hello, [base] * 2 * WORKERS))
            if time.monotonic() - started < 0.25:
                return


def workers_of(master: int) -> list[int]:
    """The gunicorn workers: the master's children."""
    return [int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()]


def memory_mb(pid: int, field: str = "VmRSS") -> float:
    return common.rss_kb(field, pid) / 1024


def worker_memory_mb(pids: list[int]) -> dict[str, dict[str, float]]:
    """RSS and PSS of the gunicorn workers `pids` (preloaded, as gunicorn.conf.py serves them: PSS counts the pages
    they share with the master once), the largest and the median, in MB."""
    sizes = {"rss_mb": [memory_mb(pid) for pid in pids], "pss_mb": [common.pss_kb(pid) / 1024 for pid in pids]}
    return {name: {"max": round(max(values), 1), "median": round(statistics.median(values), 1)}
            for name, values in sizes.items()}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60_000}[unit]


def wrk(url: str, seconds: int, *, token: str | None = None, pool: list[tuple[str, ...]] | None = None,
        round_id: str = "0", connections: int = 16, expect: str | None = None, script: str = "post.lua") -> dict:
    """One bounded wrk run: requests per second, p50 and p99 latency (ms), errors (non-2xx, socket; with `expect`,
    a Lua pattern, the answers whose "<status> <body>" does not match it instead of the non-2xx: bench/checked.lua).
    `pool`'s lines go to `script` (bench/post.lua, or get.lua for GETs)."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    if token:
        command += ["-H", f"Authorization: Bearer {token}"]
    with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False) as file:
        if pool is not None:
            # (token, body), (token, body, path), or (token, path) for get.lua
            file.writelines("\t".join(item) + "\n" for item in pool)
            command += ["-s", str(ROOT / "bench" / ("checked.lua" if expect else script)), url, "--", file.name,
                        "2", round_id, *([expect] if expect else [])]
        else:
            command.append(url)
    try:
        out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    finally:
        os.unlink(file.name)
        drain("/".join(url.split("/", 3)[:3]))
    answers = "unexpected" if expect else "Non-2xx or 3xx responses"
    errors = sum(int(n) for n in re.findall(rf"(?:{answers}|connect|read|write|timeout):? (\d+)", out))
    if re.search(r"\s0 requests in", out):
        return one_by_one(url, token, errors)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50": _ms(re.search(r"\s50%\s+(\S+)", out).group(1)),
            "p99": _ms(re.search(r"\s99%\s+(\S+)", out).group(1)),
            "errors": errors, "wrapped": int(m.group(1)) if (m := re.search(r"wrapped (\d+)", out)) else 0}


def one_by_one(url: str, token: str | None, errors: int, count: int = 3) -> dict:
    """A request slower than a whole round: time a few, one after another, instead."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})  # noqa: S310
        with urllib.request.urlopen(request, timeout=120) as answer:  # noqa: S310 - our own server
            answer.read()
        times.append((time.perf_counter() - started) * 1000)
    return {"rps": round(1000 / statistics.median(times), 2), "p50": statistics.median(times), "p99": max(times),
            "errors": errors, "wrapped": 0}


def median_of(runs: list[dict]) -> dict:
    return {key: statistics.median(r[key] for r in runs) for key in ("rps", "p50", "p99")} | {
        "errors": sum(r["errors"] for r in runs), "wrapped": sum(r["wrapped"] for r in runs), "rounds": len(runs)}


def measure(databases: dict[str, dict], writes_on: str, *, rounds: int, seconds: int,
            redis_url: str | None, mixed_seconds: int = mixed.MIXED_SECONDS) -> dict[str, dict]:
    """Every measure of every database (scale name -> what city.built yielded), each served by its own gunicorn,
    all of them running at once and measured round by round in turn (writes on `writes_on` only); medians per
    measure; then the mixed reads on `writes_on` (`mixed_seconds`, 0: none); worker RSS at the end."""
    month = datetime.now(UTC).astimezone(ledger.SHANGHAI).strftime("%Y-%m")
    runs: dict[str, dict[str, list[dict]]] = {name: {} for name in databases}
    with ExitStack() as stack:
        fixtures, bases, masters, reads = {}, {}, {}, {}
        for name, built in databases.items():
            community = built["first_community_id"]
            fixtures[name] = f = Fixtures(built["url"], community)
            stack.callback(f.close)
            bases[name], masters[name] = stack.enter_context(server(built["url"], redis_url))
            base = bases[name]
            reads[name] = {
                "me": (f"{base}/api/v1/me", f.reader),
                "board": (f"{base}/api/v1/leaderboards?area_id={community}&period={month}&metric=points", f.reader),
                "dash": (f"{base}/api/v1/areas/{community}/dashboard?months=12", f.staff_token),
            }
            for path, token in [(f"{base}/bench/hello", None), *reads[name].values()]:  # warm every worker up
                wrk(path, 1, token=token)
        base, f, out = bases[writes_on], fixtures[writes_on], runs[writes_on]
        for n in range(rounds):
            out.setdefault("hello", []).append(wrk(f"{base}/bench/hello", seconds))
            for name, path in (("checkin", "/api/v1/checkins"), ("checkin_raw", "/bench/raw/checkin")):
                out.setdefault(name, []).append(wrk(base + path, seconds, pool=f.checkin_pool(), round_id=f"{n}{name}"))
            for name, path in (("redeem", "/api/v1/redemptions"), ("redeem_raw", "/bench/raw/redemption")):
                out.setdefault(name, []).append(
                    wrk(base + path, seconds, pool=f.redemption_pool(), round_id=f"{n}{name}"))
            for measure_name in ("me", "board", "dash"):  # latency: one connection per worker, no queue
                for name in databases:
                    path, token = reads[name][measure_name]
                    runs[name].setdefault(measure_name, []).append(wrk(path, seconds, token=token, connections=WORKERS))
        if mixed_seconds:
            out["mixed"] = [mixed_reads(base, f, mixed_seconds)]
        memory = {name: worker_memory_mb(workers_of(master)) for name, master in masters.items()}
        problems = f.verify()
    results = {}
    for name in databases:
        results[name] = {measure_name: median_of(r) for measure_name, r in runs[name].items()}
        results[name] |= memory[name]
    results[writes_on]["ledger_verify_problems"] = problems
    return results


def mixed_reads(base: str, fixtures: Fixtures, seconds: int) -> dict:
    """/me, leaderboards and dashboards of many readers at once (bench/mixed.py), MIXED_CONNECTIONS connections."""
    with fixtures.app.app_context():
        requests = mixed.pool(fixtures._tokens)
    return wrk(f"{base}/api/v1/me", seconds, pool=requests, script="get.lua", connections=mixed.MIXED_CONNECTIONS)


# --- roster import vs a raw bulk insert ----------------------------------------------------------------------

def roster_vs_raw(server_url: str | None, rows: int) -> dict:
    """The roster import of `rows` people (domain.roster, as the page runs it) against a bulk load of the same
    areas, households, people, roles and head posts (city.Loader: COPY / executemany), each on a fresh database."""
    import roster_import  # bench/roster_import.py: this script's folder is on the path

    from domain import roster

    table = roster_import.generate_rows(rows)
    data = roster_import.workbook_bytes(table)
    times = {}
    for kind in ("import", "raw"):
        with common.scratch_app(server_url, f"bench_roster_{kind}_{os.getpid()}"):
            community, staff = common.seed_community()
            started = time.perf_counter()
            if kind == "import":
                roster.import_roster(staff, community, "bench.xlsx", data)
                db.session.commit()
            else:
                _bulk_roster(community, table)
            times[kind] = time.perf_counter() - started
    return {"rows": rows, "import_s": round(times["import"], 2), "raw_s": round(times["raw"], 2),
            "import_rows_s": round(rows / times["import"]), "raw_rows_s": round(rows / times["raw"])}


def _bulk_roster(community: Area, table: list[list]) -> None:
    """The rows of a roster written as the import writes them, but bulk-loaded with no checks at all."""
    raw = db.engine.raw_connection()
    try:
        loader = city.Loader(raw.driver_connection, db.engine.dialect.name)
        now = datetime.now(UTC)
        areas: dict[tuple, tuple[int, str]] = {(): (community.id, community.path)}
        levels = ("grid", "building", "unit")
        homes: dict[tuple, int] = {}
        for grid, building, unit, door, name, phone, size, role in table:
            place = (grid, building, unit)
            for depth in range(1, 4):
                if place[:depth] not in areas:
                    parent_id, parent_path = areas[place[:depth - 1]]
                    area_id = loader.next_id("area")
                    areas[place[:depth]] = (area_id, f"{parent_path}{area_id}/")
                    loader.add("area", (area_id, parent_id, levels[depth - 1], place[depth - 1],
                                        areas[place[:depth]][1], {}, now))
            if (place, door) not in homes:
                homes[(place, door)] = loader.next_id("household")
                loader.add("household", (homes[(place, door)], areas[place][0], door, size or None))
            user_id = loader.next_id("user")
            loader.add("user", (user_id, name, phone, homes[(place, door)], True, False, now))
            tier = {"网格长": 1, "楼栋长": 2, "单元长": 3}.get(role)
            role_name = "head" if tier else ("volunteer" if role == "志愿者" else "resident")
            area_id = areas[place[:tier]][0] if tier else community.id
            loader.add("role_grant", (loader.next_id("role_grant"), user_id, role_name, area_id, now))
            if tier:
                loader.add("head_post", (loader.next_id("head_post"), user_id, area_id, tier, now))
        loader.finish()
    finally:
        raw.close()


# --- a big register export vs a small one ------------------------------------------------------------------------

def export_big_vs_small(server_url: str | None, rows: int, redis_url: str | None) -> dict:
    """The events register (台账) of a community with `rows` attendances and of one with EXPORT_SMALL_ROWS (filled as
    bench/registers.py fills them), each downloaded by its staff as a page does: signed in through /login, GET
    /areas/<id>/registers/events.xlsx, the body read as it comes. One gunicorn worker serves, so the one whose
    memory is read is the one that served; it has made a small register first (the first one imports openpyxl).
    Per register: the download's wall time, the file's size, the worker's RSS before and its peak (VmHWM, reset
    just before)."""
    import registers  # bench/registers.py: this script's folder is on the path

    with common.scratch_app(server_url, f"bench_export_{os.getpid()}") as app:
        started = time.perf_counter()
        big, big_staff = registers.community_with_attendance(None, "银融社区", rows, 1)
        small, small_staff = registers.community_with_attendance(big.parent, "南湖社区", EXPORT_SMALL_ROWS, 2)
        measured: dict = {"fill_s": round(time.perf_counter() - started, 1)}
        targets = {"big": (rows, big.id, big_staff.phone), "small": (EXPORT_SMALL_ROWS, small.id, small_staff.phone)}
        url = app.config["SQLALCHEMY_DATABASE_URI"]
        db.session.remove()
        db.engine.dispose()
        with server(url, redis_url, workers=1) as (base, master):
            worker = workers_of(master)[0]
            openers = {kind: _signed_in(base, phone) for kind, (_rows, _area, phone) in targets.items()}
            _download(openers["small"], base, targets["small"][1])  # warm: imports, queries compiled
            for kind in ("small", "big"):
                count, area_id, _phone = targets[kind]
                before = memory_mb(worker)
                common.reset_peak_rss(worker)
                seconds, size = _download(openers[kind], base, area_id)
                peak = memory_mb(worker, "VmHWM")
                measured[kind] = {"rows": count, "seconds": round(seconds, 2), "file_mb": round(size / 1e6, 1),
                                  "rss_before_mb": round(before, 1), "rss_peak_mb": round(peak, 1)}
    return measured


def _signed_in(base: str, phone: str) -> urllib.request.OpenerDirector:
    """An HTTP client with the session cookie of `phone` (bench/common.py's PASSWORD), signed in through the page."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    with opener.open(f"{base}/login", timeout=60) as answer:
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', answer.read().decode()).group(1)
    form = urllib.parse.urlencode({"phone": phone, "password": common.PASSWORD, "csrf_token": token}).encode()
    with opener.open(f"{base}/login", data=form, timeout=60) as answer:
        if urllib.parse.urlsplit(answer.url).path == "/login":
            raise RuntimeError(f"{phone} could not sign in")
    return opener


def _download(opener: urllib.request.OpenerDirector, base: str, area_id: int) -> tuple[float, int]:
    """Seconds to fetch the events register of an area to its last byte, and its size."""
    started, size = time.perf_counter(), 0
    with opener.open(f"{base}/areas/{area_id}/registers/events.xlsx", timeout=600) as answer:
        while chunk := answer.read(64 * 1024):
            size += len(chunk)
    return time.perf_counter() - started, size


# --- the whole run -----------------------------------------------------------------------------------------------

def ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else float("nan")


def small_scale(scale: str) -> str:
    """The scale the reads are compared with: one community; the tests' tiny scale with itself (one database)."""
    return "tiny" if scale == "tiny" else "community"


def run_backend(backend: str, server_url: str | None, scale: str, args) -> dict:
    """Both scales generated, then served and measured side by side; then the roster import and the export."""
    redis_url = rate_limit_storage(args.redis_url)
    result: dict = {"scales": {}, "rate_limits": "redis" if redis_url else "memory"}
    with ExitStack() as stack:
        databases = {}
        for scale_name in dict.fromkeys([small_scale(scale), scale]):
            databases[scale_name] = built = stack.enter_context(
                city.built(scale_name, server_url, f"bench_{scale_name}_{os.getpid()}", verify=False))
            print(f"[{backend}] {scale_name}: generated in {built['generate_s']} s "
                  f"({built['rows']['ledger_entry']:,} ledger entries)", flush=True)
        result["scales"] = measure(databases, scale, rounds=args.rounds, seconds=args.seconds, redis_url=redis_url,
                                   mixed_seconds=args.mixed_seconds)
        for scale_name, built in databases.items():
            result["scales"][scale_name]["generate_s"] = built["generate_s"]
    print_table(backend, result)
    if args.roster_rows:
        result["roster"] = roster_vs_raw(server_url, args.roster_rows)
        r = result["roster"]
        print(f"[{backend}] roster import {r['rows']:,} rows: {r['import_s']} s ({r['import_rows_s']:,}/s) vs raw "
              f"bulk insert {r['raw_s']} s ({r['raw_rows_s']:,}/s)", flush=True)
    if args.export_rows:
        result["export"] = export_big_vs_small(server_url, args.export_rows, redis_url)
        print_export(backend, result["export"])
    return result


def summarise(result: dict, scale: str) -> dict:
    """The ratios the issue sets targets for, from this run: HTTP vs raw SQL, the big scale vs one community."""
    big, small = result["scales"][scale], result["scales"][small_scale(scale)]
    summary = {
        "checkin_http/raw": ratio(big["checkin"]["rps"], big["checkin_raw"]["rps"]),
        "checkin_p99_http/raw": ratio(big["checkin"]["p99"], big["checkin_raw"]["p99"]),
        "redeem_http/raw": ratio(big["redeem"]["rps"], big["redeem_raw"]["rps"]),
        "redeem_p99_http/raw": ratio(big["redeem"]["p99"], big["redeem_raw"]["p99"]),
        "checkin_http/hello": ratio(big["checkin"]["rps"], big["hello"]["rps"]),
    }
    for name in ("me", "board", "dash"):
        summary[f"{name}_p50_{scale}/{small_scale(scale)}"] = ratio(big[name]["p50"], small[name]["p50"])
    if "roster" in result:
        summary["roster_import/raw"] = ratio(result["roster"]["import_rows_s"], result["roster"]["raw_rows_s"])
    if "export" in result:
        large, little = result["export"]["big"], result["export"]["small"]
        summary[f"export_rss_{_thousands(large['rows'])}/{_thousands(little['rows'])}"] = ratio(
            large["rss_peak_mb"], little["rss_peak_mb"])
        summary[f"export_{_thousands(large['rows'])}_s"] = large["seconds"]
    summary["worker_rss_mb"] = big["rss_mb"]["max"]
    summary["worker_pss_mb"] = big["pss_mb"]["max"]
    if "mixed" in big:
        summary["mixed_p50_ms"] = big["mixed"]["p50"]
        summary["mixed_p99_ms"] = big["mixed"]["p99"]
        summary["mixed_errors"] = big["mixed"]["errors"]
    return summary


#: The issue's goals (21), checked on each backend's summary: (summary key, what it is, comparison, target).
GOALS: tuple[tuple[str, str, str, float], ...] = (
    ("checkin_http/raw", "check-in throughput, HTTP / raw SQL", ">=", 0.6),
    ("redeem_http/raw", "redemption throughput, HTTP / raw SQL", ">=", 0.5),
    ("checkin_p99_http/raw", "check-in p99, HTTP / raw SQL", "<=", 2),
    ("redeem_p99_http/raw", "redemption p99, HTTP / raw SQL", "<=", 2),
    ("worker_pss_mb", "PSS per worker with preload, MB", "<=", 50),
    ("mixed_p99_ms", f"mixed reads p99 at {mixed.MIXED_CONNECTIONS} connections, ms", "<=", 1000),
    ("mixed_errors", "mixed reads errors", "<=", 0),
)


def goals(summary: dict) -> list[dict]:
    """Each goal with the value this run measured (None: not measured) and whether it was met."""
    rows = []
    for key, label, comparison, target in GOALS:
        value = summary.get(key)
        measured = isinstance(value, int | float) and value == value  # NaN: a ratio over nothing
        met = measured and (value >= target if comparison == ">=" else value <= target)
        rows.append({"key": key, "label": label, "goal": f"{comparison.replace('>=', '≥').replace('<=', '≤')} "
                     f"{target:g}", "value": value if measured else None, "met": met})
    return rows


def print_goals(summaries: dict[str, dict]) -> None:
    """The goals table: a line per goal, the measured value and met / not met per backend."""
    backends = list(summaries)
    print(f"\n{'goals (issue 21)':<24}{'goal':>9}" + "".join(f"{b:>24}" for b in backends))
    checked = {b: goals(summaries[b]) for b in backends}
    for n, (key, *_rest) in enumerate(GOALS):
        cells = []
        for b in backends:
            row = checked[b][n]
            cells.append("n/a" if row["value"] is None else f"{row['value']:g} {'met' if row['met'] else 'NOT met'}")
        print(f"{key:<24}{checked[backends[0]][n]['goal']:>9}" + "".join(f"{c:>24}" for c in cells))


def _thousands(rows: int) -> str:
    return f"{rows // 1000}k" if rows % 1000 == 0 else str(rows)


def print_export(backend: str, export: dict) -> None:
    print(f"\n{backend}: {'export (events register)':<26}{'rows':>9}{'seconds':>9}{'file MB':>9}"
          f"{'RSS before':>12}{'RSS peak':>10}")
    for m in (export["big"], export["small"]):
        print(f"{'':<{len(backend) + 28}}{m['rows']:>9,}{m['seconds']:>9.2f}{m['file_mb']:>9.1f}"
              f"{m['rss_before_mb']:>9.1f} MB{m['rss_peak_mb']:>7.1f} MB")
    big, small = export["big"], export["small"]
    print(f"{'':<{len(backend) + 2}}worker peak RSS, {big['rows']:,} rows / {small['rows']:,} rows: "
          f"{ratio(big['rss_peak_mb'], small['rss_peak_mb'])}×; the registers filled in {export['fill_s']} s",
          flush=True)


def print_table(backend: str, result: dict) -> None:
    print(f"\n{backend}: {'measure':<22}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}{'wrapped':>8}")
    for scale_name, measured in result["scales"].items():
        for name, m in measured.items():
            if isinstance(m, dict) and "rps" in m:
                print(f"{'':<{len(backend) + 2}}{scale_name + ' ' + name:<22}{m['rps']:>10,.0f}{m['p50']:>10.2f}"
                      f"{m['p99']:>10.2f}{m['errors']:>8}{m['wrapped']:>8}")
        verified = measured.get("ledger_verify_problems")
        print(f"{'':<{len(backend) + 2}}{scale_name} worker RSS MB: {measured['rss_mb']}, PSS MB: "
              f"{measured['pss_mb']}; generated in {measured['generate_s']} s"
              + (f"; ledger verify problems after the writes: {verified}" if verified is not None else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=list(city.SCALES), default="district",
                        help="tiny: the tests' end-to-end run, its reads compared with itself")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"),
                        help="a PostgreSQL server: measure there too (scratch databases bench_* are dropped after)")
    parser.add_argument("--backends", default=os.environ.get("BENCH_BACKENDS"),
                        help="sqlite,postgresql (default: sqlite, and postgresql when --database-url is given)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--roster-rows", type=int, default=20_000, help="0: skip the roster import")
    parser.add_argument("--export-rows", type=int, default=200_000,
                        help=f"rows of the big register export, measured against {EXPORT_SMALL_ROWS:,} (0: skip it)")
    parser.add_argument("--mixed-seconds", type=int, default=mixed.MIXED_SECONDS,
                        help=f"the mixed reads at {mixed.MIXED_CONNECTIONS} connections (0: skip them)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the folder the JSON is written to")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
                        help="where the servers count rate limits, as production does: this Redis database is "
                             "emptied first ('': each worker counts in its own memory)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: `make bench` installs it (apt-get install wrk)")
    backends = (args.backends or ("sqlite,postgresql" if args.database_url else "sqlite")).split(",")
    started, load_before = datetime.now(UTC), [round(n, 2) for n in os.getloadavg()]
    results, summaries = {}, {}
    for backend in backends:
        server_url = args.database_url if backend == "postgresql" else None
        if backend == "postgresql" and not server_url:
            raise SystemExit("--database-url is needed for PostgreSQL")
        results[backend] = run_backend(backend, server_url, args.scale, args)
        summaries[backend] = summarise(results[backend], args.scale)
    load_after = [round(n, 2) for n in os.getloadavg()]
    args.results.mkdir(exist_ok=True)
    out = args.results / f"{args.scale}-{started:%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps({"scale": args.scale, "started": started.isoformat(),
                               "load_before": load_before, "load_after": load_after,
                               "elapsed_s": round((datetime.now(UTC) - started).total_seconds(), 1), "workers": WORKERS,
                               "rounds": args.rounds, "seconds": args.seconds, "export_rows": args.export_rows,
                               "results": results,
                               "summary": summaries, "goals": {b: goals(s) for b, s in summaries.items()}},
                              indent=2, ensure_ascii=False))
    print(f"\nwritten: {out}")
    print(" | ".join(f"{backend}: " + ", ".join(f"{k} {v}" for k, v in s.items()) for backend, s in summaries.items()))
    print(f"load average (1, 5, 15 min) before {load_before}, after {load_after}")
    print_goals(summaries)


if __name__ == "__main__":
    main()
