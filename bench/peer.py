"""Our check-in against a peer's, pretix (bench/peers/pretix_peer.py), on the same machine, database server and Redis.

Our app serves a fresh city (bench/city.py, district scale unless told) with gunicorn as bench/run.py serves it;
pretix serves its own database with gunicorn the same way (4 sync workers, 127.0.0.1). wrk drives them in
alternating runs, round after round (ours, pretix, ours, pretix, ...), 16 connections:

  ours   checkin        POST /api/v1/checkins: a person checks in with an event's code, each request a new
                        (person, event)
  pretix redeem         POST /api/v1/organizers/<o>/checkinrpc/redeem/ by its check-in device, each request a
                        different paid position's secret
  ours   scan           POST /api/v1/events/<id>/scans: staff scan a person's own code, each request a new
                        (person, event), spread over many scanners so the per-scanner SCAN_RATE_LIMIT is not
                        what is measured
  pretix redeem_again   a secret already redeemed: pretix answers 400 "already_redeemed"
  ours   checkin_again  a person already checked in: 200 "already_checked_in"
  ours   scan_again     a person already checked in, scanned again (a new nonce each time): 200

Every answer is checked (bench/checked.lua): one that is not what the measure expects (201, or the documented
"already" answer) is an error, and so is a socket error; each side's answers were tried once over HTTP before the
rounds. Per measure: the median req/s, p50 and p99 of the rounds, errors and wrapped pools over all of them, and
the workers' CPU per request (their utime + stime from /proc, over the requests wrk counted). Afterwards each
side's workers' memory: RSS and PSS (ours preloaded as `make serve` runs it, gunicorn.conf.py: the pages the
workers share counted once in PSS). It prints a table and the ratios ours / pretix against the issue's goals, the
machine's load before and after, and writes bench/results/peer-<time>.json.

pretix comes from bench/peers/pretix_peer.py (installed, migrated and seeded when missing; its database copied
afresh from the seeded template before each run). --peer-url/--peer-pid/--peer-data measure a peer already serving
instead (tests/test_bench_peer.py's stand-in answers in pretix's shape).

    .venv/bin/python bench/peer.py --database-url postgresql://postgres@127.0.0.1:5432/test   # `make bench-peer`
    .venv/bin/python bench/peer.py --database-url ... --scale community --rounds 1 --seconds 3   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from sqlalchemy import insert, select  # noqa: E402

from bench import city, common, run  # noqa: E402
from bench.peers import pretix_peer  # noqa: E402
from domain import events  # noqa: E402
from models import Event, Role, RoleGrant, User, db  # noqa: E402

#: What each measure's every answer must be, as "<status> <body>" (a Lua pattern, bench/checked.lua).
EXPECT = {
    "checkin": "^201 ", "scan": "^201 ",
    "checkin_again": "^200 .-already_checked_in", "scan_again": "^200 .-already_checked_in",
    "redeem": '^201 .-"status":%s*"ok"', "redeem_again": "^400 .-already_redeemed",
}
#: The order of one round: ours and the peer's in turn.
ROUND = [("ours", "checkin"), ("pretix", "redeem"), ("ours", "scan"), ("pretix", "redeem_again"),
         ("ours", "checkin_again"), ("ours", "scan_again")]
#: People checked in once before the rounds, whose check-ins and scans are then repeated ("already"): enough that
#: each stays below the scan limit of 120 a minute at 300 req/s.
AGAIN_PEOPLE = 400
#: Positions redeemed once before the rounds, redeemed again and again in redeem_again.
AGAIN_SECRETS = 50
#: Scanners per pool of scans: at most ~60 requests each in a 10 s round at 300 req/s, below 120 a minute.
SCANNERS = 100


class PeerFixtures(run.Fixtures):
    """bench/run.py's fixtures plus what scans need: staff to scan, and people's own codes."""

    def __init__(self, url: str, community_id: int, again: int = AGAIN_PEOPLE):
        super().__init__(url, community_id)
        self.people = list(self.tokens)
        self.again = self.people[:again]

    def scanners(self, count: int = SCANNERS) -> list[str]:
        """Tokens of `count` new staff of the community."""
        now = datetime.now(UTC)
        with self.app.app_context():
            ids = db.session.scalars(insert(User).returning(User.id), [
                {"name": "扫码员", "phone": f"s{secrets.token_hex(8)}", "active": True, "created_at": now}
                for _ in range(count)]).all()
            db.session.execute(insert(RoleGrant), [
                {"user_id": user_id, "role": Role.staff, "area_id": self.community_id, "created_at": now}
                for user_id in ids])
            db.session.commit()
            return list(self._tokens(ids).values())

    def scan_pool(self, opened: list[Event], people: list[int], round_id: str, repeat: int = 1
                  ) -> list[tuple[str, str, str]]:
        """(a scanner's token, body, path) scanning each of `people` in at each event of `opened` (`repeat` times,
        each with its own nonce), shuffled, spread over SCANNERS new scanners; the people's codes are of this
        moment."""
        scanners = self.scanners()
        with self.app.app_context():
            codes = [events.personal_code(person).token
                     for person in db.session.scalars(select(User).where(User.id.in_(people)))]
        scans = [(f"/api/v1/events/{event.id}/scans", code) for event in opened for code in codes] * repeat
        secrets.SystemRandom().shuffle(scans)
        return [(scanners[n % len(scanners)],
                 json.dumps({"token": code, "action": "in", "nonce": f"{round_id}-{n}"}), path)
                for n, (path, code) in enumerate(scans)]

    def checkin_again_pool(self, event: Event) -> list[tuple[str, str]]:
        again = {self.tokens[person] for person in self.again}
        return [(token, body) for token, body in self.checkin_pool([event]) if token in again]


def _post(url: str, authorization: str, body: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body.encode(), method="POST", headers={  # noqa: S310
        "Content-Type": "application/json", "Authorization": authorization})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310 - our own servers
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _auth(token: str) -> str:
    return token if " " in token else f"Bearer {token}"


def _send_all(url: str, pool: list[tuple[str, ...]], status: int, word: str) -> None:
    """Each request once (4 at a time; to its own path if it names one); each answer must be `status` with `word`
    in its body."""
    with ThreadPoolExecutor(4) as threads:
        for answer in threads.map(lambda item: _post(url + (item[2] if len(item) > 2 else ""), _auth(item[0]),
                                                     item[1]), pool):
            if answer[0] != status or word not in json.dumps(answer[1]):
                raise RuntimeError(f"{url}: expected {status} {word}, got {answer}")


class Sides:
    """Both servers and the pools each measure sends."""

    def __init__(self, f: PeerFixtures, ours: str, peer: str, data: dict, rounds: int):
        self.f, self.ours = f, ours
        self.redeem = f"{peer}/api/v1/organizers/{data['organizer']}/checkinrpc/redeem/"
        auth = f"{data['auth']} {data['token']}"
        self.redeemed = [(auth, json.dumps({"secret": s, "lists": [data["list"]]}))
                         for s in data["secrets"][:AGAIN_SECRETS]]
        fresh = data["secrets"][AGAIN_SECRETS:]
        share = len(fresh) // rounds
        self.fresh = [[(auth, json.dumps({"secret": s, "lists": [data["list"]]})) for s in fresh[n * share:
                                                                                                  (n + 1) * share]]
                      for n in range(rounds)]
        self.again_event = f.open_events(1)[0]

    def check_answers(self) -> None:
        """Each side's answers, once over HTTP, before anything is measured: the first time and again."""
        f = self.f
        again = f.checkin_again_pool(self.again_event)
        _send_all(f"{self.ours}/api/v1/checkins", again, 201, "checked_in")
        _send_all(f"{self.ours}/api/v1/checkins", again[:1], 200, "already_checked_in")
        _send_all(self.ours, f.scan_pool(f.open_events(1), f.again[:1], "check"), 201, "checked_in")
        _send_all(self.ours, f.scan_pool([self.again_event], f.again[:1], "check-again"), 200, "already_checked_in")
        _send_all(self.redeem, self.redeemed, 201, '"ok"')
        _send_all(self.redeem, self.redeemed[:1], 400, "already_redeemed")

    def target(self, measure: str, n: int) -> tuple[str, list[tuple[str, ...]]]:
        """The URL and the pool of one measure in round n (fresh codes: they live 30 to 60 s)."""
        f = self.f
        if measure == "checkin":
            return f"{self.ours}/api/v1/checkins", f.checkin_pool()
        if measure == "checkin_again":
            return f"{self.ours}/api/v1/checkins", f.checkin_again_pool(self.again_event)
        if measure == "scan":  # every person at each of new events (the path in the pool names the event)
            return f"{self.ours}/api/v1/events/0/scans", f.scan_pool(f.open_events(), f.people, f"{n}{measure}")
        if measure == "scan_again":  # the people already in at the again event, many times over, new nonces
            return (f"{self.ours}/api/v1/events/0/scans",
                    f.scan_pool([self.again_event], f.again, f"{n}{measure}", repeat=run.EVENTS_PER_ROUND))
        if measure == "redeem":
            return self.redeem, self.fresh[n]
        return self.redeem, self.redeemed


