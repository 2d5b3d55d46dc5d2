"""Flask extensions other than the database, bound to the app in `create_app`."""

from flask import request, session
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_wtf import CSRFProtect

LANGUAGES = ("zh", "en")

csrf = CSRFProtect()
login_manager = LoginManager()
migrate = Migrate()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def select_locale() -> str:
    """The language chosen in this session, else Chinese: the product's default."""
    chosen = session.get("lang") if request else None
    return chosen if chosen in LANGUAGES else "zh"


babel = Babel()
