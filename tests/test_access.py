"""Scope: role × area × URL → status. Staff of one community never see another's data (404)."""

import re

import pytest
from sqlalchemy import select

from domain import org
from domain.access import MANAGERS, can, get_visible, scope_clause
from domain.errors import NotFound
from models import Area, Household, User, db
from tests.conftest import login, token_for
from tests.test_leaderboards import reads_a_path_range, sibling_sorting_after

# (who, url template, expected status). {a.*} is community A's tree, {b.*} community B's.
PAGE_CASES = [
    ("staff_a", "/areas/{a.community}", 200),
    ("staff_a", "/areas/{a.unit}", 200),
    ("staff_a", "/areas/{b.community}", 404),
    ("staff_a", "/areas/{b.unit}", 404),
    ("staff_a", "/areas/{street}", 404),
    ("staff_a", "/areas/{a.community}/vacant-units", 200),
    ("staff_a", "/areas/{b.community}/vacant-units", 404),
    ("staff_a", "/areas/{a.community}/heads.xlsx", 200),
    ("staff_a", "/areas/{b.community}/heads.xlsx", 404),
    ("staff_a", "/people/{resident_b}", 404),
    ("staff_a", "/people/{volunteer_a}", 200),
    ("staff_b", "/areas/{a.grid}", 404),
    ("staff_b", "/people/{head_a}", 404),
    ("street_staff", "/areas/{a.unit}", 200),
    ("street_staff", "/areas/{b.unit}", 200),
    ("street_staff", "/people/{resident_b}", 200),
    ("street_staff", "/areas/{district}", 404),
    ("admin", "/areas/{district}", 200),
    ("admin", "/areas/{b.unit}/heads.xlsx", 200),
    ("head_a", "/areas/{a.unit}", 200),
    ("head_a", "/areas/{a.unit}/vacant-units", 404),
    ("head_a", "/areas/{a.unit}/heads.xlsx", 404),
    ("head_a", "/areas/{b.unit}", 404),
    ("volunteer_a", "/areas/{a.community}", 200),
    ("volunteer_a", "/areas/{a.community}/heads.xlsx", 404),
    ("volunteer_a", "/people/{head_a}", 404),
    ("resident_b", "/areas/{a.community}", 404),
]

API_CASES = [
    ("staff_a", "GET", "/api/v1/areas/{a.unit}", 200),
    ("staff_a", "GET", "/api/v1/areas/{b.unit}", 404),
    ("staff_b", "GET", "/api/v1/areas/{a.community}/children", 404),
    ("street_staff", "GET", "/api/v1/areas/{b.community}/children", 200),
    ("head_a", "GET", "/api/v1/areas/{a.unit}", 200),
    ("head_a", "GET", "/api/v1/areas/{b.building}", 404),
    ("head_a", "POST", "/api/v1/areas", 404),
    ("staff_b", "POST", "/api/v1/areas", 404),
    ("staff_a", "POST", "/api/v1/areas", 201),
    ("street_staff", "POST", "/api/v1/areas", 201),
]


def _fill(url: str, tree) -> str:
    class Ids:
        def __init__(self, obj):
            self.obj = obj

        def __getattr__(self, name):
            value = getattr(self.obj, name)
            return value.id if isinstance(value, Area | User) else Ids(value)

        def __format__(self, spec):
            return str(self.obj.id)

    return url.format(**{k: Ids(v) if not isinstance(v, Area | User) else v.id for k, v in vars(tree).items()})


@pytest.mark.parametrize(("who", "url", "status"), PAGE_CASES)
def test_page_scope(client, tree, who, url, status):
    login(client, getattr(tree, who))
    response = client.get(_fill(url, tree))
    response.close()
    assert response.status_code == status


@pytest.mark.parametrize(("who", "method", "url", "status"), API_CASES)
def test_api_scope(client, tree, who, method, url, status):
    headers = token_for(client, getattr(tree, who))
    body = {"parent_id": tree.a.community.id, "level": "grid", "name": f"{who} grid"} if method == "POST" else None
    response = client.open(_fill(url, tree), method=method, headers=headers, json=body)
    assert response.status_code == status, response.text


