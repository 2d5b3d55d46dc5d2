"""Households and people over the API: scope (another community's are not found), phones masked per viewer, search
and paging, every change audited, roles replaced within the caller's reach only, disabling that ends the tokens."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import select

from domain import households
from models import AuditEvent, Household, RoleGrant, User, db
from tests.conftest import run_concurrently, token_for


def error_code(response) -> str:
    assert set(response.json) == {"error"}, response.json
    return response.json["error"]["code"]


def audits(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                       .order_by(AuditEvent.id)))


def grants_of(app, person: User) -> set[tuple[str, int | None]]:
    with app.app_context():
        return {(g.role.value, g.area_id) for g in db.session.scalars(select(RoleGrant)
                                                                       .where(RoleGrant.user_id == person.id))}


def masked(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}"


@pytest.fixture
def as_(client):
    """Bearer headers of a person, asked for once per person in a test."""
    tokens = {}

    def headers(person: User) -> dict:
        if person.id not in tokens:
            tokens[person.id] = token_for(client, person)
        return tokens[person.id]
    return headers


# --- households ------------------------------------------------------------------------------------------------------

class TestHouseholds:
    def test_staff_add_a_household_to_a_unit_audited(self, app, client, tree, as_):
        response = client.post("/api/v1/households", headers=as_(tree.staff_a),
                               json={"unit_id": tree.a.unit.id, "label": "201", "size": 3})
        assert response.status_code == 201, response.json
        body = response.json
        assert body["unit_id"] == tree.a.unit.id and body["label"] == "201" and body["size"] == 3
        assert body["place"] == "第一网格 1号楼 1单元 201" and body["members"] == 0
        assert [e.object_id for e in audits(app, "household.create")] == [body["id"]]

    def test_the_same_door_number_twice_is_409(self, client, tree, as_):
        response = client.post("/api/v1/households", headers=as_(tree.staff_a),
                               json={"unit_id": tree.a.unit.id, "label": "101"})
        assert response.status_code == 409 and error_code(response) == "household_exists"

    def test_a_household_belongs_to_a_unit_not_a_building(self, client, tree, as_):
        response = client.post("/api/v1/households", headers=as_(tree.staff_a),
                               json={"unit_id": tree.a.building.id, "label": "201"})
        assert response.status_code == 422 and error_code(response) == "not_a_unit"

    @pytest.mark.parametrize("who", ["staff_b", "head_a", "volunteer_a"])
    def test_only_staff_of_the_unit_add_households(self, app, client, tree, as_, who):
        response = client.post("/api/v1/households", headers=as_(getattr(tree, who)),
                               json={"unit_id": tree.a.unit.id, "label": "202"})
        assert response.status_code == 404
        with app.app_context():
            assert db.session.scalar(select(Household).where(Household.label == "202")) is None

    @pytest.mark.parametrize(("who", "status"), [("staff_a", 200), ("street_staff", 200), ("admin", 200),
                                                 ("head_a", 200), ("staff_b", 404), ("volunteer_a", 404),
                                                 ("resident_b", 404)])
    def test_heads_and_staff_over_the_unit_read_a_household(self, client, tree, as_, who, status):
        response = client.get(f"/api/v1/households/{tree.a.household.id}", headers=as_(getattr(tree, who)))
        assert response.status_code == status
        if status == 200:
            assert response.json["members"] == 2  # the unit head and the volunteer live there

    def test_staff_change_the_door_number_and_size_audited(self, app, client, tree, as_):
        url = f"/api/v1/households/{tree.a.household.id}"
        response = client.patch(url, headers=as_(tree.staff_a), json={"label": "102", "size": None})
        assert response.status_code == 200, response.json
        assert response.json["label"] == "102" and response.json["size"] is None
        assert response.json["place"].endswith("1单元 102")
        event = audits(app, "household.update")[-1]
        assert event.before == {"label": "101", "size": 2} and event.after == {"label": "102", "size": None}
        assert event.actor_id == tree.staff_a.id and event.area_id == tree.a.unit.id
        assert client.patch(url, headers=as_(tree.staff_a), json={"size": 4}).json["size"] == 4
        assert client.patch(url, headers=as_(tree.staff_a), json={"size": 4}).status_code == 200
        assert len(audits(app, "household.update")) == 2  # nothing changed the third time: nothing audited

    def test_a_door_number_taken_in_the_unit_is_409(self, client, tree, as_):
        client.post("/api/v1/households", headers=as_(tree.staff_a), json={"unit_id": tree.a.unit.id, "label": "201"})
        response = client.patch(f"/api/v1/households/{tree.a.household.id}", headers=as_(tree.staff_a),
                                json={"label": "201"})
        assert response.status_code == 409 and error_code(response) == "household_exists"

    @pytest.mark.parametrize("who", ["head_a", "staff_b"])
    def test_heads_read_but_do_not_change_households(self, app, client, tree, as_, who):
        response = client.patch(f"/api/v1/households/{tree.a.household.id}", headers=as_(getattr(tree, who)),
                                json={"label": "999"})
        assert response.status_code == 404
        with app.app_context():
            assert db.session.get(Household, tree.a.household.id).label == "101"

    def test_a_unit_lists_its_door_numbers_in_natural_order_a_page_at_a_time(self, client, tree, as_):
        for label in ("1001", "201", "3", "102"):
            client.post("/api/v1/households", headers=as_(tree.staff_a), json={"unit_id": tree.a.unit.id,
                                                                              "label": label})
        url = f"/api/v1/areas/{tree.a.unit.id}/households"
        whole = client.get(url, headers=as_(tree.staff_a)).json
        assert [h["label"] for h in whole["items"]] == ["3", "101", "102", "201", "1001"]
        assert whole["total"] == 5 and whole["page"] == 1 and whole["per_page"] == 50
        second = client.get(url, headers=as_(tree.staff_a), query_string={"page": 2, "per_page": 2}).json
        assert [h["label"] for h in second["items"]] == ["102", "201"] and second["total"] == 5
        assert client.get(url, headers=as_(tree.head_a)).status_code == 200  # the unit's head

    def test_a_building_lists_the_households_of_its_units(self, client, make_area, tree, as_):
        unit2 = make_area("unit", tree.a.building, name="2单元")
        client.post("/api/v1/households", headers=as_(tree.staff_a), json={"unit_id": unit2.id, "label": "101"})
        listed = client.get(f"/api/v1/areas/{tree.a.building.id}/households", headers=as_(tree.staff_a)).json
        assert [h["place"] for h in listed["items"]] == ["第一网格 1号楼 1单元 101", "第一网格 1号楼 2单元 101"]
        street = client.get(f"/api/v1/areas/{tree.street.id}/households", headers=as_(tree.street_staff)).json
        assert street["total"] == 3 and street["items"][0]["place"].startswith("银融社区 ")

    @pytest.mark.parametrize(("who", "area"), [("head_a", "building"), ("staff_b", "unit"), ("volunteer_a", "unit")])
    def test_listing_needs_the_sight_of_the_area_people(self, client, tree, as_, who, area):
        """The unit head sees their unit's households, not the building's; staff of B nothing of A."""
        response = client.get(f"/api/v1/areas/{getattr(tree.a, area).id}/households", headers=as_(getattr(tree, who)))
        assert response.status_code == 404


# --- people: search, read --------------------------------------------------------------------------------------------

class TestFinding:
    def test_staff_list_their_community_people_only(self, client, tree, as_):
        body = client.get("/api/v1/people", headers=as_(tree.staff_a)).json
        ids = {p["id"] for p in body["items"]}
        assert ids == {tree.staff_a.id, tree.head_a.id, tree.volunteer_a.id}
        assert body["total"] == 3
        names = [p["name"] for p in body["items"]]
        assert names == sorted(names)

    def test_another_community_person_is_not_found(self, client, tree, as_):
        assert client.get(f"/api/v1/people/{tree.volunteer_a.id}", headers=as_(tree.staff_b)).status_code == 404
        listed = client.get("/api/v1/people", headers=as_(tree.staff_b), query_string={"q": "志愿者"}).json
        assert listed["items"] == [] and listed["total"] == 0

    def test_phones_are_masked_as_the_pages_mask_them(self, client, tree, as_):
        def phone_of(viewer, person):
            response = client.get(f"/api/v1/people/{person.id}", headers=as_(viewer))
            assert response.status_code == 200
            return response.json["phone"]
        assert phone_of(tree.staff_a, tree.volunteer_a) == tree.volunteer_a.phone
        assert phone_of(tree.street_staff, tree.volunteer_a) == tree.volunteer_a.phone
        assert phone_of(tree.head_a, tree.volunteer_a) == masked(tree.volunteer_a.phone)
        assert phone_of(tree.volunteer_a, tree.volunteer_a) == tree.volunteer_a.phone  # one's own
        listed = client.get("/api/v1/people", headers=as_(tree.head_a)).json["items"]
        assert {p["id"]: p["phone"] for p in listed}[tree.volunteer_a.id] == masked(tree.volunteer_a.phone)

    def test_a_person_comes_with_household_and_state(self, client, tree, as_):
        body = client.get(f"/api/v1/people/{tree.volunteer_a.id}", headers=as_(tree.staff_a)).json
        assert body["household"] == "第一网格 1号楼 1单元 101" and body["household_id"] == tree.a.household.id
        assert body["active"] is True
        wide = client.get(f"/api/v1/people/{tree.volunteer_a.id}", headers=as_(tree.street_staff)).json
        assert wide["household"] == "银融社区 第一网格 1号楼 1单元 101"  # street staff see several communities
        assert body["roles"] == [{"role": "volunteer", "area": {"id": tree.a.community.id, "name": "银融社区",
                                                                "level": "community"}}]

    @pytest.mark.parametrize(("q", "found"), [("志愿", {"volunteer_a"}), ("单元长", {"head_a"}), ("银融", {"staff_a"}),
                                              ("volunteer_last4", {"volunteer_a"}), ("volunteer_full", {"volunteer_a"}),
                                              ("volunteer_last3", set()), ("nobody", set())])
    def test_search_by_name_or_phone_digits(self, client, tree, as_, q, found):
        phone = tree.volunteer_a.phone
        text = {"volunteer_last4": phone[-4:], "volunteer_full": phone, "volunteer_last3": phone[-3:],
                "nobody": "王五"}.get(q, q)
        body = client.get("/api/v1/people", headers=as_(tree.staff_a), query_string={"q": text}).json
        assert {p["id"] for p in body["items"]} == {getattr(tree, k).id for k in found}

    def test_filters_by_area_role_and_state(self, app, client, tree, as_):
        def found(**query):
            body = client.get("/api/v1/people", headers=as_(tree.street_staff), query_string=query)
            assert body.status_code == 200, body.json
            return {p["id"] for p in body.json["items"]}
        assert found(area_id=tree.a.unit.id) == {tree.head_a.id, tree.volunteer_a.id}
        assert found(area_id=tree.b.community.id) == {tree.staff_b.id, tree.resident_b.id}
        assert found(role="volunteer") == {tree.volunteer_a.id}
        assert found(role="staff", area_id=tree.a.community.id) == {tree.staff_a.id}
        assert found(active="false") == set()
        with app.app_context():
            db.session.get(User, tree.resident_b.id).active = False
            db.session.commit()
        assert found(active="false") == {tree.resident_b.id}

    def test_an_area_out_of_sight_is_not_found(self, client, tree, as_):
        response = client.get("/api/v1/people", headers=as_(tree.staff_a), query_string={"area_id": tree.b.unit.id})
        assert response.status_code == 404

    def test_pages(self, client, tree, as_):
        seen = []
        for page in (1, 2, 3, 4):
            body = client.get("/api/v1/people", headers=as_(tree.staff_a),
                              query_string={"page": page, "per_page": 1}).json
            assert body["total"] == 3 and body["page"] == page and body["per_page"] == 1
            seen += [p["id"] for p in body["items"]]
        assert sorted(seen) == sorted({tree.staff_a.id, tree.head_a.id, tree.volunteer_a.id})

    def test_a_misspelt_filter_is_refused(self, client, tree, as_):
        response = client.get("/api/v1/people", headers=as_(tree.staff_a), query_string={"rolee": "staff"})
        assert response.status_code == 400


# --- people: changes --------------------------------------------------------------------------------------------------

class TestChanging:
    def test_staff_change_name_and_phone_audited_masked(self, app, client, tree, as_):
        response = client.patch(f"/api/v1/people/{tree.volunteer_a.id}", headers=as_(tree.staff_a),
                                json={"name": "志愿者丁", "phone": "138 0013 8999"})
        assert response.status_code == 200, response.json
        assert response.json["name"] == "志愿者丁" and response.json["phone"] == "13800138999"
        event = audits(app, "person.edit")[-1]
        assert event.actor_id == tree.staff_a.id and event.object_id == tree.volunteer_a.id
        assert event.after == {"name": "志***", "phone": "138****8999"}
        assert event.before["phone"] == masked(tree.volunteer_a.phone)

    def test_a_phone_someone_has_is_409(self, app, client, tree, as_):
        response = client.patch(f"/api/v1/people/{tree.volunteer_a.id}", headers=as_(tree.staff_a),
                                json={"phone": tree.head_a.phone})
        assert response.status_code == 409 and error_code(response) == "phone_taken"
        with app.app_context():
            assert db.session.get(User, tree.volunteer_a.id).phone == tree.volunteer_a.phone

    @pytest.mark.parametrize(("body", "code"), [({"phone": "12345"}, "phone_invalid"),
                                                ({"name": " "}, "validation_error")])
    def test_malformed_details_are_400(self, client, tree, as_, body, code):
        response = client.patch(f"/api/v1/people/{tree.volunteer_a.id}", headers=as_(tree.staff_a), json=body)
        assert response.status_code == 400 and error_code(response) == code

    def test_staff_of_another_community_change_nothing(self, app, client, tree, as_):
        response = client.patch(f"/api/v1/people/{tree.volunteer_a.id}", headers=as_(tree.staff_b),
                                json={"name": "改名"})
        assert response.status_code == 404
        assert client.patch(f"/api/v1/people/{tree.volunteer_a.id}", headers=as_(tree.head_a),
                            json={"name": "改名"}).status_code == 404
        with app.app_context():
            assert db.session.get(User, tree.volunteer_a.id).name == "志愿者乙"
        assert audits(app, "person.edit") == []

    def test_move_into_another_household_and_out(self, app, client, tree, as_):
        new = client.post("/api/v1/households", headers=as_(tree.staff_a),
                          json={"unit_id": tree.a.unit.id, "label": "301"}).json
        url = f"/api/v1/people/{tree.volunteer_a.id}"
        moved = client.patch(url, headers=as_(tree.staff_a), json={"household_id": new["id"]}).json
        assert moved["household_id"] == new["id"] and moved["household"].endswith(" 301")
        out = client.patch(url, headers=as_(tree.staff_a), json={"household_id": None}).json
        assert out["household_id"] is None and out["household"] is None
        assert [(e.before, e.after) for e in audits(app, "person.move")] == [
            ({"household_id": tree.a.household.id}, {"household_id": new["id"]}),
            ({"household_id": new["id"]}, {"household_id": None})]

    def test_a_household_of_another_community_is_not_found(self, app, client, tree, as_):
        response = client.patch(f"/api/v1/people/{tree.volunteer_a.id}", headers=as_(tree.staff_a),
                                json={"household_id": tree.b.household.id})
        assert response.status_code == 404
        with app.app_context():
            assert db.session.get(User, tree.volunteer_a.id).household_id == tree.a.household.id

    def test_roles_are_replaced_within_reach_the_others_kept(self, app, client, make_user, tree, as_):
        """A volunteer of A who is also staff of B: A's staff replace the A roles; B's staff role stays, and so does
        a head role (head posts decide those)."""
        both = make_user("两地人", roles=[("volunteer", tree.a.community), ("staff", tree.b.community),
                                         ("head", tree.a.unit)])
        response = client.patch(f"/api/v1/people/{both.id}", headers=as_(tree.staff_a), json={"roles": [
            {"role": "resident", "area_id": tree.a.grid.id}, {"role": "team_leader", "area_id": tree.a.community.id}]})
        assert response.status_code == 200, response.json
        assert grants_of(app, both) == {("resident", tree.a.grid.id), ("team_leader", tree.a.community.id),
                                        ("staff", tree.b.community.id), ("head", tree.a.unit.id)}
        event = audits(app, "person.roles")[-1]
        assert event.before == {"roles": [f"volunteer@{tree.a.community.id}"]}
        assert event.after == {"roles": sorted([f"resident@{tree.a.grid.id}", f"team_leader@{tree.a.community.id}"])}
        # The same roles again change nothing and write nothing.
        client.patch(f"/api/v1/people/{both.id}", headers=as_(tree.staff_a), json={"roles": [
            {"role": "resident", "area_id": tree.a.grid.id}, {"role": "team_leader", "area_id": tree.a.community.id}]})
        assert len(audits(app, "person.roles")) == 1

    def test_a_role_kept_while_others_change(self, app, client, tree, as_):
        url = f"/api/v1/people/{tree.volunteer_a.id}"
        roles = [{"role": "volunteer", "area_id": tree.a.community.id}, {"role": "resident", "area_id": tree.a.unit.id}]
        assert client.patch(url, headers=as_(tree.staff_a), json={"roles": roles}).status_code == 200
        assert grants_of(app, tree.volunteer_a) == {("volunteer", tree.a.community.id), ("resident", tree.a.unit.id)}

    @pytest.mark.parametrize(("role", "area", "status", "code"), [
        ("head", "unit", 422, "use_heads_endpoint"), ("admin", None, 403, "role_not_allowed"),
        ("staff", None, 403, "role_not_allowed"), ("resident", "b_unit", 404, "not_found")])
    def test_roles_staff_may_not_grant(self, app, client, tree, as_, role, area, status, code):
        area_id = {"unit": tree.a.unit.id, "b_unit": tree.b.unit.id, None: None}[area]
        response = client.patch(f"/api/v1/people/{tree.volunteer_a.id}", headers=as_(tree.staff_a),
                                json={"roles": [{"role": role, "area_id": area_id}]})
        assert response.status_code == status and error_code(response) == code
        assert grants_of(app, tree.volunteer_a) == {("volunteer", tree.a.community.id)}

    def test_a_person_keeps_a_household_or_a_role(self, app, client, tree, as_):
        url = f"/api/v1/people/{tree.volunteer_a.id}"
        assert client.patch(url, headers=as_(tree.staff_a), json={"roles": []}).status_code == 200  # the household
        response = client.patch(url, headers=as_(tree.staff_a), json={"household_id": None})
        assert response.status_code == 422 and error_code(response) == "person_unplaced"
        with app.app_context():
            assert db.session.get(User, tree.volunteer_a.id).household_id == tree.a.household.id

    def test_the_name_of_someone_with_roles_elsewhere_is_not_theirs_to_change(self, client, make_user, tree, as_):
        both = make_user("两地人", roles=[("volunteer", tree.a.community), ("staff", tree.b.community)])
        response = client.patch(f"/api/v1/people/{both.id}", headers=as_(tree.staff_a), json={"phone": "13800138777"})
        assert response.status_code == 403 and error_code(response) == "person_not_yours"
        unchanged = client.patch(f"/api/v1/people/{both.id}", headers=as_(tree.staff_a),
                                 json={"name": "两地人", "phone": both.phone, "household_id": tree.a.household.id})
        assert unchanged.status_code == 200 and unchanged.json["household_id"] == tree.a.household.id
        assert client.patch(f"/api/v1/people/{both.id}", headers=as_(tree.street_staff),
                            json={"phone": "13800138777"}).status_code == 200


# --- disable, enable -------------------------------------------------------------------------------------------------

class TestDisabling:
    def test_disabling_revokes_the_person_tokens_at_once(self, app, client, tree, as_):
        theirs = as_(tree.volunteer_a)
        assert client.get("/api/v1/me", headers=theirs).status_code == 200
        response = client.post(f"/api/v1/people/{tree.volunteer_a.id}/disable", headers=as_(tree.staff_a),
                               json={"reason": "搬走了"})
        assert response.status_code == 200 and response.json["active"] is False
        refused = client.get("/api/v1/me", headers=theirs)
        assert refused.status_code == 401 and error_code(refused) == "invalid_token"
        event = audits(app, "person.disable")[-1]
        assert event.reason == "搬走了" and event.after["tokens_revoked"] == 1
        enabled = client.post(f"/api/v1/people/{tree.volunteer_a.id}/enable", headers=as_(tree.staff_a), json={})
        assert enabled.status_code == 200 and enabled.json["active"] is True
        assert client.get("/api/v1/me", headers=theirs).status_code == 401  # revoked stays revoked
        assert client.get("/api/v1/me", headers=token_for(client, tree.volunteer_a)).status_code == 200

    def test_one_cannot_disable_oneself(self, client, tree, as_):
        response = client.post(f"/api/v1/people/{tree.staff_a.id}/disable", headers=as_(tree.staff_a),
                               json={"reason": "测试"})
        assert response.status_code == 422 and error_code(response) == "cannot_disable_self"

    def test_a_reason_is_required(self, client, tree, as_):
        url = f"/api/v1/people/{tree.volunteer_a.id}/disable"
        assert client.post(url, headers=as_(tree.staff_a), json={}).status_code == 400
        response = client.post(url, headers=as_(tree.staff_a), json={"reason": "  "})
        assert response.status_code == 400 and error_code(response) == "reason_required"

    @pytest.mark.parametrize("who", ["staff_b", "head_a"])
    def test_others_disable_nobody(self, app, client, tree, as_, who):
        theirs = as_(tree.volunteer_a)
        response = client.post(f"/api/v1/people/{tree.volunteer_a.id}/disable", headers=as_(getattr(tree, who)),
                               json={"reason": "x"})
        assert response.status_code == 404
        assert client.get("/api/v1/me", headers=theirs).status_code == 200


def test_the_operations_document_their_errors(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    patch = paths["/api/v1/people/{person_id}"]["patch"]["responses"]
    assert {"200", "400", "403", "404", "409", "422"} <= set(patch)
    assert "use_heads_endpoint" in patch["422"]["description"]
    assert "household_exists" in paths["/api/v1/households"]["post"]["responses"]["409"]["description"]
    assert "cannot_disable_self" in paths["/api/v1/people/{person_id}/disable"]["post"]["responses"]["422"][
        "description"]



def test_households_renamed_to_one_door_number_at_once_get_it_once(app, threaded_app, tree):
    """The UNIQUE (unit, label) decides between staff renaming several households to the same number at once: one
    gets it, the others hear household_exists; one audit event."""
    with app.app_context():
        ids = [tree.a.household.id]
        for label in ("102", "103", "104", "105", "106"):
            household = Household(unit_id=tree.a.unit.id, label=label)
            db.session.add(household)
            db.session.flush()
            ids.append(household.id)
        db.session.commit()

    def rename(i):
        household = db.session.get(Household, ids[i])
        return households.update_household(db.session.get(User, tree.staff_a.id), household, {"label": "500"})

    results = run_concurrently(threaded_app, rename, len(ids))
    codes = sorted("ok" if isinstance(r, Household) else getattr(r, "code", repr(r)) for r in results)
    assert codes == ["household_exists"] * (len(ids) - 1) + ["ok"]
    with app.app_context():
        assert db.session.scalars(select(Household.label).where(Household.unit_id == tree.a.unit.id)).all().count(
            "500") == 1
    assert len(audits(app, "household.update")) == 1


def test_a_resident_registered_over_the_api_lives_somewhere_and_asks_for_help(client, tree, as_):
    """The issue's case: a resident the grid system sends with a role on their unit had no household, and every
    resident action refused them. Now the household is made first, the person placed in it, and their need taken."""
    household = client.post("/api/v1/households", headers=as_(tree.staff_a),
                            json={"unit_id": tree.a.unit.id, "label": "502", "size": 1}).json
    person = client.post("/api/v1/people", headers=as_(tree.staff_a), json={
        "name": "李阿姨", "phone": "13700137002", "password": "a long pass phrase 7", "household_id": household["id"],
        "roles": [{"role": "resident", "area_id": tree.a.unit.id}]})
    assert person.status_code == 201, person.json
    assert client.get(f"/api/v1/households/{household['id']}", headers=as_(tree.staff_a)).json["members"] == 1
    theirs = token_for(client, SimpleNamespace(phone="13700137002"), "a long pass phrase 7")
    need = client.post("/api/v1/needs", headers=theirs, json={
        "area_id": tree.a.unit.id, "title": "水龙头漏水", "description": "厨房的水龙头一直滴水",
        "category": "plumbing"})
    assert need.status_code == 201, need.json
