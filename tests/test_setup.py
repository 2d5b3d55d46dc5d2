"""The first administrator's first minutes: from `users create-admin` on an empty installation to a district, a
community and its staff, through the first-run pages (domain/setup.py, blueprints/setup.py)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from domain import accounts, setup
from domain.errors import Invalid, NotFound
from models import Area, AuditEvent, Level, Role, RoleGrant, User, db
from tests.conftest import login

ADMIN_PHONE = "13900001111"
ADMIN_PASSWORD = "a good long password"
STAFF_PASSWORD = "first pass phrase 7"


@pytest.fixture
def fresh(app, runner):
    """An empty installation with its first administrator, made as an operator makes it, signed in on a client."""
    result = runner.invoke(args=["users", "create-admin", "--phone", ADMIN_PHONE, "--name", "管理员",
                                 "--password", ADMIN_PASSWORD])
    assert result.exit_code == 0, result.output
    client = app.test_client()
    assert client.post("/login", data={"phone": ADMIN_PHONE, "password": ADMIN_PASSWORD}).status_code == 302
    return client


def _once(page: str) -> str:
    return re.search(r'name="_once" value="([^"]+)"', page)[1]


def _marked(page: str, field: str) -> bool:
    """Is the field `field` marked invalid on the page?"""
    return any('aria-invalid="true"' in tag for tag in re.findall(rf'<[^>]*\bid="{field}"[^>]*>', page))


def _admin() -> User:
    return db.session.scalar(select(User).where(User.phone == ADMIN_PHONE))


def test_an_administrator_of_an_empty_installation_is_led_to_the_first_run_page(fresh):
    home = fresh.get("/").text
    assert 'data-testid="home-setup-start"' in home and "/setup" in home
    assert "You have no role yet" not in home and "您还没有角色" not in home
    audit = fresh.get("/audit")
    assert audit.status_code == 302 and audit.headers["Location"].endswith("/setup")
    assert fresh.get("/setup").status_code == 200


def test_the_three_steps_make_a_district_a_street_a_community_and_its_staff(app, fresh):
    start = fresh.get("/setup").text
    made = fresh.post("/setup", data={"level": "district", "name": "朝阳区", "code": "CY", "_once": _once(start)})
    assert made.status_code == 302
    with app.app_context():
        district = db.session.scalar(select(Area).where(Area.parent_id.is_(None)))
        assert (district.level, district.name, district.code) == (Level.district, "朝阳区", "CY")
    assert made.headers["Location"].endswith(f"/setup/areas/{district.id}/communities")

    page = fresh.get(f"/setup/areas/{district.id}/communities").text
    assert 'list="setup-streets"' in page
    for name in ("银融社区", "五里堆社区"):
        page = fresh.get(f"/setup/areas/{district.id}/communities").text
        added = fresh.post(f"/setup/areas/{district.id}/communities",
                           data={"street": "东风街道", "name": name, "_once": _once(page)})
        assert added.status_code == 302
    with app.app_context():
        streets = db.session.scalars(select(Area).where(Area.level == Level.street)).all()
        assert [s.name for s in streets] == ["东风街道"]  # the second community found the street by its name
        communities = setup.communities_of(db.session.get(Area, district.id))
        assert [c.name for c in communities] == ["银融社区", "五里堆社区"]
        assert all(c.parent_id == streets[0].id for c in communities)
        community_id = communities[0].id

    page = fresh.get(f"/setup/communities/{community_id}/staff").text
    assert f"/areas/{community_id}/roster" in page  # or import a roster instead
    staffed = fresh.post(f"/setup/communities/{community_id}/staff", data={
        "name": "张敏", "phone": "13911112222", "password": STAFF_PASSWORD, "_once": _once(page)})
    assert staffed.status_code == 302
    with app.app_context():
        person = accounts.authenticate("13911112222", STAFF_PASSWORD)
        assert person is not None and [(g.role, g.area_id) for g in person.grants] == [(Role.staff, community_id)]
        actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
        assert actions.count("area.create") == 4 and "person.create" in actions
        # The administrator's grant on the whole tree covers what was made: no new grant was needed.
        assert [(g.role, g.area_id) for g in _admin().grants] == [(Role.admin, None)]

    home = fresh.get("/").text
    assert "朝阳区" in home and "银融社区" in home and "五里堆社区" in home
    assert fresh.get("/audit").status_code == 302  # now to the district's trail
    assert fresh.get(f"/areas/{district.id}/audit").status_code == 200


def test_each_step_counts_once(app, fresh):
    start = fresh.get("/setup").text
    key = _once(start)
    data = {"level": "street", "name": "东风街道", "_once": key}
    first = fresh.post("/setup", data=data)
    again = fresh.post("/setup", data=data)
    assert first.status_code == 302 and again.status_code in (302, 303)
    assert again.headers["Location"] == first.headers["Location"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Area)) == 1
        street_id = db.session.scalar(select(Area.id))
    page = fresh.get(f"/setup/areas/{street_id}/communities").text
    assert 'list="setup-streets"' not in page  # under a street the community goes straight in
    data = {"name": "银融社区", "_once": _once(page)}
    fresh.post(f"/setup/areas/{street_id}/communities", data=data)
    fresh.post(f"/setup/areas/{street_id}/communities", data=data)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Area).where(Area.level == Level.community)) == 1


@pytest.mark.parametrize(("data", "field", "status"), [
    ({"level": "community", "name": "x"}, "level", 400),
    ({"level": "district", "name": ""}, "name", 400),
    ({"level": "district", "name": "区" * 101}, "name", 400),
    ({"level": "district", "name": "\u200b"}, "name", 400),
    ({"level": "district", "name": "朝阳区", "code": "C" * 65}, "code", 400),
])
def test_step_one_refuses_what_cannot_be_and_says_where(app, fresh, data, field, status):
    answer = fresh.post("/setup", data=data)
    assert answer.status_code == status
    assert _marked(answer.text, field), answer.text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Area)) == 0


def test_a_community_under_a_district_needs_its_street(app, fresh):
    fresh.post("/setup", data={"level": "district", "name": "朝阳区"})
    with app.app_context():
        district_id = db.session.scalar(select(Area.id))
    answer = fresh.post(f"/setup/areas/{district_id}/communities", data={"name": "银融社区"})
    assert answer.status_code == 400 and _marked(answer.text, "street")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Area)) == 1


def test_staff_refused_with_a_weak_password_or_a_phone_taken(app, fresh):
    fresh.post("/setup", data={"level": "street", "name": "东风街道"})
    with app.app_context():
        street_id = db.session.scalar(select(Area.id))
    fresh.post(f"/setup/areas/{street_id}/communities", data={"name": "银融社区"})
    with app.app_context():
        community_id = db.session.scalar(select(Area.id).where(Area.level == Level.community))
    weak = fresh.post(f"/setup/communities/{community_id}/staff",
                      data={"name": "张敏", "phone": "13911112222", "password": "short"})
    assert weak.status_code == 400 and _marked(weak.text, "password")
    taken = fresh.post(f"/setup/communities/{community_id}/staff",
                       data={"name": "张敏", "phone": ADMIN_PHONE, "password": STAFF_PASSWORD})
    assert taken.status_code == 400 and _marked(taken.text, "phone")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 1


def test_only_an_administrator_runs_the_first_run_pages(app, client, tree):
    login(client, tree.staff_a)
    assert client.get("/setup").status_code == 404
    assert client.post("/setup", data={"level": "district", "name": "别处"}).status_code == 404
    assert client.get(f"/setup/areas/{tree.district.id}/communities").status_code == 404
    assert client.get(f"/setup/communities/{tree.a.community.id}/staff").status_code == 404
    assert 'data-testid="home-setup' not in client.get("/").text
    client.post("/logout")
    login(client, tree.admin)
    assert client.get(f"/setup/areas/{tree.street.id}/communities").status_code == 200  # a street under the top
    assert client.get(f"/setup/areas/{tree.a.unit.id}/communities").headers["Location"].endswith("/setup")
    assert client.get(f"/setup/communities/{tree.street.id}/staff").headers["Location"].endswith(
        f"/setup/areas/{tree.street.id}/communities")
    assert client.get(f"/setup/communities/{tree.a.community.id}/staff").status_code == 200
    home = client.get("/").text
    assert 'data-testid="home-setup-more"' in home and 'data-testid="home-setup-start"' not in home


def test_the_domain_steps_refuse_anyone_but_an_administrator(dbs, tree):
    staff = db.session.merge(tree.staff_a)
    with pytest.raises(NotFound):
        setup.create_top_area(staff, level="district", name="别处")
    with pytest.raises(NotFound):
        setup.add_community(staff, db.session.merge(tree.street), name="新社区")
    admin = db.session.merge(tree.admin)
    with pytest.raises(Invalid):
        setup.create_top_area(admin, level="grid", name="网格")
    with pytest.raises(Invalid):
        setup.add_staff(admin, db.session.merge(tree.a.community), name="x", phone="13911113333", password="")
    assert db.session.scalar(select(func.count()).select_from(RoleGrant).where(RoleGrant.area_id.is_(None))) == 1
