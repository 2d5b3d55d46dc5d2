"""The benchmark's synthetic city stays consistent with the models: a tiny scale on each database."""

from __future__ import annotations

from sqlalchemy import func, select, text

from bench import city
from domain import ledger
from models import Account, AccountKind, Area, Attendance, Entry, Event, HeadPost, Lot, User, db


def _schema() -> set[str]:
    """Index and constraint names (PostgreSQL): the bulk load drops some and must put every one back."""
    if db.engine.dialect.name != "postgresql":
        return set()
    return set(db.session.scalars(text("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
                                       "UNION ALL SELECT conname FROM pg_constraint")))


def test_tiny_city_passes_ledger_verify_with_balances_equal_to_entries(dbs):
    schema = _schema()
    db.session.commit()
    generated = city.generate(city.SCALES["tiny"], seed=3)
    db.session.expire_all()

    assert ledger.verify() == []
    assert generated.w.counts["ledger_entry"] > 1_000
    sums = dict(db.session.execute(select(Entry.account_id, func.sum(Entry.amount)).group_by(Entry.account_id)).all())
    balances = dict(db.session.execute(select(Account.id, Account.balance)).all())
    assert balances == {account: sums.get(account, 0) for account in balances}
    spent = db.session.scalar(select(Account.balance).where(Account.kind == AccountKind.spent))
    assert spent > 0, "the market took some points: debits and lots are exercised"
    assert db.session.scalar(select(func.count()).select_from(Lot).where(Lot.remaining < Lot.amount)) > 0
    assert _schema() == schema


def test_tiny_city_tree_paths_heads_and_events_are_as_the_models_expect(dbs):
    city.generate(city.SCALES["tiny"], seed=3)

    areas = {a.id: a for a in db.session.scalars(select(Area))}
    for area in areas.values():
        parent_path = areas[area.parent_id].path if area.parent_id else "/"
        assert area.path == f"{parent_path}{area.id}/"
    heads = db.session.scalars(select(HeadPost)).all()
    assert {h.tier for h in heads} == {1, 2, 3}
    assert all(areas[h.area_id].head_tier == h.tier for h in heads)
    assert all(h.user.household.unit.path.startswith(areas[h.area_id].path) for h in heads)
    for event in db.session.scalars(select(Event)):
        assert event.attendees == db.session.scalar(
            select(func.count()).select_from(Attendance).where(Attendance.event_id == event.id))
    # Sequences move past the generated ids: the app can add rows afterwards.
    generated = db.session.scalar(select(func.max(User.id)))
    newcomer = User(name="新人", phone="13912345678")
    db.session.add(newcomer)
    db.session.commit()
    assert newcomer.id > generated


def test_bench_endpoints_exist_only_when_enabled_and_do_what_the_api_does(app, backend_url):
    from bench import run
    from domain import market

    with app.app_context():
        community_id = city.generate(city.SCALES["tiny"], seed=3).first_community_id
    assert app.test_client().get("/bench/hello").status_code == 404

    fixtures = run.Fixtures(backend_url, community_id)
    try:
        client = fixtures.app.test_client()
        assert client.get("/bench/hello").status_code == 200
        pool = fixtures.checkin_pool()
        for path, (token, body) in zip(("/bench/raw/checkin", "/api/v1/checkins"), pool, strict=False):
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            assert client.post(path, data=body, headers=headers).status_code == 201
            again = client.post(path, data=body, headers=headers)
            assert (again.status_code, again.json["status"]) == (200, "already_checked_in")
        token, body = fixtures.redemption_pool()[0]
        for n, path in enumerate(("/bench/raw/redemption", "/api/v1/redemptions")):
            headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"key-{n}",
                       "Content-Type": "application/json"}
            answer = client.post(path, data=body, headers=headers)
            assert answer.status_code == 201, answer.json
        assert fixtures.verify() == 0
        with fixtures.app.app_context():
            assert market.verify() == []
    finally:
        fixtures.close()