def workers(master: int) -> list[int]:
    """gunicorn's workers, or the process itself when it has no children (a stand-in serving alone)."""
    return run.workers_of(master) or [master]


def measure_once(url: str, pool: list[tuple[str, ...]], expect: str, master: int, *, seconds: int,
                 connections: int, round_id: str) -> dict:
    pids = workers(master)
    before = common.cpu_seconds(pids)
    result = run.wrk(url, seconds, pool=pool, round_id=round_id, connections=connections, expect=expect)
    requests = result["rps"] * seconds
    result["cpu_ms"] = round((common.cpu_seconds(pids) - before) * 1000 / requests, 2) if requests else float("nan")
    return result


def memory(master: int) -> dict:
    """Each worker's RSS and PSS (MB): the median and the largest."""
    pids = workers(master)
    return run.worker_memory_mb(pids) | {"workers": len(pids)}


@contextmanager
def peer_server(args):
    """(base URL, pid whose workers serve, data): the stand-in named on the command line, or pretix."""
    if args.peer_url:
        yield args.peer_url, args.peer_pid, json.loads(Path(args.peer_data).read_text())
        return
    data = pretix_peer.setup(args.database_url, args.positions)
    with pretix_peer.serve(args.workers) as (base, master):
        yield base, master, data


def run_peer(args) -> dict:
    """The whole measure (see the module's doc); returns what is written to the JSON."""
    rounds, seconds, connections = args.rounds, args.seconds, args.connections
    redis_url = run.rate_limit_storage(args.redis_url)
    runs: dict[str, dict[str, list[dict]]] = {"ours": {}, "pretix": {}}
    out: dict = {}
    with ExitStack() as stack:
        built = stack.enter_context(city.built(args.scale, args.database_url, f"peer_{args.scale}_{os.getpid()}",
                                               verify=False))
        print(f"ours: {args.scale} generated in {built['generate_s']} s on {built['database']}", flush=True)
        began = time.monotonic()
        f = PeerFixtures(built["url"], built["first_community_id"], args.again)
        stack.callback(f.close)
        servers = stack.enter_context(ExitStack())
        ours, ours_master = servers.enter_context(run.server(built["url"], redis_url, args.workers))
        peer, peer_master, data = servers.enter_context(peer_server(args))
        sides = Sides(f, ours, peer, data, rounds)
        print(f"both serving ({time.monotonic() - began:.0f} s): ours {ours}, {data['auth']} peer {peer}", flush=True)
        sides.check_answers()
        print(f"answers checked ({time.monotonic() - began:.0f} s); {rounds} rounds of {len(ROUND)} × {seconds} s",
              flush=True)
        masters = {"ours": ours_master, "pretix": peer_master}
        for name in ("checkin_again", "redeem_again"):  # warm every worker up
            url, pool = sides.target(name, 0)
            run.wrk(url, 1, pool=pool, round_id=f"warm{name}", connections=connections)
        for n in range(rounds):
            for side, name in ROUND:
                url, pool = sides.target(name, n)
                runs[side].setdefault(name, []).append(measure_once(
                    url, pool, EXPECT[name], masters[side], seconds=seconds, connections=connections,
                    round_id=f"{n}{name}"))
        out["memory"] = {"ours": memory(ours_master), "pretix": memory(peer_master)}
        out["positions"] = len(data["secrets"])
    out["results"] = {side: {name: run.median_of(r) | {"cpu_ms": statistics.median(m["cpu_ms"] for m in r)}
                             for name, r in measured.items()} for side, measured in runs.items()}
    return out


