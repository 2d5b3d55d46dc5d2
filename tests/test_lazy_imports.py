"""A worker's memory: libraries only some requests or commands need are imported when first used, not at start.

Each costs every gunicorn worker its resident memory from boot on (measured on one worker, issue 10): openpyxl
with the Pillow it pulls in ~7 MB, Flask-Migrate with Alembic, Mako and Pygments ~8.7 MB, qrcode ~3.6 MB, the demo
district ~1 MB. The app is started in a fresh interpreter, as gunicorn starts it, and what it loaded is read from
`sys.modules`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask_migrate import upgrade

from tests.conftest import make_app

ROOT = Path(__file__).resolve().parent.parent

#: Never needed to serve a request: the migration tooling, test tools, the demo district's generator.
NEVER = ["flask_migrate", "alembic", "mako", "pygments", "hypothesis", "schemathesis", "pytest", "domain.demo"]
#: Needed by some requests only: certificates' PDF, QR codes, photo uploads, spreadsheets.
ON_USE = ["reportlab", "qrcode", "PIL", "openpyxl"]

PROBE = f"""
import json, sys
from app import create_app
create_app()
print(json.dumps(sorted(m for m in {NEVER + ON_USE!r} if m in sys.modules)))
"""


@pytest.fixture(scope="module")
def loaded_at_start(tmp_path_factory) -> list[str]:
    """The watched modules a fresh `create_app()` has imported, configured as production (not TestConfig)."""
    env = {**os.environ, "SECRET_KEY": "lazy-imports-probe",
           "DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('lazy') / 'probe.db'}"}
    env.pop("REDIS_URL", None)
    answer = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120, check=True)
    return json.loads(answer.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", NEVER + ON_USE)
def test_create_app_does_not_import(loaded_at_start, module):
    assert module not in loaded_at_start


def _tables(app) -> list[str]:
    from sqlalchemy import inspect

    from models import db

    with app.app_context():
        try:
            return inspect(db.engine).get_table_names()
        finally:
            db.engine.dispose()


def test_flask_db_upgrade_runs_through_the_lazily_bound_migrate(tmp_path):
    """`flask db upgrade` finds Flask-Migrate's commands, which read the app's migration settings, on first use."""
    app = make_app(f"sqlite:///{tmp_path / 'cli.db'}")
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert {"alembic_version", "attendance", "ledger_entry"} <= set(_tables(app))


def test_the_migration_helpers_upgrade_through_the_lazily_bound_migrate(tmp_path):
    """`flask_migrate.upgrade` (conftest and the benchmarks call it) binds Flask-Migrate the first time."""
    app = make_app(f"sqlite:///{tmp_path / 'helper.db'}")
    with app.app_context():
        upgrade()
    assert {"alembic_version", "attendance", "ledger_entry"} <= set(_tables(app))
