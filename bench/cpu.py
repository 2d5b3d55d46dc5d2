"""CPU per request of the hot paths (a check-in, a redemption, /me), this checkout against another one (a
baseline), both served by gunicorn on the same generated community, in alternating rounds.

For each round and side: wrk drives POST /api/v1/checkins (each request a new person and event), POST
/api/v1/redemptions and GET /api/v1/me (one reader); the workers' CPU time (utime + stime from /proc) is read before
and after, and divided by the requests wrk counted. With --profile, py-spy samples one worker of each side through
one more round of each path and prints the share of samples spent under the frames named by --frames (the bearer
token's lookup by default).

    .venv/bin/python bench/cpu.py --baseline /work/main --database-url postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/cpu.py --baseline /work/main --profile          # SQLite, with py-spy

The baseline checkout is served by this checkout's virtualenv, on a database migrated by this checkout. py-spy is
in the `test` extra; reading another process's memory may need root or ptrace rights.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere
sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # noqa: E402 - bench/run.py: fixtures, the server's helpers

from bench import city  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")
#: Frames of the bearer token's lookup, before (domain.accounts.token_user) and after (domain.callers).
LOOKUP_FRAMES = r"bearer_token \(blueprints/api/core\.py|bearer \(blueprints/api/core\.py"


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / TICKS


def load(url: str, pool: list[tuple[str, str]] | str, seconds: int, round_id: str) -> int:
    """wrk POSTing the pool's requests (bench/post.lua), or GETs with one token (`pool` a token), for `seconds`: how
    many requests it made; errors are reported."""
    command = ["wrk", "-t2", "-c16", f"-d{seconds}s", "--timeout", "10s"]
    with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False) as file:
        if isinstance(pool, str):
            command += ["-H", f"Authorization: Bearer {pool}", url]
        else:
            file.writelines(f"{token}\t{body}\n" for token, body in pool)
            command += ["-s", str(ROOT / "bench" / "post.lua"), url, "--", file.name, "2", round_id]
    try:
        out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    finally:
        os.unlink(file.name)
    errors = sum(int(n) for n in re.findall(r"(?:Non-2xx or 3xx responses|connect|read|write|timeout):? (\d+)", out))
    if errors:
        print(f"  {errors} errors in {url}", file=sys.stderr)
    return int(re.search(r"(\d+) requests in", out).group(1))


def measured(base: str, master: int, path: str, pool, seconds: int, round_id: str) -> float:
    """CPU milliseconds per request of the workers of `master` over one round."""
    workers = run.workers_of(master)
    before = cpu_seconds(workers)
    requests = load(base + path, pool, seconds, round_id)
    spent = cpu_seconds(workers) - before  # read before the drain: its GETs would count
    run.drain(base)
    return 1000 * spent / requests


def profiled(base: str, master: int, path: str, pool, seconds: int, round_id: str, frames: str) -> float:
    """The share (%) of py-spy's samples of one worker, over one round, that are under `frames`."""
    worker = run.workers_of(master)[0]
    with tempfile.NamedTemporaryFile(suffix=".txt", delete=False) as out:
        name = out.name
    spy = subprocess.Popen([shutil.which("py-spy") or str(ROOT / ".venv/bin/py-spy"), "record", "--pid", str(worker),
                            "--nonblocking", "--rate", "250", "--duration", str(seconds), "--format", "raw",
                            "--output", name], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    load(base + path, pool, seconds, round_id)
    spy.wait(timeout=seconds + 60)
    run.drain(base)
    samples = Counter()
    for line in Path(name).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        samples["all"] += int(count)
        if re.search(frames, stack):
            samples["under"] += int(count)
    os.unlink(name)
    return 100 * samples["under"] / max(samples["all"], 1)


def pool_of(fixtures: run.Fixtures, name: str):
    """What wrk sends on the path `name`: new check-ins, redemptions of people with points, or /me of one reader."""
    return {"checkin": fixtures.checkin_pool, "redeem": fixtures.redemption_pool,
            "me": lambda: fixtures.reader}[name]()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, required=True, help="the other checkout (e.g. /work/main)")
    parser.add_argument("--database-url", help="a PostgreSQL server (a scratch database is made there); else SQLite")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--profile", action="store_true", help="also sample one worker of each side with py-spy")
    parser.add_argument("--frames", default=LOOKUP_FRAMES, help="a regular expression of the frames to count")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    args = parser.parse_args()
    sides = {"baseline": args.baseline.resolve(), "this": ROOT}
    paths = {"checkin": "/api/v1/checkins", "redeem": "/api/v1/redemptions", "me": "/api/v1/me"}
    cpu: dict[tuple[str, str], list[float]] = {}
    shares: dict[tuple[str, str], float] = {}
    with ExitStack() as stack:
        built = stack.enter_context(city.built("community", args.database_url, f"bench_cpu_{os.getpid()}"))
        fixtures = run.Fixtures(built["url"], built["first_community_id"])
        stack.callback(fixtures.close)
        redis_url = run.rate_limit_storage(args.redis_url)
        servers = {side: stack.enter_context(run.server(built["url"], redis_url, root=root))
                   for side, root in sides.items()}
        for base, _master in servers.values():  # warm every worker up
            load(base + paths["checkin"], fixtures.checkin_pool(), 1, "warm")
            load(base + paths["redeem"], fixtures.redemption_pool(), 1, "warm")
            run.drain(base)
        for n in range(args.rounds):
            for side, (base, master) in servers.items():
                for name, path in paths.items():
                    pool = pool_of(fixtures, name)
                    cpu.setdefault((side, name), []).append(
                        measured(base, master, path, pool, args.seconds, f"{n}{side}{name}"))
        if args.profile:
            for side, (base, master) in servers.items():
                for name, path in paths.items():
                    pool = pool_of(fixtures, name)
                    shares[side, name] = profiled(base, master, path, pool, args.seconds, f"p{side}{name}",
                                                  args.frames)
    print(f"{'database':<11}{'path':<9}{'side':<10}{'CPU ms/request (median)':>24}  rounds"
          + ("   lookup share" if shares else ""))
    backend = "postgresql" if args.database_url else "sqlite"
    for name in paths:
        for side in sides:
            runs = cpu[side, name]
            share = f"   {shares[side, name]:.1f} %" if shares else ""
            print(f"{backend:<11}{name:<9}{side:<10}{statistics.median(runs):>24.2f}  "
                  + ", ".join(f"{r:.2f}" for r in runs) + share)


if __name__ == "__main__":
    main()