def ratios(results: dict, memory_mb: dict) -> dict:
    ours, theirs = results["ours"], results["pretix"]
    summary = {}
    for name, peer_name in (("checkin", "redeem"), ("scan", "redeem"), ("checkin_again", "redeem_again")):
        summary[f"{name}_rps"] = run.ratio(ours[name]["rps"], theirs[peer_name]["rps"])
        summary[f"{name}_p50"] = run.ratio(ours[name]["p50"], theirs[peer_name]["p50"])
        summary[f"{name}_p99"] = run.ratio(ours[name]["p99"], theirs[peer_name]["p99"])
        summary[f"{name}_cpu"] = run.ratio(ours[name]["cpu_ms"], theirs[peer_name]["cpu_ms"])
    pretix_rss = memory_mb["pretix"]["rss_mb"]["max"]
    summary["rss/pretix_rss"] = run.ratio(memory_mb["ours"]["rss_mb"]["max"], pretix_rss)
    summary["pss/pretix_rss"] = run.ratio(memory_mb["ours"]["pss_mb"]["max"], pretix_rss)
    summary["pss/pretix_pss"] = run.ratio(memory_mb["ours"]["pss_mb"]["max"], memory_mb["pretix"]["pss_mb"]["max"])
    return summary


#: The issue's goals for ours / pretix: (ratio, at least or at most, value).
GOALS = [("checkin_rps", ">=", 10), ("checkin_p99", "<=", 0.1), ("scan_rps", ">=", 10), ("scan_p99", "<=", 0.1),
         ("pss/pretix_rss", "<=", 0.2)]


