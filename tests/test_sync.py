"""The roster sync (PUT /api/v1/sync/roster) and the API clients that call it: rows created, updated, unchanged or
refused one by one, the same payload twice writing nothing, people left out of a full sync reported and ended only
when asked, everything inside the client's area, and only a live client key let in."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import event, func, select

from blueprints.api.schemas import SyncRosterIn
from domain.errors import Conflict
from domain.sync import clients
from domain.sync import roster as sync
from models import (
    ApiClient,
    Area,
    AuditEvent,
    HeadPost,
    Household,
    Role,
    RoleGrant,
    SyncLink,
    User,
    db,
)
from tests.conftest import login, run_concurrently, token_for

URL = "/api/v1/sync/roster"


def _client_key(app, area: Area, name: str = "网格化管理系统") -> str:
    with app.app_context():
        _client, key = clients.create_client(None, area=db.session.get(Area, area.id), name=name)
        db.session.commit()
    return key


@pytest.fixture
def key(app, tree):
    """A client of community A."""
    return _client_key(app, tree.a.community)


def _put(client, key: str, payload: dict, status: int = 200):
    response = client.put(URL, json=payload, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == status, response.text
    return response.json


def _by_id(answer: dict) -> dict[tuple[str, str], dict]:
    return {(row["kind"], row["id"]): row for row in answer["rows"]}


def _statuses(answer: dict) -> dict[tuple[str, str], str]:
    return {key: row["status"] for key, row in _by_id(answer).items()}


def _roster(**changes) -> dict:
    """A grid with a building, a unit and a household; a resident, a volunteer who heads the unit."""
    payload = {
        "areas": [{"id": "G1", "parent_id": None, "level": "grid", "name": "第九网格", "code": "GRID-9"},
                  {"id": "B1", "parent_id": "G1", "level": "building", "name": "9号楼"},
                  {"id": "U1", "parent_id": "B1", "level": "unit", "name": "1单元"}],
        "households": [{"id": "H1", "unit_id": "U1", "label": "301", "size": 2}],
        "people": [{"id": "P1", "name": "赵大妈", "phone": "13912340001", "household_id": "H1",
                    "roles": [{"role": "resident", "area_id": None}]},
                   {"id": "P2", "name": "钱师傅", "phone": "139 1234 0002", "household_id": "H1",
                    "roles": [{"role": "volunteer", "area_id": "G1"}, {"role": "resident", "area_id": None}]}],
        "heads": [{"area_id": "U1", "person_id": "P2"}],
    }
    payload.update(changes)
    return payload


TABLES = (Area, Household, User, RoleGrant, HeadPost, SyncLink, AuditEvent)


def _counts() -> dict[str, int]:
    return {model.__name__: db.session.scalar(select(func.count()).select_from(model)) for model in TABLES}


class _Writes:
    """Statements that write, sent through the app's engine while the block runs (the client's last use apart)."""

    def __enter__(self):
        self.statements: list[str] = []
        event.listen(db.engine, "before_cursor_execute", self._seen)
        return self.statements

    def _seen(self, _conn, _cursor, statement: str, *_args):
        words = statement.lstrip().upper()
        if words.startswith(("INSERT", "UPDATE", "DELETE", "COPY")) and "API_CLIENT" not in words.split("SET")[0]:
            self.statements.append(statement)

    def __exit__(self, *_exc):
        event.remove(db.engine, "before_cursor_execute", self._seen)


def test_a_roster_is_created_then_sent_again_without_writing_anything(app, client, tree, key):
    first = _put(client, key, _roster())
    assert set(_statuses(first).values()) == {"created"}
    assert first["totals"] == {"created": 7, "updated": 0, "unchanged": 0, "error": 0, "missing": 0, "ended": 0}
    with app.app_context():
        rows = _by_id(first)
        unit = db.session.get(Area, rows[("area", "U1")]["local_id"])
        grid = db.session.get(Area, rows[("area", "G1")]["local_id"])
        assert grid.parent_id == tree.a.community.id and grid.code == "GRID-9"
        assert unit.path == f"{grid.path}{rows[('area', 'B1')]['local_id']}/{unit.id}/"
        volunteer = db.session.scalar(select(User).where(User.phone == "13912340002"))
        assert volunteer.household_id == rows[("household", "H1")]["local_id"]
        assert {(g.role, g.area_id) for g in volunteer.grants} == {
            (Role.volunteer, grid.id), (Role.resident, tree.a.community.id), (Role.head, unit.id)}
        post = db.session.scalar(select(HeadPost).where(HeadPost.area_id == unit.id))
        assert post.user_id == volunteer.id and post.tier == 3 and rows[("head", "U1")]["local_id"] == post.id
        actions = list(db.session.scalars(select(AuditEvent.action).where(AuditEvent.actor_id.is_(None))))
        assert sorted(actions) == ["api_client.create", "head.appoint", "roster.sync"]
        before = _counts()

        with _Writes() as writes:
            again = _put(client, key, _roster())
        assert set(_statuses(again).values()) == {"unchanged"}
        assert again["totals"]["unchanged"] == 7
        assert writes == []
        assert _counts() == before


def test_changed_rows_are_updated_and_the_others_left_unchanged(app, client, tree, key):
    _put(client, key, _roster())
    roster = _roster()
    roster["areas"][1]["name"] = "9号楼(东)"
    roster["households"][0]["size"] = 3
    roster["people"][0]["name"] = "赵阿姨"
    roster["people"][1]["roles"] = [{"role": "resident", "area_id": None}]  # no longer a volunteer
    answer = _put(client, key, roster)
    statuses = _statuses(answer)
    assert {k for k, s in statuses.items() if s == "updated"} == {
        ("area", "B1"), ("household", "H1"), ("person", "P1"), ("person", "P2")}
    assert statuses[("area", "G1")] == statuses[("head", "U1")] == "unchanged"
    with app.app_context():
        volunteer = db.session.scalar(select(User).where(User.phone == "13912340002"))
        assert {g.role for g in volunteer.grants} == {Role.resident, Role.head}
        assert db.session.scalar(select(User.name).where(User.phone == "13912340001")) == "赵阿姨"


def test_a_new_head_replaces_the_old_one_whose_head_role_goes(app, client, tree, key):
    _put(client, key, _roster())
    answer = _put(client, key, _roster(heads=[{"area_id": "U1", "person_id": "P1"}]))
    assert _statuses(answer)[("head", "U1")] == "updated"
    with app.app_context():
        posts = db.session.execute(select(HeadPost.user_id, HeadPost.until).order_by(HeadPost.id)).all()
        old, new = (db.session.scalar(select(User).where(User.phone == p)) for p in ("13912340002", "13912340001"))
        assert [(u, until is None) for u, until in posts] == [(old.id, False), (new.id, True)]
        assert Role.head not in {g.role for g in old.grants}
        assert Role.head in {g.role for g in new.grants}


def test_a_bad_row_is_refused_alone_and_rows_naming_it_say_so(app, client, tree, key):
    roster = _roster()
    roster["areas"] += [{"id": "X1", "parent_id": None, "level": "planet", "name": "火星"},
                        {"id": "U9", "parent_id": "X1", "level": "unit", "name": "9单元"},
                        {"id": "C1", "parent_id": None, "level": "community", "name": "社区中的社区"},
                        {"id": "G1", "parent_id": None, "level": "grid", "name": "重复"}]
    roster["households"] += [{"id": "H9", "unit_id": "U9", "label": "101"},
                             {"id": "H8", "unit_id": "nowhere", "label": "101"},
                             {"id": "H7", "unit_id": "G1", "label": "101"}]
    roster["people"] += [{"id": "P9", "name": "孙", "phone": "12345", "roles": []},
                         {"id": "P8", "name": "李", "phone": "13912340008", "household_id": "H9"},
                         {"id": "P7", "name": "周", "phone": "13912340007", "roles": [{"role": "staff",
                                                                                        "area_id": None}]},
                         {"id": "P6", "name": " ", "phone": "13912340006"}]
    roster["heads"] += [{"area_id": "U9", "person_id": "P1"}, {"area_id": "G1", "person_id": "P9"},
                        {"area_id": "U1", "person_id": "P1"}]
    answer = _put(client, key, roster)
    errors = sorted((row["kind"], row["id"], row["error"]["code"]) for row in answer["rows"]
                    if row["status"] == "error")
    assert errors == sorted([
        ("area", "X1", "level_invalid"),
        ("area", "U9", "depends_on_failed_row"),
        ("area", "C1", "level_not_allowed"),
        ("area", "G1", "duplicate_id"),
        ("household", "H9", "depends_on_failed_row"),
        ("household", "H8", "unknown_unit"),
        ("household", "H7", "not_a_unit"),
        ("person", "P9", "phone_invalid"),
        ("person", "P8", "depends_on_failed_row"),
        ("person", "P7", "role_not_allowed"),
        ("person", "P6", "name_invalid"),
        ("head", "U9", "depends_on_failed_row"),
        ("head", "G1", "depends_on_failed_row"),
        ("head", "U1", "duplicate_head"),
    ])
    assert answer["totals"]["created"] == 7 and answer["totals"]["error"] == 14
    assert "X1" in next(r for r in answer["rows"] if r["id"] == "U9")["error"]["message"]


def test_everything_stays_inside_the_clients_area(app, client, tree, key):
    with app.app_context():
        db.session.get(Area, tree.b.grid.id).code = "B-GRID"
        db.session.commit()
    roster = _roster()
    roster["areas"].append({"id": "G2", "parent_id": None, "level": "grid", "name": "第二网格", "code": "B-GRID"})
    roster["people"].append({"id": "P5", "name": tree.resident_b.name, "phone": tree.resident_b.phone})
    answer = _put(client, key, roster)
    statuses = _by_id(answer)
    assert statuses[("area", "G2")]["error"]["code"] == "code_taken"
    assert statuses[("person", "P5")]["error"]["code"] == "person_outside_scope"
    # Someone of the client's own area is taken up (linked), not created again.
    roster = _roster(people=[{"id": "V1", "name": tree.volunteer_a.name, "phone": tree.volunteer_a.phone,
                              "roles": [{"role": "volunteer", "area_id": None}]}], heads=[])
    adopted = _by_id(_put(client, key, roster))[("person", "V1")]
    assert adopted["status"] == "updated" and adopted["local_id"] == tree.volunteer_a.id
    with app.app_context():
        resident_b = db.session.get(User, tree.resident_b.id)
        assert resident_b.active and [g.role for g in resident_b.grants] == [Role.resident]


def test_a_full_sync_reports_who_is_missing_and_ends_them_only_when_asked(app, client, tree, key):
    _put(client, key, _roster(full=True))
    without_p2 = _roster(full=True, heads=[])
    without_p2["people"] = without_p2["people"][:1]
    reported = _put(client, key, without_p2)
    with app.app_context():
        p2 = db.session.scalar(select(User).where(User.phone == "13912340002"))
    assert reported["missing"] == [{"id": "P2", "local_id": p2.id, "ended": False}]
    with app.app_context():
        assert db.session.get(User, p2.id).active and len(db.session.get(User, p2.id).grants) == 3

    ended = _put(client, key, {**without_p2, "end_missing": True})
    assert ended["missing"] == [{"id": "P2", "local_id": p2.id, "ended": True}]
    assert ended["totals"]["ended"] == 1
    with app.app_context():
        person = db.session.get(User, p2.id)
        assert not person.active and person.grants == []
        assert db.session.scalar(select(HeadPost.until).where(HeadPost.user_id == p2.id)) is not None
        disable = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "person.disable"))
        assert disable.object_id == p2.id and disable.reason == "roster_sync.missing"
        before = _counts()
    again = _put(client, key, {**without_p2, "end_missing": True})
    assert again["missing"] == [] and set(_statuses(again).values()) == {"unchanged"}
    with app.app_context():
        assert _counts() == before
    assert _put(client, key, {"end_missing": True}, 400)["error"]["code"] == "end_missing_needs_full"


def test_only_a_live_client_key_may_sync(app, client, tree, key):
    assert client.put(URL, json={}).status_code == 401
    # The key before the body: a caller without one learns nothing of the body's shape.
    assert client.put(URL, json={"areas": "x" * 1000}).status_code == 401
    person = token_for(client, tree.staff_a)
    refused = client.put(URL, json={}, headers=person)
    assert refused.status_code == 403 and refused.json["error"]["code"] == "client_key_required"
    wrong = client.put(URL, json={}, headers={"Authorization": "Bearer szc_nothing"})
    assert wrong.status_code == 401 and wrong.json["error"]["code"] == "invalid_key"
    # A client key is no person: a person's endpoints refuse it.
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    assert _put(client, key, {})["totals"]["created"] == 0
    with app.app_context():
        api_client = db.session.scalar(select(ApiClient))
        assert api_client.last_used_at is not None
        clients.revoke_client(None, api_client)
        db.session.commit()
    revoked = client.put(URL, json={}, headers={"Authorization": f"Bearer {key}"})
    assert revoked.status_code == 401 and revoked.json["error"]["code"] == "invalid_key"


def test_the_same_roster_sent_at_once_from_four_threads_is_written_once(app, tree, key):
    """Retries of a slow call overlap: each row is created once, the other calls find it unchanged or are refused
    (409 sync_conflict, to send again); never a second person, area or post."""
    with app.app_context():
        client_id = db.session.scalar(select(ApiClient.id))
    body = SyncRosterIn().load(_roster())

    def work(_i):
        return sync.sync_roster(db.session.get(ApiClient, client_id), body).totals

    outcomes = run_concurrently(app, work, 4)
    done = [o for o in outcomes if isinstance(o, dict)]
    assert [o["created"] for o in done if o["created"]] == [7]
    assert all(o["unchanged"] == 7 for o in done if not o["created"])
    assert all(isinstance(o, Conflict) and o.code == "sync_conflict" for o in outcomes if not isinstance(o, dict))
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User).where(User.phone.like("1391234000%"))) == 2
        assert db.session.scalar(select(func.count()).select_from(SyncLink)) == 6
        assert db.session.scalar(select(func.count()).select_from(HeadPost).where(HeadPost.until.is_(None))) == 1


def test_too_many_rows_are_refused(app, client, tree, key, monkeypatch):
    monkeypatch.setattr("domain.sync.roster.MAX_ROWS", 3)
    assert _put(client, key, _roster(), 400)["error"]["code"] == "too_many_rows"


def _big_roster(total: int = 20_000) -> dict:
    """20 grids of 10 buildings of 4 units, a head for each, and households of 3 people up to `total` rows."""
    areas, heads, households, people = [], [], [], []
    for g in range(20):
        areas.append({"id": f"g{g}", "parent_id": None, "level": "grid", "name": f"网格{g}"})
        for b in range(10):
            areas.append({"id": f"b{g}.{b}", "parent_id": f"g{g}", "level": "building", "name": f"{b + 1}号楼"})
            areas.extend({"id": f"u{g}.{b}.{u}", "parent_id": f"b{g}.{b}", "level": "unit", "name": f"{u + 1}单元"}
                         for u in range(4))
    units = [a["id"] for a in areas if a["level"] == "unit"]
    phone = iter(range(13_600_000_000, 13_700_000_000))
    while len(areas) * 2 + len(households) + len(people) + 4 <= total:
        unit = units[len(households) % len(units)]
        household = f"h{len(households)}"
        households.append({"id": household, "unit_id": unit, "label": str(len(households)), "size": 3})
        for _ in range(3):
            people.append({"id": f"p{len(people)}", "name": f"居民{len(people)}", "phone": str(next(phone)),
                           "household_id": household, "roles": [{"role": "resident", "area_id": None}]})
    heads = [{"area_id": area["id"], "person_id": people[i]["id"]} for i, area in enumerate(areas)]
    return {"full": True, "areas": areas, "households": households, "people": people, "heads": heads}


def test_twenty_thousand_rows_are_synced_then_found_unchanged(app, client, tree, key):
    roster = _big_roster()
    rows = sum(len(roster[kind]) for kind in ("areas", "households", "people", "heads"))
    assert 19_990 <= rows <= 20_000
    started = time.perf_counter()
    first = _put(client, key, roster)
    took = time.perf_counter() - started
    assert first["totals"]["created"] == rows and first["totals"]["error"] == 0
    started = time.perf_counter()
    with app.app_context(), _Writes() as writes:
        again = _put(client, key, roster)
    took_again = time.perf_counter() - started
    assert again["totals"]["unchanged"] == rows and writes == []
    print(f"\nroster sync of {rows:,} rows on {app.config['SQLALCHEMY_DATABASE_URI'].split(':')[0]}: "
          f"first {took:.2f} s, again (unchanged) {took_again:.2f} s")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SyncLink)) == rows - len(roster["heads"])
        assert db.session.scalar(select(func.count()).select_from(HeadPost).where(HeadPost.until.is_(None))) == len(
            roster["heads"])


def test_the_page_and_the_cli_create_and_revoke_clients(app, client, runner, tree):
    login(client, tree.staff_a)
    assert client.get("/admin/api-clients").status_code == 404
    client.post("/logout")
    login(client, tree.admin)
    page = client.get("/admin/api-clients")
    assert page.status_code == 200
    created = client.post("/admin/api-clients", data={"name": "城市网格系统", "area_id": tree.a.community.id},
                          follow_redirects=True)
    assert created.status_code == 200
    with app.app_context():
        api_client = db.session.scalar(select(ApiClient).where(ApiClient.name == "城市网格系统"))
    shown = created.text.split('data-testid="new-key">')[1].split("<")[0]
    assert shown.startswith(api_client.key_prefix) and shown.startswith("szc_")
    assert shown not in client.get("/admin/api-clients").text  # shown once
    assert _put(client, shown, {})["totals"]["error"] == 0
    revoked = client.post(f"/admin/api-clients/{api_client.id}/revoke", data={"confirm": "y"}, follow_redirects=True)
    assert revoked.status_code == 200
    assert client.put(URL, json={}, headers={"Authorization": f"Bearer {shown}"}).status_code == 401

    result = runner.invoke(args=["api-clients", "create", "--area-id", str(tree.b.community.id), "--name", "南湖"])
    assert result.exit_code == 0, result.output
    cli_key = result.output.split("key: ")[1].split()[0]
    assert _put(client, cli_key, {})["totals"]["created"] == 0
    with app.app_context():
        cli_client = db.session.scalar(select(ApiClient).where(ApiClient.name == "南湖"))
    result = runner.invoke(args=["api-clients", "revoke", "--id", str(cli_client.id)])
    assert result.exit_code == 0, result.output
    assert client.put(URL, json={}, headers={"Authorization": f"Bearer {cli_key}"}).status_code == 401


def test_the_openapi_document_lists_the_sync_and_its_errors(client):
    operation = client.get("/api/v1/openapi.json").json["paths"][URL]["put"]
    assert {"200", "400", "401", "403", "409", "413"} <= set(operation["responses"])
    assert "too_many_rows" in operation["responses"]["400"]["description"]
    assert "client_key_required" in operation["responses"]["403"]["description"]
