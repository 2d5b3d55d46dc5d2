"""Flask extensions other than the database, bound to the app in `create_app`."""

import functools

import click
from flask import Flask, current_app, request, session
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, current_user
from flask_wtf import CSRFProtect

from blueprints import ratelimit
from blueprints.api.core import bearer_caller
from models import transaction

LANGUAGES = ("zh", "en")


class LazyMigrate:
    """Flask-Migrate, imported on first use: it brings Alembic, Mako and Pygments (~8 MB a worker) that only
    `flask db` and the migration helpers (`flask_migrate.upgrade`) need, never a request. `init_app` takes
    Flask-Migrate's arguments."""

    def init_app(self, app: Flask, db, **options) -> None:
        app.extensions["migrate"] = _PendingMigrate(app, db, options)
        app.cli.add_command(_MigrationCommands("db", help="Perform database migrations."))


class _PendingMigrate:
    """Stands in `app.extensions["migrate"]` until something reads it, then binds Flask-Migrate for real (which
    puts its own state there) and answers from that."""

    def __init__(self, app: Flask, db, options: dict):
        self.app, self.db, self.options = app, db, options

    def __getattr__(self, name: str):
        from flask_migrate import Migrate

        Migrate(**self.options).init_app(self.app, self.db)
        return getattr(self.app.extensions["migrate"], name)


class _MigrationCommands(click.Group):
    """`flask db`: Flask-Migrate's command group, imported only when a `flask db` command runs."""

    @staticmethod
    def _commands() -> click.Group:
        from flask_migrate.cli import db

        return db

    def make_context(self, info_name, args, parent=None, **extra):
        return self._commands().make_context(info_name, args, parent=parent, **extra)

    def list_commands(self, ctx):
        return self._commands().list_commands(ctx)

    def get_command(self, ctx, name):
        return self._commands().get_command(ctx, name)


csrf = CSRFProtect()
login_manager = LoginManager()
migrate = LazyMigrate()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def caller_key() -> str:
    """Whose counter a request counts against: the signed-in person (page session or API bearer token), else the
    remote address. Neighbours behind one community centre's router then do not share one budget."""
    user = bearer_caller() if request.path.startswith("/api/") else None
    if user is None and current_user.is_authenticated:
        user = current_user
    return f"user:{user.id}" if user is not None else get_remote_address()


def limited(scope: str, setting: str, methods: list[str] | None = None, *, key_func=caller_key,
            only_with_files: bool = False):
    """The rate limit named by config `setting`, one counter per caller (by default `caller_key`) shared by every
    route of `scope` (a page and its API twin count together). `only_with_files`: only requests that carry a file
    count (a form whose photos are optional costs nothing when sent without)."""
    def windows() -> str:
        return current_app.config[setting]

    ratelimit.counted_together(scope, windows)  # in Redis, all its windows in one round trip
    return limiter.shared_limit(windows, scope=scope, key_func=key_func,
                                methods=methods, exempt_when=_carries_no_file if only_with_files else None)


def verify_limited():
    """CERTIFICATE_VERIFY_RATE_LIMIT (app.py): the public check of a certificate's or an honour's
    number, page and API alike, each route counted on its own."""
    return limiter.limit(lambda: current_app.config["CERTIFICATE_VERIFY_RATE_LIMIT"])


def _carries_no_file() -> bool:
    # A form's empty file input still arrives as a part, without a name.
    return not any(upload.filename for _field, upload in request.files.items(multi=True))


def photos_limited():
    """PHOTO_RATE_LIMIT: every route that stores photos counts against this one budget per person."""
    return limited("photos", "PHOTO_RATE_LIMIT", methods=["POST"], only_with_files=True)


def select_locale() -> str:
    """The language chosen in this session, else Chinese: the product's default."""
    chosen = session.get("lang") if request else None
    return chosen if chosen in LANGUAGES else "zh"


babel = Babel()


def writes_on_get(view):
    """A GET view that writes on purpose (the check-in link a phone's camera opens): its writes take SQLite's write
    lock up front, as a POST's do, instead of running in a read transaction (which fails at once when another
    writer got in first)."""
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        transaction.writing()
        return view(*args, **kwargs)
    return wrapped
