"""pretix, the peer bench/peer.py measures our check-in against: installed in a virtualenv of its own, set up on the
same PostgreSQL and Redis, and served the way we serve (gunicorn, 4 sync workers, 127.0.0.1).

Everything it makes stays out of git, beside this file: the virtualenv `.venv-pretix/` (pretix==VERSION and gunicorn,
installed only when missing) and `.pretix/` (its pretix.cfg, data folder, log, and peer.json: the organizer, the
check-in list, the device token and the secrets of the paid positions).

    setup   install when missing; pretix's database "<database of --database-url>_peer_pretix" made afresh as a copy
            of "..._peer_pretix_template", and Redis database 12 emptied. The template is built when missing (or
            with --fresh, or for another version or number of positions): `python -m pretix migrate` (minutes),
            then pretix_seed.py fills it through pretix's own ORM (an organizer, a live event with a ticket,
            --positions paid positions, a check-in list and a device). Run it before each measure: a measure
            checks positions in, the copy starts with none.
    serve   serve it in the foreground (Ctrl-C stops it), to try it by hand.
    drop    drop its database and the template.

No Celery broker is configured, so pretix runs its tasks (the check-in's log and webhook tasks) eagerly, inside the
request: their cost is counted in the worker, as ours is.

    .venv/bin/python bench/peers/pretix_peer.py setup --database-url postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))  # run as a script from anywhere

from bench import run  # noqa: E402

VERSION = "2026.8.0"
VENV = HERE / ".venv-pretix"
HOME = HERE / ".pretix"
CONFIG = HOME / "pretix.cfg"
#: What pretix_seed.py wrote: organizer, list, token, auth and the positions' secrets.
DATA = HOME / "peer.json"
#: What the template database holds: pretix's version and the positions seeded.
TEMPLATE = HOME / "template.json"
LOG = HOME / "gunicorn.log"
REDIS_URL = "redis://127.0.0.1:6379/12"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _python() -> str:
    return str(VENV / "bin" / "python")


def _env() -> dict:
    return {**os.environ, "PRETIX_CONFIG_FILE": str(CONFIG), "DJANGO_SETTINGS_MODULE": "pretix.settings"}


def install() -> None:
    """pretix==VERSION and gunicorn in VENV, only what is missing."""
    if not (VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    found = subprocess.run([_python(), "-c", "import importlib.metadata as m; print(m.version('pretix'))"],
                           capture_output=True, text=True)
    if found.stdout.strip() == VERSION and (VENV / "bin" / "gunicorn").exists():
        return
    print(f"installing pretix=={VERSION} into {VENV.relative_to(HERE.parent.parent)} (a few minutes) ...", flush=True)
    subprocess.run([_python(), "-m", "pip", "install", "-q", "--upgrade", "pip", "wheel"], check=True)
    subprocess.run([_python(), "-m", "pip", "install", "-q", f"pretix=={VERSION}", "gunicorn"], check=True)


def _database(url: str, suffix: str = "") -> tuple[dict, str]:
    """The server's connection parts and pretix's database name on it (or its template's, suffix "_template")."""
    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/') or 'postgres'}_peer_pretix{suffix}"
    return {"host": parts.hostname or "127.0.0.1", "port": parts.port or 5432, "user": parts.username or "postgres",
            "password": parts.password or ""}, name


def write_config(url: str, redis_url: str = REDIS_URL, suffix: str = "") -> None:
    server, name = _database(url, suffix)
    HOME.mkdir(exist_ok=True)
    (HOME / "data").mkdir(exist_ok=True)
    CONFIG.write_text(f"""[pretix]
instance_name=bench
url=http://127.0.0.1
currency=EUR
datadir={HOME / 'data'}
ecb_rates=off

[locale]
timezone=UTC

[django]
secret={secrets.token_hex(32)}
debug=off

[database]
backend=postgresql
name={name}
user={server['user']}
password={server['password']}
host={server['host']}
port={server['port']}

[redis]
location={redis_url}
sessions=true

[mail]
from=bench@localhost
""")


def _admin(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(scheme="postgresql"))


def _sql(url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(_admin(url), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def drop(url: str) -> None:
    _sql(url, *(f'DROP DATABASE IF EXISTS "{_database(url, suffix)[1]}" WITH (FORCE)' for suffix in ("", "_template")))
    TEMPLATE.unlink(missing_ok=True)


def _template(url: str, positions: int, redis_url: str) -> None:
    """The template database: migrated and seeded (see the module's doc)."""
    _, name = _database(url, "_template")
    _sql(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    write_config(url, redis_url, "_template")
    started = time.perf_counter()
    subprocess.run([_python(), "-m", "pretix", "migrate", "--noinput"], env=_env(), cwd=HOME, check=True,
                   stdout=subprocess.DEVNULL)
    migrated = time.perf_counter()
    subprocess.run([_python(), str(HERE / "pretix_seed.py"), str(DATA), str(positions)], env=_env(), cwd=HOME,
                   check=True)
    print(f"pretix migrated in {migrated - started:.0f} s, seeded in {time.perf_counter() - migrated:.0f} s",
          flush=True)
    TEMPLATE.write_text(json.dumps({"version": VERSION, "positions": positions, "database": name}))


def setup(url: str, positions: int, redis_url: str = REDIS_URL, *, fresh: bool = False) -> dict:
    """pretix's database afresh from its template (see the module's doc); returns what pretix_seed.py wrote."""
    import redis

    install()
    HOME.mkdir(exist_ok=True)
    wanted = {"version": VERSION, "positions": positions, "database": _database(url, "_template")[1]}
    if fresh or not DATA.exists() or not TEMPLATE.exists() or json.loads(TEMPLATE.read_text()) != wanted:
        _template(url, positions, redis_url)
    name, template = _database(url)[1], wanted["database"]
    _sql(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    write_config(url, redis_url)
    with redis.Redis.from_url(redis_url) as client:
        client.flushdb()
    return json.loads(DATA.read_text())


@contextmanager
def serve(workers: int = run.WORKERS, preload: bool = False):
    """pretix under gunicorn (sync workers, 127.0.0.1, a free port), as `setup` left it: yields (base URL, the
    master's pid) once every worker is up and its health check answers."""
    if not DATA.exists():
        raise SystemExit(f"pretix is not set up: run `{Path(sys.executable).name} {__file__} setup` first")
    port = run.free_port()
    command = [str(VENV / "bin" / "gunicorn"), "--no-control-socket", "--workers", str(workers),
               "--bind", f"127.0.0.1:{port}", "--timeout", "120", *(["--preload"] if preload else []),
               "pretix.wsgi:application"]
    with LOG.open("a") as log:
        process = subprocess.Popen(command, cwd=HOME, env=_env(), stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(base, process, workers)
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait(base: str, process: subprocess.Popen, workers: int, limit: float = 180) -> None:
    """Until gunicorn has its workers and each of a few health checks answers 200."""
    deadline = time.monotonic() + limit
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"pretix's gunicorn stopped: see {LOG}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"pretix did not answer in {limit} s: see {LOG}")
        try:
            if len(run.workers_of(process.pid)) == workers and all(
                    _healthy(base) for _ in range(2 * workers)):
                return
        except OSError:
            pass
        time.sleep(0.5)


def _healthy(base: str) -> bool:
    with urllib.request.urlopen(f"{base}/healthcheck/", timeout=30) as answer:  # noqa: S310 - our own server
        return answer.status == 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["setup", "serve", "drop"])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
                        help="the PostgreSQL server (pretix's database <its database>_peer_pretix is made there)")
    parser.add_argument("--redis-url", default=REDIS_URL, help="a Redis database nobody else uses (emptied)")
    parser.add_argument("--positions", type=int, default=2_000, help="paid positions to check in")
    parser.add_argument("--fresh", action="store_true", help="build the template again (migrate and seed)")
    args = parser.parse_args()
    if args.command == "setup":
        setup(args.database_url, args.positions, args.redis_url, fresh=args.fresh)
    elif args.command == "drop":
        drop(args.database_url)
    else:
        with serve() as (base, _pid):
            data = json.loads(DATA.read_text())
            print(f"pretix at {base}: POST {base}/api/v1/organizers/{data['organizer']}/checkinrpc/redeem/ "
                  f"with 'Authorization: {data['auth']} {data['token']}' (Ctrl-C stops)", flush=True)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass


if __name__ == "__main__":
    main()
