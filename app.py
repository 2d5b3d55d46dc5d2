"""The application factory: configuration, extensions, blueprints and CLI commands."""

from __future__ import annotations

import copy
import logging
import os
import secrets
from pathlib import Path

import click
from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

DEV_SECRET = "dev-only-secret-change-me"  # noqa: S105 - refused outside debug, see create_app


def database_url(raw: str | None) -> str | None:
    """DATABASE_URL as given by operators ('postgresql://...') mapped to the psycopg 3 driver."""
    if not raw:
        return None
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix):]
    return raw


def job_intervals(raw: str | None) -> dict[str, int]:
    """JOB_INTERVALS as given by operators, "events close=60,points expire=3600" ("*" for every job): seconds."""
    pairs = (item.rsplit("=", 1) for item in (raw or "").split(",") if "=" in item)
    return {name.strip(): int(seconds) for name, seconds in pairs}


#: Every setting of `Config` can be set from the environment as SANZHANG_<SETTING> (read by `from_environment`).
ENV_PREFIX = "SANZHANG"

#: Settings read under a name of their own, kept as they worked before the prefix: setting → environment variable.
SHORT_NAMES = {
    "SECRET_KEY": "SECRET_KEY",
    "SQLALCHEMY_DATABASE_URI": "DATABASE_URL",
    "RATELIMIT_STORAGE_URI": "REDIS_URL",
    **{name: name for name in ("SMS_BACKEND", "SMS_SIGN_NAME", "SMS_TEMPLATE_CODE", "SMS_ACCESS_KEY_ID",
                               "SMS_ACCESS_KEY_SECRET", "SMS_APP_ID", "SMS_REGION", "SMS_DEV_OUTBOX",
                               "TRUSTED_PROXIES", "JOB_INTERVALS", "JOB_POLL_SECONDS", "BENCH_ENDPOINTS",
                               "ACCESS_LOG")},
}

#: The settings an operator may change: each is in the README's table of settings under `env_name(setting)`
#: (tests/test_config.py checks it). A new setting of `Config` goes here or into FIXED_SETTINGS.
OPERATOR_SETTINGS = (
    "SECRET_KEY", "SQLALCHEMY_DATABASE_URI", "RATELIMIT_STORAGE_URI", "TRUSTED_PROXIES",
    "PERMANENT_SESSION_LIFETIME", "SESSION_IDLE_TIMEOUT", "MAX_CONTENT_LENGTH", "UPLOAD_FOLDER",
    "RATELIMIT_ENABLED", "RATELIMIT_HEADERS_ENABLED", "LOGIN_RATE_LIMIT", "SIGN_IN_FREE_TRIES", "SIGN_IN_DELAY",
    "SIGN_IN_MAX_DELAY", "SCAN_RATE_LIMIT", "VOTE_RATE_LIMIT", "NEED_RATE_LIMIT", "PHOTO_RATE_LIMIT",
    "CERTIFICATE_VERIFY_RATE_LIMIT", "SMS_RATE_LIMIT", "SMS_RESEND_SECONDS", "SMS_PER_PHONE_HOUR",
    "PASSWORD_AFTER_CODE_SECONDS", "SMS_BACKEND", "SMS_SIGN_NAME", "SMS_TEMPLATE_CODE", "SMS_ACCESS_KEY_ID",
    "SMS_ACCESS_KEY_SECRET", "SMS_APP_ID", "SMS_REGION", "SMS_DEV_OUTBOX", "ARGON2_PARAMS", "JOB_INTERVALS",
    "JOB_POLL_SECONDS", "ACCESS_LOG", "BENCH_ENDPOINTS", "WEBHOOK_TIMEOUT_SECONDS", "WEBHOOK_MAX_ATTEMPTS",
    "WEBHOOK_BACKOFF_SECONDS", "DASHBOARD_CACHE_SECONDS",
)
#: Settings of `Config` that are the code's own (they can still be set as SANZHANG_<SETTING>, undocumented).
FIXED_SETTINGS = (
    "SQLALCHEMY_ENGINE_OPTIONS", "SESSION_COOKIE_HTTPONLY", "SESSION_COOKIE_SAMESITE", "SESSION_REFRESH_EACH_REQUEST",
    "BABEL_DEFAULT_LOCALE", "BABEL_DEFAULT_TIMEZONE", "API_TITLE", "API_VERSION", "OPENAPI_VERSION",
    "OPENAPI_URL_PREFIX", "OPENAPI_JSON_PATH", "OPENAPI_SWAGGER_UI_PATH", "OPENAPI_SWAGGER_UI_URL",
)


