"""The JSON API v1 as API.md promises it: tokens, /me, the tree, people, heads, errors."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from models import ApiToken, HeadPost, User, db
from tests.conftest import PASSWORD, login, token_for


def error_code(response) -> str:
    body = response.json
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]["code"]


class TestTokens:
    def test_token_for_right_credentials(self, client, tree):
        response = client.post("/api/v1/auth/token", json={"phone": tree.staff_a.phone, "password": PASSWORD})
        assert response.status_code == 200
        body = response.json
        assert len(body["token"]) >= 40
        assert datetime.fromisoformat(body["expires_at"]) > datetime.now(UTC)
        assert body["user"]["id"] == tree.staff_a.id
        assert body["user"]["phone"] == tree.staff_a.phone

    @pytest.mark.parametrize("password", ["wrong password", ""])
    def test_wrong_credentials_are_401(self, client, tree, password):
        response = client.post("/api/v1/auth/token", json={"phone": tree.staff_a.phone, "password": password})
        assert response.status_code in (400, 401)
        if password:
            assert response.status_code == 401 and error_code(response) == "invalid_credentials"

    def test_unknown_phone_is_401_like_a_wrong_password(self, client, tree):
        response = client.post("/api/v1/auth/token", json={"phone": "13312345678", "password": PASSWORD})
        assert response.status_code == 401 and error_code(response) == "invalid_credentials"

    def test_disabled_user_gets_no_token_and_loses_the_old_one(self, app, client, tree):
        headers = token_for(client, tree.staff_a)
        with app.app_context():
            db.session.get(User, tree.staff_a.id).active = False
            db.session.commit()
        assert client.get("/api/v1/me", headers=headers).status_code == 401
        response = client.post("/api/v1/auth/token", json={"phone": tree.staff_a.phone, "password": PASSWORD})
        assert response.status_code == 401

    def test_token_is_stored_hashed(self, app, client, tree):
        token = token_for(client, tree.staff_a)["Authorization"].split()[1]
        with app.app_context():
            stored = db.session.scalars(select(ApiToken.token_hash)).all()
        assert stored and token not in stored

    def test_revoked_token_is_refused(self, client, tree):
        headers = token_for(client, tree.staff_a)
        assert client.delete("/api/v1/auth/token", headers=headers).status_code == 204
        response = client.get("/api/v1/me", headers=headers)
        assert response.status_code == 401 and error_code(response) == "invalid_token"

    def test_expired_token_is_refused(self, app, client, tree):
        headers = token_for(client, tree.staff_a)
        with app.app_context():
            for token in db.session.scalars(select(ApiToken)):
                token.expires_at = datetime(2020, 1, 1, tzinfo=UTC)
            db.session.commit()
        assert client.get("/api/v1/me", headers=headers).status_code == 401

    def test_no_token_is_401(self, client, tree):
        response = client.get("/api/v1/me")
        assert response.status_code == 401 and error_code(response) == "unauthenticated"

    def test_session_cookie_reads_but_never_writes(self, client, tree):
        login(client, tree.staff_a)
        assert client.get("/api/v1/me").status_code == 200
        response = client.post("/api/v1/areas", json={"parent_id": tree.a.community.id, "level": "grid",
                                                      "name": "cookie grid"})
        assert response.status_code == 401


def test_me_shows_profile_balance_hours_and_roles(client, tree):
    response = client.get("/api/v1/me", headers=token_for(client, tree.head_a))
    assert response.status_code == 200
    body = response.json
    assert body["name"] == "单元长甲" and body["phone"] == tree.head_a.phone
    assert body["balance"] == 0 and body["hours"] == "0.0" and body["star_level"] == 0
    assert {(r["role"], r["area"]["id"]) for r in body["roles"]} == {
        ("head", tree.a.unit.id), ("resident", tree.a.community.id)}


class TestAreas:
    def test_area_with_its_head(self, client, tree):
        headers = token_for(client, tree.staff_a)
        appointed = client.post(f"/api/v1/areas/{tree.a.unit.id}/heads", headers=headers,
                                json={"user_id": tree.volunteer_a.id})
        assert appointed.status_code == 201
        assert appointed.json["tier"] == 3 and appointed.json["title"] == "单元长"
        body = client.get(f"/api/v1/areas/{tree.a.unit.id}", headers=headers).json
        assert body["level"] == "unit" and body["parent_id"] == tree.a.building.id
        assert [h["user"]["id"] for h in body["heads"]] == [tree.volunteer_a.id]

    def test_children_are_paginated(self, client, tree, make_area):
        for i in range(5):
            make_area("grid", tree.a.community, name=f"网格{i}")
        headers = token_for(client, tree.staff_a)
        page = client.get(f"/api/v1/areas/{tree.a.community.id}/children?page=2&per_page=2", headers=headers)
        assert page.status_code == 200
        assert page.json["total"] == 6 and page.json["page"] == 2 and page.json["per_page"] == 2
        assert len(page.json["items"]) == 2

    @pytest.mark.parametrize("per_page", [0, 201, "x"])
    def test_bad_paging_is_400(self, client, tree, per_page):
        response = client.get(f"/api/v1/areas/{tree.a.community.id}/children?per_page={per_page}",
                              headers=token_for(client, tree.staff_a))
        assert response.status_code == 400 and error_code(response) == "validation_error"
        assert "per_page" in response.json["error"]["fields"]

    def test_other_community_is_404(self, client, tree):
        headers = token_for(client, tree.staff_a)
        for url in (f"/api/v1/areas/{tree.b.community.id}", f"/api/v1/areas/{tree.b.unit.id}/children"):
            response = client.get(url, headers=headers)
            assert response.status_code == 404 and error_code(response) == "not_found"

    def test_create_area(self, client, tree):
        response = client.post("/api/v1/areas", headers=token_for(client, tree.staff_a),
                               json={"parent_id": tree.a.community.id, "level": "grid", "name": "第二网格",
                                     "code": "G-002"})
        assert response.status_code == 201
        assert response.json["path"] == f"{tree.a.community.path}{response.json['id']}/"
        assert response.json["code"] == "G-002"

    def test_unit_under_a_street_is_422(self, client, tree):
        response = client.post("/api/v1/areas", headers=token_for(client, tree.admin),
                               json={"parent_id": tree.street.id, "level": "unit", "name": "错位单元"})
        assert response.status_code == 422 and error_code(response) == "level_not_allowed"

    def test_top_level_area_needs_an_administrator(self, client, tree):
        body = {"parent_id": None, "level": "district", "name": "新区"}
        staff = client.post("/api/v1/areas", headers=token_for(client, tree.staff_a), json=body)
        assert staff.status_code == 403
        admin = client.post("/api/v1/areas", headers=token_for(client, tree.admin), json=body)
        assert admin.status_code == 201 and admin.json["parent_id"] is None

    @pytest.mark.parametrize("body", [
        {"parent_id": 1, "level": "grid"},
        {"parent_id": 1, "level": "planet", "name": "x"},
        {"parent_id": 1, "level": "grid", "name": "x", "extra": 1},
        {"parent_id": "one", "level": "grid", "name": "x"},
        {"parent_id": 1, "level": "grid", "name": ""},
    ])
    def test_malformed_body_is_400_with_fields(self, client, tree, body):
        response = client.post("/api/v1/areas", headers=token_for(client, tree.admin), json=body)
        assert response.status_code == 400 and error_code(response) == "validation_error"
        assert response.json["error"]["fields"]

    def test_not_json_is_400(self, client, tree):
        response = client.post("/api/v1/areas", headers={**token_for(client, tree.admin),
                                                         "Content-Type": "application/json"}, data="{nope")
        assert response.status_code == 400
        assert "error" in response.json

    def test_head_of_a_community_is_422(self, client, tree):
        response = client.post(f"/api/v1/areas/{tree.a.community.id}/heads", headers=token_for(client, tree.staff_a),
                               json={"user_id": tree.volunteer_a.id})
        assert response.status_code == 422 and error_code(response) == "not_a_head_level"

    def test_new_head_ends_the_previous_post(self, app, client, tree, make_user):
        headers = token_for(client, tree.staff_a)
        other = make_user("新楼栋长", household=tree.a.household)
        url = f"/api/v1/areas/{tree.a.building.id}/heads"
        assert client.post(url, headers=headers, json={"user_id": tree.volunteer_a.id}).status_code == 201
        assert client.post(url, headers=headers, json={"user_id": other.id}).status_code == 201
        with app.app_context():
            posts = db.session.scalars(select(HeadPost).where(HeadPost.area_id == tree.a.building.id)
                                       .order_by(HeadPost.id)).all()
        assert [(p.user_id, p.until is None) for p in posts] == [(tree.volunteer_a.id, False), (other.id, True)]

    def test_unit_head_cannot_appoint(self, client, tree):
        response = client.post(f"/api/v1/areas/{tree.a.unit.id}/heads", headers=token_for(client, tree.head_a),
                               json={"user_id": tree.volunteer_a.id})
        assert response.status_code == 404


class TestPeople:
    def test_create_person_with_roles(self, client, tree):
        response = client.post("/api/v1/people", headers=token_for(client, tree.staff_a), json={
            "name": "新居民", "phone": "138 1234 5678", "password": "a long password",
            "household_id": tree.a.household.id,
            "roles": [{"role": "volunteer", "area_id": tree.a.community.id}]})
        assert response.status_code == 201
        assert response.json["phone"] == "13812345678"  # normalised, and staff see it in full
        token = client.post("/api/v1/auth/token", json={"phone": "13812345678", "password": "a long password"})
        assert token.status_code == 200

    def test_phone_taken_is_409(self, client, tree):
        response = client.post("/api/v1/people", headers=token_for(client, tree.staff_a),
                               json={"name": "重复", "phone": tree.volunteer_a.phone, "roles": []})
        assert response.status_code == 409 and error_code(response) == "phone_taken"

    def test_bad_phone_is_400(self, client, tree):
        response = client.post("/api/v1/people", headers=token_for(client, tree.staff_a),
                               json={"name": "错号", "phone": "12345", "roles": []})
        assert response.status_code == 400 and error_code(response) == "phone_invalid"

    def test_short_password_is_422(self, client, tree):
        response = client.post("/api/v1/people", headers=token_for(client, tree.staff_a),
                               json={"name": "短密", "phone": "13811112222", "password": "short", "roles": []})
        assert response.status_code == 422 and error_code(response) == "password_too_short"

    @pytest.mark.parametrize("password", ["qq123456", "13811112222"])
    def test_common_password_or_own_phone_is_422(self, client, tree, password):
        response = client.post("/api/v1/people", headers=token_for(client, tree.staff_a),
                               json={"name": "弱密", "phone": "13811112222", "password": password, "roles": []})
        assert response.status_code == 422 and error_code(response) == "password_too_common"
        assert response.get_json()["error"]["fields"]["password"]

    def test_roles_outside_scope_are_404(self, client, tree):
        response = client.post("/api/v1/people", headers=token_for(client, tree.staff_a), json={
            "name": "越界", "phone": "13811113333", "roles": [{"role": "staff", "area_id": tree.b.community.id}]})
        assert response.status_code == 404

    def test_staff_cannot_make_an_administrator(self, client, tree):
        response = client.post("/api/v1/people", headers=token_for(client, tree.staff_a), json={
            "name": "夺权", "phone": "13811114444", "roles": [{"role": "admin", "area_id": None}]})
        assert response.status_code == 403

    def test_head_role_goes_through_appointment(self, client, tree):
        response = client.post("/api/v1/people", headers=token_for(client, tree.staff_a), json={
            "name": "直任", "phone": "13811115555", "roles": [{"role": "head", "area_id": tree.a.unit.id}]})
        assert response.status_code == 422 and error_code(response) == "role_not_allowed"


def test_phone_is_masked_across_scope(client, tree):
    """A unit head reads the unit's head list: the other person's phone is masked; staff see it."""
    staff = token_for(client, tree.staff_a)
    client.post(f"/api/v1/areas/{tree.a.unit.id}/heads", headers=staff, json={"user_id": tree.volunteer_a.id})
    as_staff = client.get(f"/api/v1/areas/{tree.a.unit.id}", headers=staff).json["heads"][0]["user"]["phone"]
    as_street = client.get(f"/api/v1/areas/{tree.a.unit.id}", headers=token_for(client, tree.resident_b))
    assert as_staff == tree.volunteer_a.phone
    assert as_street.status_code == 404
    as_head = client.get(f"/api/v1/areas/{tree.a.unit.id}",
                         headers=token_for(client, tree.head_a)).json["heads"][0]["user"]["phone"]
    assert as_head == tree.volunteer_a.phone[:3] + "****" + tree.volunteer_a.phone[-4:]


def test_unknown_api_path_is_json_404(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404 and error_code(response) == "not_found"


def test_wrong_method_is_405_with_allow_header(client):
    response = client.put("/api/v1/healthz")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
    assert error_code(response) == "method_not_allowed"


def test_openapi_describes_the_contract(client):
    spec = client.get("/api/v1/openapi.json").json
    paths = spec["paths"]
    for path in ("/api/v1/auth/token", "/api/v1/me", "/api/v1/areas", "/api/v1/areas/{area_id}",
                 "/api/v1/areas/{area_id}/children", "/api/v1/areas/{area_id}/heads", "/api/v1/people",
                 "/api/v1/healthz"):
        assert path in paths, path
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert paths["/api/v1/healthz"]["get"]["security"] == []


def test_healthz_is_503_when_the_database_is_gone(tmp_path):
    from tests.conftest import make_app

    app = make_app(f"sqlite:///{tmp_path}/missing/dir/db.sqlite")
    response = app.test_client().get("/api/v1/healthz")
    assert response.status_code == 503
    assert response.json["db"] == "unreachable"


@pytest.mark.parametrize("path", ["/api/v1/events/{id}", "/api/v1/service-records/{id}", "/api/v1/people/{id}",
                                  "/events/{id}", "/people/{id}"])
@pytest.mark.parametrize("ident", [2**31, 2**63 - 1, 2**63, 10**30])
def test_ids_beyond_any_row_are_404_not_an_overflow(client, tree, path, ident):
    login(client, tree.staff_a)
    response = client.get(path.format(id=ident), headers=token_for(client, tree.staff_a))
    assert response.status_code == 404
