"""CPU per request of the hot paths measured inside one process (time.process_time around Flask's test client, no
HTTP server, no wrk): steadier than a server's CPU on a busy machine. This checkout against another one (a
baseline), each run in its own process on the same generated community, in alternating runs; medians printed.

    .venv/bin/python bench/cpu_inprocess.py --baseline /work/main --database-url postgresql://postgres@127.0.0.1:5432/test

Measured per request: a check-in by a person the process has not seen yet, then by the same people again (another
event), a redemption likewise, and /me.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child(root: str, url: str, community_id: int, count: int) -> None:
    """One side's run, in the process of the checkout at `root`: prints its figures (ms per request) as JSON."""
    sys.path[:0] = [root, f"{root}/bench"]
    import run  # the checkout's own bench/run.py

    fixtures = run.Fixtures(url, community_id)
    client = fixtures.app.test_client()

    def call(path: str, token: str, body: str | None = None):
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        answer = client.post(path, data=body, headers=headers) if body else client.get(path, headers=headers)
        if answer.status_code not in (200, 201):
            raise RuntimeError(f"{path}: {answer.status_code} {answer.text}")

    def timed(calls) -> float:
        started = time.process_time()
        for one in calls:
            one()
        return 1000 * (time.process_time() - started) / len(calls)

    def fresh_code() -> str:  # a code lives 60 s: each pass gets a new event
        return fixtures.checkin_pool()[0][1]

    people = list(dict.fromkeys(token for token, _body in fixtures.checkin_pool()))[:count]
    spenders = fixtures.redemption_pool()[:count]
    code = fresh_code()
    timed([lambda t=t: call("/api/v1/checkins", t, code) for t in people[:50]])  # the code paths warmed
    out = {}
    for name in ("checkin_new_person", "checkin_known_person"):
        code = fresh_code()
        out[name] = timed([lambda t=t, c=code: call("/api/v1/checkins", t, c) for t in people[50:]])
    for name in ("redeem_new_person", "redeem_known_person"):
        out[name] = timed([lambda t=t, b=b: call("/api/v1/redemptions", t, b) for t, b in spenders])
    out["me"] = timed([lambda: call("/api/v1/me", fixtures.reader)] * len(people))
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, required=True, help="the other checkout (e.g. /work/main)")
    parser.add_argument("--database-url", help="a PostgreSQL server (a scratch database is made there); else SQLite")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--count", type=int, default=300, help="people (and spenders) per measure")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        root, url, community_id, count = args.child
        child(root, url, int(community_id), int(count))
        return
    sys.path.insert(0, str(ROOT))
    from bench import city

    sides = {"baseline": str(args.baseline.resolve()), "this": str(ROOT)}
    figures: dict[tuple[str, str], list[float]] = {}
    with city.built("community", args.database_url, f"bench_cpu_inprocess_{os.getpid()}", verify=False) as built:
        for _run in range(args.runs):
            for side, root in sides.items():
                out = subprocess.run([sys.executable, __file__, "--baseline", root, "--child", root, built["url"],
                                      str(built["first_community_id"]), str(args.count)],
                                     capture_output=True, text=True, cwd=root, check=True).stdout
                for name, value in json.loads(out.strip().splitlines()[-1]).items():
                    figures.setdefault((name, side), []).append(value)
    for (name, side), values in sorted(figures.items()):
        print(f"{name:<22}{side:<10}{statistics.median(values):8.2f} ms  " + ", ".join(f"{v:.2f}" for v in values))


if __name__ == "__main__":
    main()