def env_name(setting: str) -> str:
    """The environment variable an operator sets `setting` with."""
    return SHORT_NAMES.get(setting) or f"{ENV_PREFIX}_{setting}"


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY") or DEV_SECRET
    SQLALCHEMY_DATABASE_URI = database_url(os.environ.get("DATABASE_URL"))
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    #: Absolute time-out of a page session, counted from sign-in (seconds); see blueprints/auth.py.
    PERMANENT_SESSION_LIFETIME = 8 * 3600
    #: A page session without a request for this long (seconds) has ended.
    SESSION_IDLE_TIMEOUT = 2 * 3600
    #: The session cookie is sent again only when it changed: the last-seen time changes at most once a minute.
    SESSION_REFRESH_EACH_REQUEST = False
    MAX_CONTENT_LENGTH = 16 * 1024 * 1024
    #: Where uploaded photos are kept: None = the instance folder's uploads/ (models/files.py).
    UPLOAD_FOLDER: str | None = None
    BABEL_DEFAULT_LOCALE = "zh"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    RATELIMIT_STORAGE_URI = os.environ.get("REDIS_URL") or "memory://"
    #: False turns every rate limit off (the tests do; an operator never should behind a public address).
    RATELIMIT_ENABLED = True
    #: No X-RateLimit-* headers on every answer: they cost two more Redis round trips per limited request (a
    #: third of a check-in's time, py-spy). A refusal still says when to come back (429 with Retry-After).
    RATELIMIT_HEADERS_ENABLED = False
    #: Sign-in tries per address, the page and the API counted together (blueprints/sign_in.py).
    LOGIN_RATE_LIMIT = "10 per minute"
    #: Sign-in tries per phone number, from any address: this many at once, then a wait before each next try,
    #: doubling from SIGN_IN_DELAY up to SIGN_IN_MAX_DELAY seconds, until a sign-in succeeds.
    SIGN_IN_FREE_TRIES = 5
    SIGN_IN_DELAY = 60
    SIGN_IN_MAX_DELAY = 15 * 60
    #: Per person (else per address), shared by the page and API routes of each kind. Generous for real use: a
    #: staff member scans a queue of 100 volunteers in about 3 minutes; a script flooding codes is stopped.
    SCAN_RATE_LIMIT = "120 per minute;2000 per hour"
    VOTE_RATE_LIMIT = "30 per minute;300 per day"
    NEED_RATE_LIMIT = "20 per minute;200 per day"
    PHOTO_RATE_LIMIT = "20 per minute;200 per day"  # requests that store photos, per person, pages and API together
    #: The public check of a certificate's or an honour's number, per address (blueprints/ext.py).
    CERTIFICATE_VERIFY_RATE_LIMIT = "60 per minute"
    #: One-time sign-in codes by SMS (domain/sms.py, blueprints/codes.py): the sender ("log", "aliyun" or "tencent")
    #: and its settings. "log" only writes codes to the log (and the dev outbox): set a provider in production.
    SMS_BACKEND = os.environ.get("SMS_BACKEND", "log")
    SMS_SIGN_NAME = os.environ.get("SMS_SIGN_NAME", "")
    SMS_TEMPLATE_CODE = os.environ.get("SMS_TEMPLATE_CODE", "")
    SMS_ACCESS_KEY_ID = os.environ.get("SMS_ACCESS_KEY_ID", "")
    SMS_ACCESS_KEY_SECRET = os.environ.get("SMS_ACCESS_KEY_SECRET", "")
    SMS_APP_ID = os.environ.get("SMS_APP_ID", "")  # Tencent's SmsSdkAppId
    SMS_REGION = os.environ.get("SMS_REGION", "")  # Tencent's region, ap-guangzhou unless set
    #: The /dev/sms page listing the latest codes sent through the "log" sender: None = on in debug and tests only.
    SMS_DEV_OUTBOX = {"1": True, "0": False}.get(os.environ.get("SMS_DEV_OUTBOX", ""))
    #: Codes asked per address (pages), and per phone number from any address: one per SMS_RESEND_SECONDS, at
    #: most SMS_PER_PHONE_HOUR an hour.
    SMS_RATE_LIMIT = "5 per minute;20 per hour"
    SMS_RESEND_SECONDS = 60
    SMS_PER_PHONE_HOUR = 5
    #: After signing in with a one-time code, this long (seconds) to set a password without the old one.
    PASSWORD_AFTER_CODE_SECONDS = 15 * 60
    #: Argon2id parameters; the library's defaults (RFC 9106 low-memory profile) in production.
    ARGON2_PARAMS: dict = {}
    #: Number of reverse proxies in front of the app whose X-Forwarded-* headers are trusted.
    TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", "0"))
    API_TITLE = "Three-heads volunteer points API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api/v1"
    OPENAPI_JSON_PATH = "openapi.json"
    #: The served docs (/api/v1/docs): Swagger UI vendored under static/ (no CDN), drawn by templates/swagger_ui.html.
    OPENAPI_SWAGGER_UI_PATH = "docs"
    OPENAPI_SWAGGER_UI_URL = "/static/vendor/swagger-ui/"
    #: Seconds between two runs of a periodic job, by its name (domain/jobs/table.py has the defaults).
    JOB_INTERVALS = job_intervals(os.environ.get("JOB_INTERVALS"))
    #: How often the scheduler looks for due jobs, and a waiting one tries to lead (seconds).
    JOB_POLL_SECONDS = float(os.environ.get("JOB_POLL_SECONDS", "5"))
    #: Webhooks out (domain/webhooks/): how long a receiver has to answer (seconds), how many attempts a delivery
    #: gets before it is marked failed, and the first wait between attempts (seconds; it doubles, up to 6 hours).
    WEBHOOK_TIMEOUT_SECONDS = 10.0
    WEBHOOK_MAX_ATTEMPTS = 8
    WEBHOOK_BACKOFF_SECONDS = 60
    #: How long a dashboard's figures and a leaderboard's lines are shared by their readers (seconds; 0: computed
    #: for every request), in Redis with REDIS_URL, else per process (domain/figures.py).
    DASHBOARD_CACHE_SECONDS = 60
    #: The bench-only baselines of bench/run.py (blueprints/bench.py); never set in production.
    BENCH_ENDPOINTS = os.environ.get("BENCH_ENDPOINTS") == "1"
    #: "json": one JSON line per request on stderr (blueprints/requestlog.py); `make serve` sets it.
    ACCESS_LOG = os.environ.get("ACCESS_LOG", "")


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = "test-secret"  # noqa: S105
    WTF_CSRF_ENABLED = False
    RATELIMIT_ENABLED = False
    # Fast hashes: the suite hashes hundreds of passwords.
    ARGON2_PARAMS = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}
    # Tests write then read dashboards and boards: figures kept from before the write would hide it
    # (tests/test_dashboard_cache.py turns the cache on).
    DASHBOARD_CACHE_SECONDS = 0


