"""CPU per request of the check-in and the redemption, two checkouts of the app side by side (issue 21).

Each checkout (`--root`, one or more; the first is "this one" by default) is served by gunicorn as `make serve` runs
it (4 sync workers, rate limits counted in Redis) on the same generated community, and driven in alternating rounds
with wrk: the workers' CPU time (utime + stime of /proc/<pid>/stat) over a round, divided by the requests answered,
is the CPU per request; the machine's noise falls on every checkout alike. With `--profile`, py-spy samples one
worker during a further round of each and the share of samples spent in each part is printed (the rate limit:
Flask-Limiter, limits and redis-py; the event and reward reads).

`--rate-limits N` measures the scan limit alone, in this process: N check-ins with a code that is no code (refused
422 after the limit is counted) through the test client, with the limit off, counted by limits' own RedisStorage
(one round trip a window) and by blueprints/ratelimit.py's (one round trip a limit), in alternating rounds: this
process's CPU time, the wall time and the Redis commands sent, per request.

`--checkins N` measures the check-in alone, in this process, on the generated community: N check-ins by the event's
code (each a new person) through the test client, rate limits off, with each worker's copy of the events
(domain/events/seen.py) and with the copies dropped before each request (the event read on every scan, as before),
in alternating rounds: this process's CPU time and the wall time per request, and the statements sent.

    .venv/bin/python bench/cpu.py --root /work/main --root . --database-url postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/cpu.py --rate-limits 2000
    .venv/bin/python bench/cpu.py --checkins 2000 --database-url postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import collections
import functools
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from bench import city, common  # noqa: E402
from bench.run import RESULTS, SECRET, Fixtures, drain, rate_limit_storage, server, workers_of  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

#: A part of a request, by a frame its py-spy samples hold ("function (file" as py-spy's raw output spells it); a
#: sample holding the frames of several parts counts for the first one listed.
PARTS = {
    "caller (the key function's token lookup)": ("caller_key (",),
    "rate limit (Flask-Limiter's check, limits, redis-py)": ("(flask_limiter/_extension.py", "(limits/", "(redis/"),
    "event read (read_event_code)": ("read_event_code (",),
    "reward read (get_visible Reward, its community, the pickup rule)": (
        "get_visible (domain/access.py", "terms_of (", "Reward.community"),
    "ledger posting (ledger.debit)": ("debit (domain/ledger",),
    "limit counters (the month, quarter and year)": ("_count (domain/market",),
    "idempotency key claimed": ("_claim (domain/market",),
    "the reward's row, last (stock or hold)": ("hold (domain/market/seen",),
    "webhook outbox (webhooks.emit)": ("emit (domain/webhooks",),
}

def load(url: str, seconds: int, pool: list[tuple[str, str]], round_id: str) -> tuple[int, int]:
    """wrk with bench/post.lua over the pool: (requests answered, non-2xx answers)."""
    with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False) as file:
        file.writelines(f"{token}\t{body}\n" for token, body in pool)
    try:
        out = subprocess.run(["wrk", "-t2", "-c16", f"-d{seconds}s", "--timeout", "10s", "-s",
                              str(ROOT / "bench" / "post.lua"), url, "--", file.name, "2", round_id],
                             capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    finally:
        os.unlink(file.name)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    bad = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    return requests, bad


def measured(base: str, master: int, path: str, seconds: int, pool, round_id: str) -> dict:
    pids = workers_of(master)
    before = common.cpu_seconds(pids)
    requests, bad = load(base + path, seconds, pool, round_id)
    drain(base)
    spent = common.cpu_seconds(pids) - before
    return {"cpu_ms": spent * 1000 / max(requests, 1), "rps": requests / seconds, "bad": bad}


def profile(base: str, master: int, path: str, seconds: int, pool, round_id: str) -> Path:
    """py-spy's samples of one worker (all four carry the same load) over a round, kept in bench/results/."""
    pid = workers_of(master)[0]
    RESULTS.mkdir(exist_ok=True)
    samples = RESULTS / f"cpu-{time.strftime('%Y%m%dT%H%M%S')}-{round_id}.txt"
    spy = subprocess.Popen([str(ROOT / ".venv/bin/py-spy"), "record", "-p", str(pid), "-d", str(seconds), "-r", "200",
                            "-f", "raw", "-o", str(samples), "--nonblocking"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    load(base + path, seconds, pool, round_id)
    spy.wait(timeout=seconds + 60)
    drain(base)
    return samples


def shares(samples: Path) -> dict[str, float]:
    """The share (%) of a profile's samples serving a request that each of PARTS took."""
    counts: collections.Counter = collections.Counter()
    for line in samples.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if "Flask.__call__ (" not in stack:
            continue  # the worker waiting for a request, not serving one
        part = next((part for part, needles in PARTS.items() if any(needle in stack for needle in needles)), None)
        counts[part] += int(n)
    total = sum(counts.values())
    return {part: round(100 * counts[part] / max(total, 1), 1) for part in PARTS} | {"samples": total}


def rate_limit_cost(redis_url: str, requests: int, rounds: int) -> None:
    """The scan limit's cost per request: off, limits' RedisStorage, OneTripRedisStorage (module docstring)."""
    from limits.storage import RedisStorage
    from limits.strategies import FixedWindowRateLimiter

    from app import create_app
    from blueprints.ext import limiter
    from blueprints.ratelimit import OneTripRedisStorage

    with common.scratch_app(None, "cpu") as scratch:
        common.seed_community()
        app = create_app({"SQLALCHEMY_DATABASE_URI": scratch.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": SECRET,
                          "RATELIMIT_STORAGE_URI": redis_url, "ARGON2_PARAMS": scratch.config["ARGON2_PARAMS"],
                          "SCAN_RATE_LIMIT": "1000000000 per minute;1000000000 per hour"})
        client = app.test_client()
        signed_in = client.post("/api/v1/auth/token", json={"phone": "13800000101", "password": common.PASSWORD})
        token = signed_in.json["token"]
        headers = {"Authorization": f"Bearer {token}"}
        variants = {"off": None, "limits' RedisStorage": RedisStorage, "OneTripRedisStorage": OneTripRedisStorage}
        figures: dict[str, list[tuple[float, ...]]] = {name: [] for name in variants}
        for _round in range(rounds + 1):  # the first warms up and is not counted
            for name, storage in variants.items():
                limiter.enabled = storage is not None
                if storage is not None:
                    limiter._storage = storage(redis_url)  # noqa: SLF001 - the bench swaps the storage it measures
                    limiter._limiter = FixedWindowRateLimiter(limiter._storage)  # noqa: SLF001
                sent = collections.Counter()
                if storage is not None:
                    connection = limiter.storage.get_connection()
                    connection.execute_command = functools.partial(_counted, sent, connection.execute_command)
                cpu, wall = time.process_time(), time.perf_counter()
                answers = collections.Counter(client.post("/api/v1/checkins", json={"token": "x"}, headers=headers)
                                              .status_code for _ in range(requests))
                if set(answers) != {422}:
                    raise RuntimeError(f"{name}: answers {dict(answers)}, not 422 alone")
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                if _round:
                    figures[name].append((cpu, wall, sum(sent.values())))
    print(f"{requests} limited requests a round, {rounds} rounds, medians per request (uptime: "
          f"{os.getloadavg()[0]:.1f})")
    for name, rows in figures.items():
        cpu, wall, commands = (statistics.median(row[i] for row in rows) for i in range(3))
        print(f"  {name:22} CPU {cpu / requests * 1e6:6.0f} µs, wall {wall / requests * 1e6:6.0f} µs, "
              f"Redis commands {commands / requests:.2f} (rounds' CPU µs: "
              f"{', '.join(f'{row[0] / requests * 1e6:.0f}' for row in rows)})")


def checkin_cost(database_url: str | None, requests: int, rounds: int) -> None:
    """A check-in's cost with and without the workers' copies of the events (module docstring)."""
    from sqlalchemy import event as sqlalchemy_event

    from app import create_app
    from domain.events import seen
    from models import db

    with ExitStack() as stack:
        built = stack.enter_context(city.built("community", database_url, f"cpu_{os.getpid()}", verify=False))
        f = Fixtures(built["url"], built["first_community_id"])
        stack.callback(f.close)
        app = create_app({"SQLALCHEMY_DATABASE_URI": built["url"], "SECRET_KEY": SECRET, "RATELIMIT_ENABLED": False})
        client = app.test_client()
        sent = collections.Counter()
        with app.app_context():
            engine = db.engine
        sqlalchemy_event.listen(engine, "before_cursor_execute", lambda *_args: sent.update(["statement"]))
        figures: dict[str, list[tuple[float, ...]]] = {"event read on each scan": [], "worker's copy": []}
        for n in range(rounds + 1):  # the first warms up and is not counted
            for name in figures:
                pool = f.checkin_pool()[:requests]
                sent.clear()
                answers: collections.Counter = collections.Counter()
                cpu, wall = time.process_time(), time.perf_counter()
                for token, body in pool:
                    if name == "event read on each scan":
                        seen._seen.clear()  # noqa: SLF001 - the bench drops the copies it measures without
                    answers[client.post("/api/v1/checkins", data=body, content_type="application/json",
                                        headers={"Authorization": f"Bearer {token}"}).status_code] += 1
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                if set(answers) != {201}:
                    raise RuntimeError(f"{name}: answers {dict(answers)}, not 201 alone")
                if n:
                    figures[name].append((cpu / len(pool), wall / len(pool), sent["statement"] / len(pool)))
    print(f"{requests} check-ins a round on {built['database']}, {rounds} rounds, medians per request (load "
          f"{os.getloadavg()[0]:.1f})")
    for name, rows in figures.items():
        cpu, wall, sql = (statistics.median(row[i] for row in rows) for i in range(3))
        print(f"  {name:24} CPU {cpu * 1e6:6.0f} µs, wall {wall * 1e6:6.0f} µs, statements {sql:.2f} (rounds' CPU "
              f"µs: {', '.join(f'{row[0] * 1e6:.0f}' for row in rows)})")


def _counted(sent: collections.Counter, send, *args, **options):
    sent[args[0]] += 1
    return send(*args, **options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", action="append", type=Path, help="a checkout to serve (repeat to compare)")
    parser.add_argument("--database-url", default=None, help="a PostgreSQL server (default: SQLite)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="also sample one worker of each with py-spy")
    parser.add_argument("--shares", type=Path, nargs="*", help="only print the shares of these saved profiles")
    parser.add_argument("--rate-limits", type=int, metavar="N", help="only measure the scan limit, N requests a round")
    parser.add_argument("--checkins", type=int, metavar="N", help="only measure the check-in, N requests a round")
    args = parser.parse_args()
    if args.checkins:
        checkin_cost(args.database_url, args.checkins, args.rounds)
        return
    if args.rate_limits:
        rate_limit_cost(args.redis_url, args.rate_limits, args.rounds)
        return
    if args.shares:
        for samples in args.shares:
            print(samples.name, shares(samples))
        return
    roots = [root.resolve() for root in (args.root or [ROOT])]
    redis_url = rate_limit_storage(args.redis_url)
    with ExitStack() as stack:
        built = stack.enter_context(city.built("community", args.database_url, f"cpu_{os.getpid()}", verify=False))
        f = Fixtures(built["url"], built["first_community_id"])
        stack.callback(f.close)
        servers = [stack.enter_context(server(built["url"], redis_url, root=root)) for root in roots]
        runs: dict = {}
        paths = {"checkin": ("/api/v1/checkins", f.checkin_pool), "redeem": ("/api/v1/redemptions", f.redemption_pool)}
        for n in range(args.rounds + 1):  # round 0 warms the workers up and is not counted
            for what, (path, pool) in paths.items():
                for root, (base, master) in zip(roots, servers, strict=True):
                    result = measured(base, master, path, 2 if n == 0 else args.seconds, pool(), f"{n}{what}{root}")
                    if n:
                        runs.setdefault((what, root), []).append(result)
        for (what, root), results in runs.items():
            each = ", ".join(f"{r['cpu_ms']:.2f}" for r in results)
            print(f"{what:8} {root}: CPU {statistics.median(r['cpu_ms'] for r in results):.2f} ms/request "
                  f"(rounds {each}), "
                  f"{statistics.median(r['rps'] for r in results):.0f} req/s, non-2xx {sum(r['bad'] for r in results)}")
        if args.profile:
            for what, (path, pool) in paths.items():
                for root, (base, master) in zip(roots, servers, strict=True):
                    samples = profile(base, master, path, args.seconds, pool(), f"{what}-{root.name}")
                    print(f"{what:8} {root}: py-spy shares % {shares(samples)} ({samples})")


if __name__ == "__main__":
    main()
