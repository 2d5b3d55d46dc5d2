"""Configuration from the environment: every setting as SANZHANG_<SETTING> (the established short names too), typed
as the README says, below the configuration a caller gives create_app; and the README's one table of settings lists
every setting an operator may change."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import app as app_module
from app import FIXED_SETTINGS, OPERATOR_SETTINGS, Config, create_app, env_name
from blueprints.ext import limiter
from models import db, files

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def from_environment(monkeypatch, app):
    """`from_environment(given, NAME=value, ...)`: sets SANZHANG_<NAME> variables, then builds the app as production
    does (Config, then the environment) plus the `given` configuration, on the test's database. Afterwards the
    apps' connections are closed and the shared limiter is the test app's again."""
    made = []

    def build(given: dict | None = None, **variables):
        for name, value in variables.items():
            monkeypatch.setenv(f"SANZHANG_{name}", value)
        made.append(create_app({"TESTING": True, "SECRET_KEY": "test-secret",
                                "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], **(given or {})}))
        return made[-1]

    yield build
    for built in made:
        with built.app_context():
            db.engine.dispose()
    limiter.reset()
    limiter.init_app(app)


def test_operator_settings_come_from_the_environment_and_take_effect(from_environment, tmp_path):
    configured = from_environment(
        LOGIN_RATE_LIMIT="2 per minute", RATELIMIT_ENABLED="true", RATELIMIT_KEY_PREFIX=f"cfg-{os.getpid()}",
        SIGN_IN_DELAY="30", SESSION_IDLE_TIMEOUT="600", UPLOAD_FOLDER=str(tmp_path / "photos"),
        JOB_INTERVALS='{"points expire": 600}', ARGON2_PARAMS__time_cost="1")
    config = configured.config
    assert (config["SIGN_IN_DELAY"], config["SESSION_IDLE_TIMEOUT"]) == (30, 600)
    assert config["JOB_INTERVALS"] == {"points expire": 600}
    assert config["ARGON2_PARAMS"] == {"time_cost": 1} and Config.ARGON2_PARAMS == {}  # the app's copy, not Config's
    with configured.app_context():
        assert files.folder() == tmp_path / "photos"
    client = configured.test_client()
    statuses = [client.post("/api/v1/auth/token", json={"phone": f"1390000000{i}", "password": "wrong"}).status_code
                for i in range(3)]
    assert statuses == [401, 401, 429]  # the limit the environment set, not app.py's 10 a minute


def test_a_text_setting_stays_text_and_numbers_come_typed(from_environment):
    """from_prefixed_env parses JSON: "1234567" would become a number, but an SMS template id is text."""
    config = from_environment(SMS_TEMPLATE_CODE="1234567", SMS_RESEND_SECONDS="90", SMS_DEV_OUTBOX="false",
                              SCAN_RATE_LIMIT="5/minute").config
    assert config["SMS_TEMPLATE_CODE"] == "1234567"
    assert config["SMS_RESEND_SECONDS"] == 90 and config["SMS_DEV_OUTBOX"] is False
    assert config["SCAN_RATE_LIMIT"] == "5/minute"


def test_the_configuration_given_to_create_app_wins_over_the_environment(from_environment):
    """A test's (or an embedding program's) own settings are not overridden by whatever the machine has set."""
    config = from_environment({"LOGIN_RATE_LIMIT": "9 per minute"}, LOGIN_RATE_LIMIT="2 per minute",
                              SIGN_IN_FREE_TRIES="1").config
    assert config["LOGIN_RATE_LIMIT"] == "9 per minute"
    assert config["SIGN_IN_FREE_TRIES"] == 1


def test_a_misspelt_setting_is_logged(from_environment, caplog):
    with caplog.at_level(logging.WARNING):
        from_environment(LOGIN_RATE_LIMT="2 per minute")
    assert "SANZHANG_LOGIN_RATE_LIMT is set, but the app has no setting LOGIN_RATE_LIMT" in caplog.text


def test_the_short_names_still_work_beside_the_prefix(tmp_path):
    """DATABASE_URL, TRUSTED_PROXIES, JOB_INTERVALS ... are read when app.py is imported: a process of its own."""
    script = ("from app import create_app; import json; c = create_app({'TESTING': True}).config; "
              "print(json.dumps([c[k] for k in ('SQLALCHEMY_DATABASE_URI', 'TRUSTED_PROXIES', 'JOB_INTERVALS', "
              "'RATELIMIT_STORAGE_URI', 'SMS_BACKEND', 'VOTE_RATE_LIMIT')]))")
    env = {key: value for key, value in os.environ.items() if not key.startswith("SANZHANG_")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}", TRUSTED_PROXIES="2", JOB_INTERVALS="events close=30",
               REDIS_URL="redis://127.0.0.1:6379/9", SMS_BACKEND="log", SANZHANG_VOTE_RATE_LIMIT="1 per day",
               SECRET_KEY="s")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert json.loads(out.splitlines()[-1]) == [f"sqlite:///{tmp_path / 'x.db'}", 2, {"events close": 30},
                                                "redis://127.0.0.1:6379/9", "log", "1 per day"]


# --- the README's table of settings ---------------------------------------------------------------------------


def _readme_table_names() -> set[str]:
    """The variables named in the first column of the README's table under "## Settings"."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", row.split("|")[1])}


def test_every_setting_of_config_is_classified():
    """A new setting of Config is either one an operator may change (then documented) or the code's own."""
    settings = {name for name in vars(Config) if name.isupper()}
    assert len(set(OPERATOR_SETTINGS)) == len(OPERATOR_SETTINGS)
    assert not set(OPERATOR_SETTINGS) & set(FIXED_SETTINGS)
    unclassified = settings - set(OPERATOR_SETTINGS) - set(FIXED_SETTINGS)
    assert not unclassified, f"add these to app.OPERATOR_SETTINGS (and the README's table) or FIXED_SETTINGS: " \
                             f"{sorted(unclassified)}"
    assert not (set(OPERATOR_SETTINGS) | set(FIXED_SETTINGS)) - settings, "names that are no setting of Config"


def test_the_readme_lists_every_operator_setting_in_one_table():
    names = _readme_table_names()
    missing = [env_name(setting) for setting in OPERATOR_SETTINGS if env_name(setting) not in names]
    assert not missing, f"settings an operator may change missing from the README's table: {missing}"
    prefixed = {name for name in names if name.startswith(f"{app_module.ENV_PREFIX}_")}
    stale = prefixed - {env_name(setting) for setting in OPERATOR_SETTINGS}
    assert not stale, f"the README's table names settings app.py does not have: {stale}"
    assert {"PORT", "WORKERS", "TEST_DATABASE_URL", "TEST_REDIS_URL"} <= names
