"""What a gunicorn worker costs in memory, with and without `--preload`: RSS and PSS of every warmed worker.

RSS counts every page a process maps, also the ones it shares with its master and its siblings: four workers of
~100 MB RSS do not take 400 MB. PSS (proportional set size, /proc/<pid>/smaps_rollup) counts a page shared by n
processes as 1/n in each, so the PSS of the master and its workers adds up to what they take together. With
`--preload` (gunicorn.conf.py, as `make serve` runs) the app is imported once in the master and the workers share
its pages until they write to them; without it each worker imports everything on its own.

For each variant it starts gunicorn on a generated community (bench/city.py, SQLite or the PostgreSQL server of
--database-url) as bench/run.py does, warms every worker with the hot requests (check-ins, redemptions, /me, a
leaderboard and the dashboard over the API, the home page, the dashboard and the events pages signed in as staff),
and prints each worker's RSS, PSS and private memory (also its private memory right after it booted, before the
warm-up: what the requests themselves made private), the master's, and the sum of all PSS. Variants run in turn,
round after round; with --root, each checkout's gunicorn.conf.py and app in turn too.

    .venv/bin/python bench/memory.py                                  # SQLite, fork vs preload, 1 round
    .venv/bin/python bench/memory.py --database-url postgresql://postgres@127.0.0.1:5432/test --rounds 2
    .venv/bin/python bench/memory.py --variants preload --env MALLOC_ARENA_MAX=2   # one setting tried
    .venv/bin/python bench/memory.py --variants preload --root /work/main --root . --rounds 2   # two checkouts
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import urllib.error
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from bench import city, common  # noqa: E402
from bench.run import ROOT, Fixtures, _signed_in, rate_limit_storage, server, workers_of, wrk  # noqa: E402
from domain import ledger  # noqa: E402
from domain.accounts import hash_password  # noqa: E402
from models import User, db  # noqa: E402

#: What each variant changes in gunicorn.conf.py (appended to it): "preload" is `make serve` as it is (the app loaded
#: and warmed in the master, app.share_before_fork); a checkout's own gunicorn.conf.py says what that is (--root).
VARIANTS = {"fork": "preload_app = False", "preload": ""}
#: Fields of /proc/<pid>/smaps_rollup read (kB).
FIELDS = ("Rss", "Pss", "Private_Clean", "Private_Dirty", "Anonymous")


def process_mb(pid: int) -> dict[str, float]:
    """RSS, PSS and private memory (pages no other process maps) of a process, in MB."""
    kb = common.smaps_kb(pid)
    return {"rss": kb["Rss"] / 1024, "pss": kb["Pss"] / 1024,
            "private": (kb["Private_Clean"] + kb["Private_Dirty"]) / 1024}


@contextmanager
def variant_server(url: str, redis_url: str | None, variant: str, workers: int, env: dict[str, str],
                   conf_lines: str = "", root: Path = ROOT):
    """bench.run.server serving the checkout `root` with its gunicorn.conf.py plus `conf_lines` and the variant's
    lines (through GUNICORN_CMD_ARGS="--config ..."), and `env` set for the server's processes."""
    with tempfile.NamedTemporaryFile("w", suffix=".conf.py", delete=False) as file:
        file.write(f"__file__ = {str(root / 'gunicorn.conf.py')!r}\n"
                   "exec(compile(open(__file__).read(), __file__, 'exec'))\n"
                   f"{conf_lines}\n{VARIANTS[variant]}\n")
    saved = dict(os.environ)
    os.environ.update(env, GUNICORN_CMD_ARGS=f"--config {file.name}")
    try:
        with server(url, redis_url, workers, root=root) as (base, master):
            os.environ.clear()
            os.environ.update(saved)
            yield base, master
    finally:
        os.environ.clear()
        os.environ.update(saved)
        os.unlink(file.name)


def _posted(url: str, seconds: int, pool, round_id: str) -> int:
    """wrk's POSTs of a fresh `pool()`: the errors. When no request finished within the round (a cold worker on a busy
    machine), bench.run.wrk times a few GETs one by one instead, which a POST route refuses: then once more."""
    for attempt in range(3):
        try:
            return wrk(url, seconds, pool=pool(), round_id=f"{round_id}{attempt}")["errors"]
        except urllib.error.HTTPError:
            continue
    raise RuntimeError(f"{url}: no request answered within {seconds} s, three times")


def warm(base: str, f: Fixtures, staff_phone: str, seconds: int) -> dict[str, int]:
    """The hot requests, enough of each for every worker to serve some: errors (non-2xx) per request kind."""
    month = datetime.now(UTC).astimezone(ledger.SHANGHAI).strftime("%Y-%m")
    area = f.community_id
    errors = {
        "checkin": _posted(f"{base}/api/v1/checkins", seconds, f.checkin_pool, "m0"),
        "redeem": _posted(f"{base}/api/v1/redemptions", seconds, f.redemption_pool, "m1"),
        "me": wrk(f"{base}/api/v1/me", seconds, token=f.reader)["errors"],
        "board": wrk(f"{base}/api/v1/leaderboards?area_id={area}&period={month}&metric=points", seconds,
                     token=f.reader)["errors"],
        "dash": wrk(f"{base}/api/v1/areas/{area}/dashboard?months=12", seconds, token=f.staff_token)["errors"],
    }
    opener = _signed_in(base, staff_phone)

    def page(path: str) -> int:
        with opener.open(f"{base}{path}", timeout=120) as answer:
            answer.read()
            return answer.status

    for path in ("/", f"/areas/{area}/dashboard", "/events"):
        with ThreadPoolExecutor(8) as pool:
            errors[path] = sum(status != 200 for status in pool.map(page, [path] * 48))
    return errors