class IdConverter(IntegerConverter):
    """`<int:...>` in every route: an id beyond our 32-bit id columns matches nothing (404) instead of overflowing the
    database driver."""

    def __init__(self, map, *args, **kwargs):
        from models.base import MAX_ID

        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


class HttpsAwareSessionInterface(SecureCookieSessionInterface):
    """Marks the session cookie Secure whenever the request itself came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"] or request.is_secure)


class MissingSecret(click.ClickException):
    """No SECRET_KEY and no instance/secret_key outside debug. A ClickException, so that a `flask` command stops with
    this one line (and exit status 1) rather than a traceback; gunicorn.conf.py says it before any worker starts."""

    def __init__(self, instance_path: str | Path):
        path = Path(instance_path) / "secret_key"
        super().__init__(f"No secret: set SECRET_KEY (the same on every host), or write one to {path}, e.g. "
                         f"python3 -c 'import secrets; print(secrets.token_hex(32))' > {path}")


def instance_secret(instance_path: str | Path) -> str | None:
    path = Path(instance_path) / "secret_key"
    return path.read_text().strip() if path.exists() else None


def _instance_secret(app: Flask) -> str | None:
    return instance_secret(app.instance_path)


def from_environment(app: Flask) -> None:
    """Every setting from SANZHANG_<SETTING>, after `Config` and before the configuration given to `create_app` (a
    test's own settings win over the machine's environment). Flask's `from_prefixed_env` parses a value that reads as
    JSON, so numbers, true/false and {"...": ...} arrive typed; a setting whose default is text keeps the text as
    typed (a Tencent template id 1234567 is no number). A name the app does not know is logged: a misspelt rate
    limit would otherwise go unnoticed."""
    for name, value in list(app.config.items()):  # a nested name (..._PARAMS__time_cost) changes the app's copy only
        if isinstance(value, dict):
            app.config[name] = copy.deepcopy(value)
    app.config.from_prefixed_env(ENV_PREFIX)
    start = len(ENV_PREFIX) + 1
    for variable, raw in os.environ.items():
        if not variable.startswith(f"{ENV_PREFIX}_"):
            continue
        setting = variable[start:].split("__")[0]
        if isinstance(getattr(Config, setting, None), str):
            app.config[setting] = raw
        elif not hasattr(Config, setting) and setting not in app.default_config:
            app.logger.warning("%s is set, but the app has no setting %s (app.py, Config): misspelt?",
                               variable, setting)


def create_app(config: type[Config] | dict | None = None) -> Flask:
    from blueprints.boundary import App

    app = App(__name__, instance_relative_config=True)
    app.url_map.converters["int"] = IdConverter
    app.config.from_object(Config)
    from_environment(app)
    if isinstance(config, dict):
        app.config.update(config)
    elif config is not None:
        app.config.from_object(config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{Path(app.instance_path) / 'sanzhang.db'}"
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        from models import sqlite

        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = sqlite.engine_options(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
    if app.config["SECRET_KEY"] == DEV_SECRET:
        app.config["SECRET_KEY"] = _instance_secret(app) or DEV_SECRET
    if app.config["SECRET_KEY"] == DEV_SECRET and not (app.debug or app.testing):
        raise MissingSecret(app.instance_path)
    if app.config["TRUSTED_PROXIES"]:
        n = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    app.session_interface = HttpsAwareSessionInterface()
    app.json.ensure_ascii = False  # Chinese names stay readable in API answers

    _init_extensions(app)
    _configure_domain(app)
    _register_blueprints(app)
    _register_insight()
    return app


#: What the master asks itself before forking (share_before_fork): (path, the answer expected). Requests that need no
#: data and change nothing: GETs (read-only transactions), routes without a rate limit (no counter of anyone's, no
#: Redis), a bearer token nobody holds (one read of the token table, 401). What they build (Python's specialised
#: bytecode, SQLAlchemy's compiled statements and memoised attributes, the dialect set up on its first connection) is
#: then shared instead of written into each worker's own pages: 57.8 -> 53.8 MB of PSS per worker at community scale
#: (bench/memory.py). Only what pays is here: the sign-in page (a template rendered, a CSRF token), a 404 and a 400
#: validation answer on top of it measured no less (55.0 and 54.5 MB against 54.2, two rounds each).
WARM_UP = (("/api/v1/me", 401),)
#: How many times each: the interpreter specialises a function's bytecode after some calls, not the first.
WARM_UP_ROUNDS = 10


def share_before_fork(app: Flask) -> None:
    """What each worker would build for itself on its first requests, built once in the process that forks them
    (gunicorn's master with `preload_app`, gunicorn.conf.py), so that they share its pages: the ORM's mappers
    configured, every template compiled, the translations loaded, and WARM_UP's requests answered. Those read the
    database; the master then closes every connection it opened, so that it holds none when it forks. Best effort:
    with the database out of reach, one line in the log and the workers build it all themselves."""
    from flask_babel import get_translations
    from sqlalchemy.orm import configure_mappers

    configure_mappers()
    for name in app.jinja_env.list_templates(extensions=["html"]):
        app.jinja_env.get_template(name)
    with app.test_request_context():
        get_translations()
    _warm_up(app)


def _warm_up(app: Flask) -> None:
    from sqlalchemy import text

    from blueprints.requestlog import ACCESS_LOGGER
    from models import db, transaction

    client = app.test_client()
    headers = {"Authorization": f"Bearer {secrets.token_urlsafe(32)}"}  # shaped as issued, held by nobody
    # The operator's log shows the requests people send, not these.
    logged, ACCESS_LOGGER.disabled = ACCESS_LOGGER.disabled, True
    try:
        with app.app_context(), transaction.reads_apart():  # a read: SQLite's writers' queue is not entered
            db.session.execute(text("SELECT 1"))  # out of reach: said in one line here, not in a 500's traceback
        for _ in range(WARM_UP_ROUNDS):
            for path, expected in WARM_UP:
                status = client.get(path, headers=headers).status_code
                if status != expected:
                    raise RuntimeError(f"GET {path} answered {status}, not {expected}")
    except Exception as error:  # noqa: BLE001 - best effort: the workers will build it on their first requests
        logging.getLogger(__name__).warning("Warm-up before forking the workers skipped: %s",
                                            str(error).splitlines()[0] if str(error) else repr(error))
    finally:
        ACCESS_LOGGER.disabled = logged
        with app.app_context():
            db.session.remove()
            db.engine.dispose()  # closed, not handed down: the master forks holding no connection


def _configure_domain(app: Flask) -> None:
    """What the domain takes from the settings, handed to it once: it never reads the app's configuration."""
    from domain import accounts, figures, otp, sms, webhooks

    accounts.use_argon2(app.config["ARGON2_PARAMS"])
    otp.use_secret(app.config["SECRET_KEY"])
    app.extensions["sms"] = sms.build_sender(app.config)
    app.extensions["webhooks"] = webhooks.Settings.from_config(app.config)
    figures.use_cache(app)
    if app.config["SMS_DEV_OUTBOX"] is None:
        app.config["SMS_DEV_OUTBOX"] = app.debug or app.testing


def _register_insight() -> None:
    """Each capability's dashboard section, registers and personal-export section, in the order of the menus."""
    from domain.dashboards import builtin
    from domain.honours import insight as honours_insight
    from domain.market import insight as market_insight
    from domain.tasks import insight as tasks_insight

    for capability in (builtin, tasks_insight, market_insight, honours_insight):
        capability.register()


def _init_extensions(app: Flask) -> None:
    from blueprints import auth as auth_pages
    from blueprints.ext import babel, csrf, limiter, login_manager, migrate, select_locale
    from models import db, sqlite
    from models.base import fork_safe
    from models.transaction import read_only

    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            fork_safe(engine)
        if db.engine.dialect.name == "sqlite":
            sqlite.tune(db.engine, read_only)
    migrate.init_app(app, db, render_as_batch=True,
                     directory=str(Path(__file__).resolve().parent / "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=select_locale,
                   default_translation_directories=str(Path(__file__).resolve().parent / "translations"))
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.user_loader(auth_pages.load_session_user)
    login_manager.unauthorized_handler(auth_pages.ask_to_sign_in)


def _register_blueprints(app: Flask) -> None:
    from blueprints import (
        api,
        api_clients,
        audit,
        auth,
        bounds,
        certificates,
        cli,
        codes,
        display,
        errors,
        events,
        home,
        honours,
        insight,
        jobs,
        labels,
        market,
        once,
        org,
        people,
        points,
        privacy,
        requestlog,
        roster,
        security,
        service,
        setup,
        share,
        tasks,
        teams,
        webhooks,
    )

    errors.init_app(app)
    bounds.init_app(app)
    requestlog.init_app(app)  # after the guard: its hook goes first, so a refused request has an id too
    security.init_app(app)
    labels.init_app(app)
    once.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(codes.bp)
    if app.config["SMS_DEV_OUTBOX"]:
        app.register_blueprint(codes.outbox)
    app.register_blueprint(display.bp)
    app.register_blueprint(home.bp)
    app.register_blueprint(org.bp)
    app.register_blueprint(people.bp)
    app.register_blueprint(privacy.bp)
    app.register_blueprint(audit.bp)
    app.register_blueprint(points.bp)
    app.register_blueprint(roster.bp)
    app.register_blueprint(teams.bp)
    app.register_blueprint(service.bp)
    app.register_blueprint(certificates.bp)
    app.register_blueprint(events.bp)
    app.register_blueprint(tasks.bp)
    app.register_blueprint(market.bp)
    app.register_blueprint(honours.bp)
    app.register_blueprint(insight.bp)
    app.register_blueprint(insight.boards)
    app.register_blueprint(cli.bp)
    app.register_blueprint(jobs.bp)
    app.register_blueprint(api_clients.bp)
    app.register_blueprint(setup.bp)
    app.register_blueprint(share.bp)
    app.register_blueprint(webhooks.bp)
    api.init_app(app)
    if app.config["BENCH_ENDPOINTS"]:
        from blueprints import bench

        app.register_blueprint(bench.bp)
