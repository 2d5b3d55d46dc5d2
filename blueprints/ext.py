"""Flask extensions other than the database, bound to the app in `create_app`."""

from flask import current_app, request, session
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, current_user
from flask_migrate import Migrate
from flask_wtf import CSRFProtect

LANGUAGES = ("zh", "en")

csrf = CSRFProtect()
login_manager = LoginManager()
migrate = Migrate()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def caller_key() -> str:
    """Whose counter a request counts against: the signed-in person (page session or API bearer token), else the
    remote address. Neighbours behind one community centre's router then do not share one budget."""
    from blueprints.api import bearer_caller  # the API package imports this module

    user = bearer_caller() if request.path.startswith("/api/") else None
    if user is None and current_user.is_authenticated:
        user = current_user
    return f"user:{user.id}" if user is not None else get_remote_address()


def limited(scope: str, setting: str, methods: list[str] | None = None):
    """The rate limit named by config `setting`, one counter per caller shared by every route of `scope` (a page
    and its API twin count together)."""
    return limiter.shared_limit(lambda: current_app.config[setting], scope=scope, key_func=caller_key,
                                methods=methods)


def select_locale() -> str:
    """The language chosen in this session, else Chinese: the product's default."""
    chosen = session.get("lang") if request else None
    return chosen if chosen in LANGUAGES else "zh"


babel = Babel()