def measure(url: str, redis_url: str | None, f: Fixtures, staff_phone: str, variant: str, root: Path,
            args) -> dict:
    with variant_server(url, redis_url, variant, args.workers, args.env, "\n".join(args.conf), root) as (base,
                                                                                                       master):
        workers = sorted(workers_of(master))
        booted = [process_mb(pid)["private"] for pid in workers]
        errors = warm(base, f, staff_phone, args.seconds)
        return {"variant": variant if root == ROOT else f"{variant} {root}", "errors": errors,
                "master": process_mb(master),
                "workers": [process_mb(pid) | {"booted": mb} for pid, mb in zip(workers, booted, strict=True)]}


def staff_with_password(f: Fixtures) -> str:
    """The community's staff member, given bench/common.py's PASSWORD to sign in to the pages: its phone."""
    with f.app.app_context():
        staff = db.session.get(User, f.staff_id)
        staff.password_hash = hash_password(common.PASSWORD)
        db.session.commit()
        return staff.phone


def summary(m: dict) -> dict:
    workers = m["workers"]
    return {key: round(statistics.median(w[key] for w in workers), 1) for key in ("rss", "pss", "private",
                                                                                   "booted")} | {
        "total_pss": round(m["master"]["pss"] + sum(w["pss"] for w in workers), 1)}


def print_round(n: int, m: dict) -> None:
    print(f"\nround {n + 1}, {m['variant']}: {'':<10}{'RSS MB':>9}{'PSS MB':>9}{'private MB':>12}"
          f"{'(at boot)':>11}")
    rows = [("master", m["master"])] + [(f"worker {i + 1}", w) for i, w in enumerate(m["workers"])]
    for name, p in rows:
        boot = f"{p['booted']:>11.1f}" if "booted" in p else ""
        print(f"  {name:<28}{p['rss']:>9.1f}{p['pss']:>9.1f}{p['private']:>12.1f}{boot}")
    s = summary(m)
    print(f"  {'workers, median':<28}{s['rss']:>9.1f}{s['pss']:>9.1f}{s['private']:>12.1f}{s['booted']:>11.1f}")
    print(f"  master and workers together: PSS {s['total_pss']:.1f} MB; warm-up errors {m['errors']}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_database_argument(parser)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--seconds", type=int, default=3, help="of wrk per hot request while warming")
    parser.add_argument("--variants", default="fork,preload", help=f"among {', '.join(VARIANTS)}")
    parser.add_argument("--root", action="append", type=Path,
                        help="a checkout to serve (repeat to compare; default: this one)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable for the servers (e.g. MALLOC_ARENA_MAX=2); repeatable")
    parser.add_argument("--conf", action="append", default=[], metavar="LINE",
                        help="a line of gunicorn settings or hooks added to gunicorn.conf.py's; repeatable")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
                        help="rate limits counted there, as in production ('': in each worker's memory)")
    args = parser.parse_args()
    args.env = dict(item.split("=", 1) for item in args.env)
    roots = [root.resolve() for root in (args.root or [ROOT])]
    variants = [(variant, root) for variant in args.variants.split(",") for root in roots]
    print(f"load: {Path('/proc/loadavg').read_text().strip()}; env: {args.env or 'as is'}")
    measured: dict[str, list[dict]] = {}
    with ExitStack() as stack:
        built = stack.enter_context(city.built("community", args.database_url, f"bench_memory_{os.getpid()}",
                                               verify=False))
        redis_url = rate_limit_storage(args.redis_url)
        f = Fixtures(built["url"], built["first_community_id"])
        stack.callback(f.close)
        staff_phone = staff_with_password(f)
        for n in range(args.rounds):
            for variant, root in variants:
                m = measure(built["url"], redis_url, f, staff_phone, variant, root, args)
                measured.setdefault(m["variant"], []).append(m)
                print_round(n, m)
    print(f"\n{'':<10}{'worker RSS':>12}{'worker PSS':>12}{'private':>10}{'at boot':>10}{'all PSS':>10}   (MB; "
          f"medians of {args.workers} workers, then of {args.rounds} round(s))")
    for variant, runs in measured.items():
        s = [summary(m) for m in runs]
        cells = [statistics.median(x[key] for x in s) for key in ("rss", "pss", "private", "booted", "total_pss")]
        label = variant if len(variant) < 10 else f"{variant}\n{'':<10}"
        print(f"{label:<10}{cells[0]:>12.1f}{cells[1]:>12.1f}" + "".join(f"{c:>10.1f}" for c in cells[2:]))
    print(f"load: {Path('/proc/loadavg').read_text().strip()}")


if __name__ == "__main__":
    main()