def print_report(result: dict) -> None:
    print(f"\n{'side':<8}{'measure':<15}{'req/s':>9}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}{'wrapped':>8}"
          f"{'CPU ms/req':>12}")
    for side, measured in result["results"].items():
        for name, m in measured.items():
            print(f"{side:<8}{name:<15}{m['rps']:>9,.1f}{m['p50']:>10.2f}{m['p99']:>10.2f}{m['errors']:>8}"
                  f"{m['wrapped']:>8}{m['cpu_ms']:>12.2f}")
    for side, m in result["memory"].items():
        print(f"{side:<15} worker RSS MB {m['rss_mb']}, PSS MB {m['pss_mb']} ({m['workers']} workers)")
    print("\nours / pretix: " + ", ".join(f"{name} {value}" for name, value in result["ratios"].items()))
    for name, sense, goal in GOALS:
        value = result["ratios"][name]
        met = value >= goal if sense == ">=" else value <= goal
        print(f"  goal {name} {sense} {goal}: {value} {'met' if met else 'NOT met'}")
    wrapped = [name for measured in result["results"].values() for name, m in measured.items()
               if m["wrapped"] and "again" not in name]
    if wrapped:
        print(f"WARNING: {', '.join(wrapped)} ran out of fresh requests and sent some again (their 'already' answers "
              "are counted as errors): a bigger --scale, or more pretix --positions")
    errors = sum(m["errors"] for measured in result["results"].values() for m in measured.values())
    print(f"errors over every round: {errors}; load average (1, 5, 15 min) before {result['load_before']}, "
          f"after {result['load_after']}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=list(city.SCALES), default="district")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"),
                        help="the PostgreSQL server of both sides (scratch databases; SQLite for ours without it)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=run.WORKERS, help="gunicorn's sync workers, each side")
    parser.add_argument("--positions", type=int, default=2_000, help="pretix's paid positions (its template)")
    parser.add_argument("--again", type=int, default=AGAIN_PEOPLE, help="people checked in before the rounds, "
                        "whose check-ins and scans are repeated")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
                        help="where our servers count rate limits, as in bench/run.py ('': in each worker)")
    parser.add_argument("--peer-url", help="a peer already serving, in pretix's shape, instead of pretix")
    parser.add_argument("--peer-pid", type=int, help="with --peer-url: the process whose workers serve it")
    parser.add_argument("--peer-data", help="with --peer-url: its organizer, list, auth, token and secrets (JSON)")
    parser.add_argument("--results", default=str(run.RESULTS), help="the folder of peer-<time>.json")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: `make bench-peer` installs it (apt-get install wrk)")
    if not args.peer_url and not args.database_url:
        raise SystemExit("pretix needs PostgreSQL: --database-url (or BENCH_DATABASE_URL)")
    started = datetime.now(UTC)
    load_before = [round(x, 2) for x in os.getloadavg()]
    result = {"started": started.isoformat(), "scale": args.scale, "rounds": args.rounds, "seconds": args.seconds,
              "connections": args.connections, "workers": args.workers,
              "peer": "stand-in" if args.peer_url else f"pretix {pretix_peer.VERSION}", "load_before": load_before}
    result |= run_peer(args)
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    result["ratios"] = ratios(result["results"], result["memory"])
    result["elapsed_s"] = round((datetime.now(UTC) - started).total_seconds(), 1)
    print_report(result)
    folder = Path(args.results)
    folder.mkdir(parents=True, exist_ok=True)
    written = folder / f"peer-{started:%Y%m%dT%H%M%SZ}.json"
    written.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"written: {written}")


if __name__ == "__main__":
    main()