def test_every_page_needs_sign_in(app, client, tree):
    """Every page route except sign-in, language and static redirects an anonymous visitor to sign in."""
    open_endpoints = {"auth.login", "auth.set_language", "display.choose", "static", "certificates.verify",
                      "certificates.check", "honours.notice", "honours.roll", "honours.verify", "honours.check",
                      "share.favicon", "codes.forgot", "codes.send", "codes.enter", "outbox.dev_outbox"}
    values = {"area_id": tree.a.unit.id, "person_id": tree.head_a.id, "decision": "accept", "number": "2026-X"}
    for rule in app.url_map.iter_rules():
        if rule.endpoint in open_endpoints or rule.rule.startswith("/api/"):
            continue
        url = re.sub(r"<[^>]*?(\w+)>", lambda m: str(values.get(m[1], 1)), rule.rule)
        method = "GET" if "GET" in rule.methods else "POST"
        response = client.open(url, method=method)
        assert response.status_code == 302, (rule.rule, response.status_code)
        assert "/login" in response.headers["Location"]


def test_can_follows_the_tree(dbs, tree):
    staff_a = db.session.merge(tree.staff_a)
    assert can(staff_a, "area.manage", db.session.merge(tree.a.unit))
    assert not can(staff_a, "area.manage", db.session.merge(tree.b.unit))
    assert not can(db.session.merge(tree.head_a), "area.manage", db.session.merge(tree.a.unit))
    assert can(db.session.merge(tree.head_a), "area.view", db.session.merge(tree.a.unit))
    assert can(db.session.merge(tree.admin), "area.manage", db.session.merge(tree.b.unit))
    # A person may always look at themself, but not manage themself.
    head = db.session.merge(tree.head_a)
    assert can(head, "person.see_phone", head) and not can(head, "person.manage", head)


def test_a_sibling_whose_path_begins_with_the_same_digits_is_outside_the_scope(app, tree, make_area, make_user):
    """Community A at "/1/2/3/" and a sibling at "/1/2/37/": the text of one path begins with the other's digits,
    yet neither community's staff reaches into the other, through the scope clause most lists are filtered by."""
    sibling = sibling_sorting_after(make_area, tree.a.community)
    unit = make_area("unit", make_area("building", make_area("grid", sibling)))
    with app.app_context():
        household = Household(unit_id=unit.id, label="101")
        db.session.add(household)
        db.session.commit()
    neighbour = make_user("邻居丁", roles=[("resident", sibling)], household=household)
    staff_sibling = make_user("邻社干部", roles=[("staff", sibling)])
    with app.app_context():
        areas = db.session.scalars(select(Area)).all()
        for staff, own in ((tree.staff_a, tree.a.community), (staff_sibling, sibling)):
            staff = db.session.merge(staff)
            in_scope = select(Area.id).where(scope_clause(staff, MANAGERS, Area.path))
            assert set(db.session.scalars(in_scope)) == {a.id for a in areas if a.path.startswith(own.path)}
            assert reads_a_path_range(in_scope)  # only the subtree is read, whatever the city's size
        people_a = {u.id for u in org.find_people(db.session.merge(tree.staff_a), "")}
        people_sibling = {u.id for u in org.find_people(db.session.merge(staff_sibling), "")}
    assert neighbour.id in people_sibling and neighbour.id not in people_a
    assert tree.volunteer_a.id in people_a and tree.volunteer_a.id not in people_sibling


def test_signed_out_api_scope_is_401(client, tree):
    assert client.get(_fill("/api/v1/areas/{a.unit}", tree)).status_code == 401


@pytest.mark.parametrize("ident", [10**11, 2**31, 0, -1])
def test_an_id_no_row_can_have_is_not_found_not_an_error(dbs, tree, ident):
    """An id typed into a form (12 digits pass forms.id_arg) beyond PostgreSQL's integer never reaches the database
    ("integer out of range" would answer 500)."""
    admin = db.session.merge(tree.admin)
    with pytest.raises(NotFound):
        get_visible(Area, ident, admin, "area.view")
    assert get_visible(Area, tree.a.community.id, admin, "area.view").id == tree.a.community.id
