"""Page sessions: a new one at sign-in, sign-out and sign-out-everywhere that really end them, disabling a
person, and the idle and absolute time-outs (time moved by back-dating the session's own timestamps)."""

from datetime import timedelta
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from domain import accounts
from domain.errors import Forbidden, Invalid, NotFound, Refused
from models import AuditEvent, RevokedSession, User, db, utcnow
from tests.conftest import PASSWORD, login, token_for

IDLE = 2 * 3600
LIFETIME = 8 * 3600


def _now() -> int:
    return int(utcnow().timestamp())


def _shift(client, **seconds_ago) -> None:
    """Back-date the session's sign-in (`signed_in=`) or last-seen (`seen=`) time by so many seconds."""
    with client.session_transaction() as session:
        for key, ago in seconds_ago.items():
            session[key] = _now() - ago


def _session(client) -> dict:
    with client.session_transaction() as session:
        return dict(session)


def _signed_in(client) -> bool:
    return client.get("/").status_code == 200


def test_sign_in_starts_a_new_session(client, tree):
    client.post("/lang/en")
    with client.session_transaction() as session:
        session["planted"] = "by someone else"
        session["sid"] = "chosen-by-an-attacker"
    login(client, tree.staff_a)
    session = _session(client)
    assert "planted" not in session
    assert session["sid"] != "chosen-by-an-attacker" and len(session["sid"]) >= 32
    assert session["lang"] == "en"  # the one thing kept
    assert session["ver"] == 0 and abs(session["signed_in"] - _now()) < 60 and session["seen"] == session["signed_in"]

    first = session["sid"]
    login(client, tree.staff_a)
    assert _session(client)["sid"] != first


def test_a_cookie_replayed_after_sign_out_is_refused(app, client, tree):
    login(client, tree.staff_a)
    other_device = app.test_client()
    login(other_device, tree.staff_a)
    copied = client.get_cookie("session").value

    assert client.post("/logout").status_code == 302
    assert not _signed_in(client)
    client.set_cookie("session", copied)
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.location
    assert client.get("/api/v1/me").status_code == 401  # the API's session reads refuse it too
    assert _signed_in(other_device)  # signing out here leaves the other devices alone


def test_sign_out_ends_the_revocation_when_the_session_would_have_expired(dbs, tree):
    staff = db.session.get(User, tree.staff_a.id)
    now = utcnow()
    accounts.end_session(staff, "old", now + timedelta(hours=1), now=now)
    accounts.end_session(staff, "old", now + timedelta(hours=1), now=now)  # twice: one row
    assert db.session.scalar(select(func.count()).select_from(RevokedSession)) == 1
    later = now + timedelta(hours=2)
    accounts.end_session(staff, "new", later + timedelta(hours=8), now=later)
    assert db.session.scalars(select(RevokedSession.session_id)).all() == ["new"]


def test_sign_out_everywhere_ends_every_session_and_token(app, client, tree):
    phone = app.test_client()
    login(client, tree.volunteer_a)
    login(phone, tree.volunteer_a)
    api = token_for(app.test_client(), tree.volunteer_a)
    assert client.get("/api/v1/me", headers=api).status_code == 200
    assert "1" in client.get("/account").text  # one app connected
    client.post("/lang/en")
    assert "(1 now)" in client.get("/account").text

    response = client.post("/account/sign-out-everywhere")
    assert response.status_code == 302 and response.location.endswith("/login")
    assert not _signed_in(client)
    assert not _signed_in(phone)
    refused = app.test_client().get("/api/v1/me", headers=api)
    assert refused.status_code == 401
    assert refused.json["error"]["code"] == "invalid_token" and refused.json["error"]["message"]

    login(client, tree.volunteer_a)  # a new sign-in works, under the new version
    assert _signed_in(client) and _session(client)["ver"] == 1
    with app.app_context():
        assert db.session.scalar(select(AuditEvent.after).where(
            AuditEvent.action == "person.sign_out_everywhere")) == {"tokens_revoked": 1}


def test_sign_out_everywhere_needs_a_post(client, tree):
    login(client, tree.volunteer_a)
    assert client.get("/account/sign-out-everywhere").status_code == 405
    assert _signed_in(client)


