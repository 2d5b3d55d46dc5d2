"""Command-line operations: the first administrator, the demo district, and the migrations."""

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import func, inspect, select

from domain import demo, ledger
from models import Area, HeadPost, Level, Role, ServiceRecord, ServiceStatus, Team, Transaction, TxnKind, User, db


def test_create_admin(app, runner):
    result = runner.invoke(args=["users", "create-admin", "--phone", "13900001111", "--name", "管理员",
                                 "--password", "a good long password"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        admin = db.session.scalar(select(User).where(User.phone == "13900001111"))
        assert [(g.role, g.area_id) for g in admin.grants] == [(Role.admin, None)]


def test_create_admin_refuses_a_phone_that_exists(app, runner, make_user):
    existing = make_user("已有")
    result = runner.invoke(args=["users", "create-admin", "--phone", existing.phone, "--name", "x",
                                 "--password", "a good long password"])
    assert result.exit_code != 0
    assert "phone_taken" in result.output


def test_create_admin_refuses_a_short_password(runner):
    result = runner.invoke(args=["users", "create-admin", "--phone", "13900002222", "--name", "x",
                                 "--password", "short"])
    assert result.exit_code != 0 and "password_too_short" in result.output


def test_seed_demo_is_idempotent_and_prints_logins(app, runner):
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    assert "13800000101" in first.output and demo.DEMO_PASSWORD in first.output
    with app.app_context():
        counts = [db.session.scalar(select(func.count()).select_from(m)) for m in (Area, User, HeadPost)]
    second = runner.invoke(args=["seed-demo"])
    assert second.exit_code == 0 and "already" in second.output
    with app.app_context():
        assert [db.session.scalar(select(func.count()).select_from(m)) for m in (Area, User, HeadPost)] == counts
        communities = db.session.scalars(select(Area).where(Area.level == Level.community)).all()
        assert len(communities) == 3
        assert any(c.settings.get("head_titles") == ["片长", "组长", "邻长"] for c in communities)
        streets = db.session.scalar(select(func.count()).select_from(Area).where(Area.level == Level.street))
        assert streets == 2
        # Heads at every level, and one unit left without a head in each community.
        for level in (Level.grid, Level.building):
            headless = db.session.scalar(select(func.count()).select_from(Area).where(
                Area.level == level, Area.id.not_in(select(HeadPost.area_id).where(HeadPost.until.is_(None)))))
            assert headless == 0
        unit_heads = db.session.scalar(select(func.count()).select_from(HeadPost).join(Area)
                                       .where(Area.level == Level.unit, HeadPost.until.is_(None)))
        units = db.session.scalar(select(func.count()).select_from(Area).where(Area.level == Level.unit))
        assert units - unit_heads == 3
        # A living community: service in every state, points earned and spent, teams, a clean ledger.
        states = dict(db.session.execute(select(ServiceRecord.status, func.count())
                                         .group_by(ServiceRecord.status)).all())
        assert states[ServiceStatus.approved] > 100 and states[ServiceStatus.submitted] > 0
        assert states[ServiceStatus.rejected] > 0
        kinds = dict(db.session.execute(select(Transaction.kind, func.count()).group_by(Transaction.kind)).all())
        assert kinds[TxnKind.service] == states[ServiceStatus.approved] and kinds[TxnKind.redemption] > 0
        assert db.session.scalar(select(func.count()).select_from(Team)) == 6
        assert ledger.verify() == []


def test_seed_demo_over_an_administrator_with_the_demos_phone_lists_only_logins_that_work(app, runner, client):
    own = "the operator's own pass phrase"
    made = runner.invoke(args=["users", "create-admin", "--phone", demo.LOGINS[0][0], "--name", "管理员",
                               "--password", own])
    assert made.exit_code == 0, made.output
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    listed = [line.split()[0] for line in result.output.splitlines() if line.startswith("  ")]
    assert listed == [phone for phone, *_ in demo.LOGINS[1:]] + [demo.LOGINS[0][0]]
    assert "own password" in result.output.splitlines()[-1]
    for phone in listed[:-1]:
        assert client.post("/api/v1/auth/token", json={"phone": phone, "password": demo.DEMO_PASSWORD}) \
            .status_code == 200, phone
    assert client.post("/api/v1/auth/token", json={"phone": listed[-1], "password": own}).status_code == 200


def test_demo_logins_work(app, runner, client):
    runner.invoke(args=["seed-demo"])
    for phone, *_ in demo.LOGINS:
        response = client.post("/api/v1/auth/token", json={"phone": phone, "password": demo.DEMO_PASSWORD})
        assert response.status_code == 200, phone


@pytest.mark.usefixtures("dbs")
def test_migrations_match_the_models_and_go_down_and_up(app):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    db.session.remove()
    with db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), db.metadata)
    assert diff == []
    downgrade(revision="base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    upgrade()
    assert "head_post" in inspect(db.engine).get_table_names()
