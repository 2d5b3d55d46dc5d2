"""gunicorn's settings for `make serve`: gunicorn reads ./gunicorn.conf.py of the folder it starts in."""

import gc
import os
import sys
from pathlib import Path

#: Forwarded headers are believed by the app alone, as TRUSTED_PROXIES says (werkzeug's ProxyFix, app.py). gunicorn's
#: own default believes X-Forwarded-Proto from 127.0.0.1, which would mark a request HTTPS (and its session cookie
#: Secure) with TRUSTED_PROXIES=0, whatever sent it.
forwarded_allow_ips = ""

#: The app is loaded once, in the master, and each worker is forked from it: the workers share the master's pages of
#: the libraries and the app until they write to them, instead of each importing everything for itself. Nothing the
#: app opens is shared: create_app opens no connection and starts no thread, the master's warm-up (when_ready) closes
#: the connections it opened before the first fork, a forked worker starts with empty database pools
#: (models.base.fork_safe), its own SQLite writers' lock (models/sqlite.py) and Redis connections (redis-py's pools
#: notice the fork), and Python's random generator reseeded. A code change needs a restart, not a HUP.
#: bench/memory.py measures what it buys.
preload_app = True


def _refuse_without_secret() -> None:
    """Without a secret, one line and stop, before the master loads the app: create_app would stop it with a
    traceback."""
    from app import MissingSecret, instance_secret

    instance = Path(__file__).resolve().parent / "instance"
    if not os.environ.get("SECRET_KEY") and not instance_secret(instance):
        sys.exit(f"Error: {MissingSecret(instance).message}")


_refuse_without_secret()


def when_ready(server):
    """The master has loaded the app and forks no worker yet: what every worker would build on its first requests is
    built here once, and shared (app.share_before_fork: also a few requests that need no data and change nothing,
    after which the master holds no database connection; without a database, one line and the workers start)."""
    if server.cfg.preload_app:
        from app import share_before_fork

        share_before_fork(server.app.wsgi())


def pre_fork(server, worker):
    """The master's objects are moved out of the collector's sight before each fork: a worker's collections would
    otherwise write to every one of them (the collector's own bookkeeping in each object) and so copy nearly every
    shared page into the worker."""
    gc.freeze()