def test_disabling_a_person_ends_their_session_and_token(app, client, tree):
    volunteer = app.test_client()
    login(volunteer, tree.volunteer_a)
    api = token_for(app.test_client(), tree.volunteer_a)
    login(client, tree.staff_a)

    response = client.post(f"/people/{tree.volunteer_a.id}/active", data={"action": "disable", "reason": "搬走了"})
    assert response.status_code == 302
    assert "person-disabled" in client.get(f"/people/{tree.volunteer_a.id}").text
    assert not _signed_in(volunteer)
    refused = volunteer.get("/api/v1/me", headers=api)
    assert refused.status_code == 401 and refused.json["error"]["code"] == "invalid_token"
    again = volunteer.post("/login", data={"phone": tree.volunteer_a.phone, "password": PASSWORD})
    assert again.status_code == 200  # the sign-in form again: no session
    assert not _signed_in(volunteer)
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "person.disable"))
        assert (event.actor_id, event.object_id, event.reason) == (tree.staff_a.id, tree.volunteer_a.id, "搬走了")

    client.post(f"/people/{tree.volunteer_a.id}/active", data={"action": "enable"})
    login(volunteer, tree.volunteer_a)
    assert _signed_in(volunteer)
    assert volunteer.get("/api/v1/me", headers=api).status_code == 401  # revoked tokens stay revoked


class TestDisableRules:
    def test_needs_a_reason(self, dbs, tree):
        staff, volunteer = db.session.get(User, tree.staff_a.id), db.session.get(User, tree.volunteer_a.id)
        with pytest.raises(Invalid) as refused:
            accounts.set_active(staff, volunteer, False, reason="  ")
        assert refused.value.code == "reason_required"
        assert volunteer.active

    def test_not_oneself(self, dbs, tree):
        staff = db.session.get(User, tree.staff_a.id)
        with pytest.raises(Refused):
            accounts.set_active(staff, staff, False, reason="x")

    def test_not_outside_ones_community(self, dbs, tree):
        with pytest.raises(NotFound):
            accounts.set_active(db.session.get(User, tree.staff_b.id), db.session.get(User, tree.volunteer_a.id),
                                False, reason="x")

    def test_not_a_person_with_roles_beyond_ones_reach(self, dbs, tree, make_user):
        both = make_user("两边都有", roles=[("resident", tree.a.community), ("staff", tree.b.community)])
        with pytest.raises(Forbidden) as refused:
            accounts.set_active(db.session.get(User, tree.staff_a.id), db.session.get(User, both.id), False,
                                reason="x")
        assert refused.value.code == "person_not_yours"
        accounts.set_active(db.session.get(User, tree.street_staff.id), db.session.get(User, both.id), False,
                            reason="x")  # staff of the street above both can
        assert db.session.get(User, both.id).active is False

    def test_disabling_twice_changes_nothing_more(self, dbs, tree):
        staff, volunteer = db.session.get(User, tree.staff_a.id), db.session.get(User, tree.volunteer_a.id)
        accounts.set_active(staff, volunteer, False, reason="x")
        accounts.set_active(staff, volunteer, False, reason="x")
        db.session.refresh(volunteer)
        assert volunteer.session_version == 1
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.action == "person.disable")) == 1


@pytest.mark.parametrize("shift", [{"seen": IDLE}, {"signed_in": LIFETIME}], ids=["idle", "absolute"])
def test_a_timed_out_session_signs_in_again_and_returns_to_the_page(client, tree, shift):
    client.post("/lang/en")
    login(client, tree.staff_a)
    page = f"/areas/{tree.a.unit.id}"
    assert client.get(page).status_code == 200
    _shift(client, **shift)

    response = client.get(page)
    assert response.status_code == 302 and response.location == f"/login?next={quote(page, safe='')}"
    sign_in = client.get(response.location)
    assert "Your session has expired. Please sign in again." in sign_in.text
    assert "_user_id" not in _session(client) and "sid" not in _session(client)
    back = client.post(response.location, data={"phone": tree.staff_a.phone, "password": PASSWORD, "next": page})
    assert back.location == page


def test_activity_keeps_a_session_but_not_beyond_its_absolute_time_out(client, tree):
    login(client, tree.staff_a)
    _shift(client, seen=IDLE - 60, signed_in=LIFETIME - 120)
    assert _signed_in(client)
    assert abs(_session(client)["seen"] - _now()) < 5  # seen again: the idle clock starts over
    _shift(client, seen=30)
    assert _signed_in(client)
    assert _now() - _session(client)["seen"] >= 30  # written back at most once a minute
    _shift(client, seen=0, signed_in=LIFETIME)
    assert not _signed_in(client)


def test_the_cookie_is_sent_again_only_when_the_last_seen_time_moves(client, tree):
    login(client, tree.staff_a)
    client.get("/")
    assert "Set-Cookie" not in client.get("/").headers
    _shift(client, seen=61)
    assert "Set-Cookie" in client.get("/").headers


def test_a_form_posted_after_a_time_out_returns_to_the_page_it_was_on(client, tree):
    login(client, tree.staff_a)
    _shift(client, seen=IDLE + 1)
    response = client.post("/account/sign-out-everywhere", headers={"Referer": "http://localhost/account"})
    assert response.status_code == 302 and response.location == "/login?next=%2Faccount"


def test_a_session_from_before_the_time_outs_existed_is_refused(client, tree):
    login(client, tree.staff_a)
    with client.session_transaction() as session:
        del session["signed_in"]
    assert not _signed_in(client)
