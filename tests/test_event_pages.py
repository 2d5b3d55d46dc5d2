"""Event pages: who may open what, the form, the /c landing through sign-in, the scanner's JSON endpoints (CSRF,
nonces, offline batches), checking in by hand, registering, checking out and the attendance register."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from domain import events
from domain.ledger import SHANGHAI
from models import Area, Attendance, AuditEvent, CheckMethod, Event, User, db, utcnow
from tests.conftest import PASSWORD, login


def _create(app, tree, **overrides) -> SimpleNamespace:
    """An event of community A by its staff, under way now (its check-in window is open)."""
    now = utcnow()
    values = dict(kind="activity", title="楼道清洁", place="1号楼门口", starts_at=now - timedelta(minutes=10),
                  ends_at=now + timedelta(hours=1), category="environment")
    with app.app_context():
        staff = db.session.get(User, tree.staff_a.id)
        event = events.create_event(staff, db.session.get(Area, tree.a.community.id),
                                    events.EventForm(**{**values, **overrides}))
        db.session.commit()
        return SimpleNamespace(id=event.id, url=f"/events/{event.id}")


@pytest.fixture
def event(app, tree):
    return _create(app, tree)


def _personal_token(app, user, at: datetime | None = None) -> str:
    """The person's own code as their phone showed it at `at` (now by default)."""
    with app.app_context():
        return events.personal_code(db.session.get(User, user.id), at).token


def _attendances(app, event_id: int) -> list[Attendance]:
    with app.app_context():
        rows = db.session.scalars(select(Attendance).where(Attendance.event_id == event_id)).all()
        for row in rows:
            db.session.expunge(row)
        return list(rows)


# --- who may open what ------------------------------------------------------------------------------------------

#: role → expected status, per page. The organiser is staff_a; head_a heads a unit of A (scans, does not organise);
#: volunteer_a belongs to A; staff_b and resident_b are of community B and must not learn the event exists.
ACCESS = {
    "": {"staff_a": 200, "head_a": 200, "volunteer_a": 200, "staff_b": 404, "resident_b": 404},
    "/counts.json": {"staff_a": 200, "head_a": 200, "volunteer_a": 200, "staff_b": 404, "resident_b": 404},
    "/edit": {"staff_a": 200, "head_a": 403, "volunteer_a": 403, "staff_b": 404, "resident_b": 404},
    "/cancel": {"staff_a": 200, "head_a": 403, "volunteer_a": 403, "staff_b": 404, "resident_b": 404},
    "/code": {"staff_a": 200, "head_a": 403, "volunteer_a": 403, "staff_b": 404, "resident_b": 404},
    "/code.json": {"staff_a": 200, "head_a": 403, "volunteer_a": 403, "staff_b": 404, "resident_b": 404},
    "/code.svg": {"staff_a": 200, "head_a": 403, "volunteer_a": 403, "staff_b": 404, "resident_b": 404},
    "/poster": {"staff_a": 200, "head_a": 403, "volunteer_a": 403, "staff_b": 404, "resident_b": 404},
    "/poster.svg": {"staff_a": 200, "head_a": 403, "volunteer_a": 403, "staff_b": 404, "resident_b": 404},
    "/attendance.xlsx": {"staff_a": 200, "head_a": 403, "volunteer_a": 403, "staff_b": 404, "resident_b": 404},
    "/scan": {"staff_a": 200, "head_a": 200, "volunteer_a": 403, "staff_b": 404, "resident_b": 404},
    "/scan.json": {"staff_a": 200, "head_a": 200, "volunteer_a": 403, "staff_b": 404, "resident_b": 404},
}


@pytest.mark.parametrize("role", ["staff_a", "head_a", "volunteer_a", "staff_b", "resident_b"])
def test_each_page_of_an_event_answers_each_role_as_its_scope_says(client, tree, event, role):
    login(client, getattr(tree, role))
    for suffix, expected in ACCESS.items():
        response = client.get(event.url + suffix)
        response.close()  # the register is sent from a temporary file
        assert response.status_code == expected[role], (suffix, role, response.status_code)
        if suffix.endswith(".json") and expected[role] != 200:
            assert response.json["error"]["code"] in ("not_found", "not_organiser", "not_scanner")
        if expected[role] == 404:
            assert "楼道清洁" not in response.text


@pytest.mark.parametrize(("role", "where", "status"), [
    ("staff_a", "community", 200), ("staff_a", "unit", 200), ("head_a", "unit", 200),
    ("head_a", "community", 404), ("volunteer_a", "community", 404), ("volunteer_a", "unit", 404),
    ("staff_b", "community", 404), ("street_staff", "community", 200),
])
def test_who_gets_the_new_event_form(client, tree, role, where, status):
    login(client, getattr(tree, role))
    assert client.get(f"/areas/{getattr(tree.a, where).id}/events/new").status_code == status


def test_street_level_areas_take_no_events(client, tree):
    login(client, tree.street_staff)
    assert client.get(f"/areas/{tree.street.id}/events/new").status_code == 404


def test_signed_out_every_page_asks_for_sign_in(client, event):
    for path in ("/events", event.url, event.url + "/scan", "/me/code", "/me/code.json", event.url + "/counts.json"):
        response = client.get(path)
        assert response.status_code == 302 and "/login?next=" in response.headers["Location"], path


def test_the_list_shows_my_communitys_events_and_the_new_button_to_those_who_create(client, tree, event):
    login(client, tree.staff_a)
    page = client.get("/events").text
    assert "楼道清洁" in page and f'/areas/{tree.a.community.id}/events/new' in page
    client.post("/logout")
    login(client, tree.volunteer_a)
    page = client.get("/events").text
    assert "楼道清洁" in page and "/events/new" not in page
    client.post("/logout")
    login(client, tree.resident_b)
    assert "楼道清洁" not in client.get("/events").text


def test_the_list_puts_upcoming_events_first_soonest_first_then_past_ones(app, client, tree):
    now = utcnow()
    for title, start in (("下周活动", now + timedelta(days=7)), ("明天活动", now + timedelta(days=1)),
                         ("上周活动", now - timedelta(days=7))):
        _create(app, tree, title=title, starts_at=start, ends_at=start + timedelta(hours=1))
    login(client, tree.volunteer_a)
    page = client.get("/events").text
    assert page.index("明天活动") < page.index("下周活动") < page.index("上周活动")
    assert page.index("上周活动") > page.index('data-testid="past"')


# --- the form -------------------------------------------------------------------------------------------------

#: A day some months ahead: an event more than two years ahead is refused (blueprints/bounds.PLAN).
DAY = (utcnow() + timedelta(days=150)).astimezone(SHANGHAI).date()
FORM = dict(kind="training", title="急救培训", place="社区活动室", day=DAY.isoformat(), starts_at="09:00",
            ends_at="11:30", category="health", description="心肺复苏", capacity="30", registration="y",
            points_mode="fixed", points_fixed="20", poster="y", opens_minutes="20", closes_minutes="10")


def test_staff_create_an_event_by_the_form_in_beijing_time(app, client, tree):
    login(client, tree.staff_a)
    response = client.post(f"/areas/{tree.a.community.id}/events/new", data=FORM)
    assert response.status_code == 302
    with app.app_context():
        event = db.session.scalar(select(Event))
        assert response.headers["Location"] == f"/events/{event.id}"
        assert (event.title, event.kind.value, event.category, event.capacity) == ("急救培训", "training", "health", 30)
        assert event.starts_at == datetime(DAY.year, DAY.month, DAY.day, 1, 0, tzinfo=UTC)  # 09:00 in Beijing
        assert event.ends_at == datetime(DAY.year, DAY.month, DAY.day, 3, 30, tzinfo=UTC)
        assert (event.registration, event.points_mode.value, event.points_fixed) == (True, "fixed", 20)
        assert (event.auto_approve, event.poster, event.opens_minutes, event.closes_minutes) == (False, True, 20, 10)
        assert event.organiser_id == tree.staff_a.id
    page = client.get(response.headers["Location"]).text
    assert "急救培训" in page and "09:00" in page and "11:30" in page


def test_a_head_creates_an_event_for_their_unit(app, client, tree):
    login(client, tree.head_a)
    response = client.post(f"/areas/{tree.a.unit.id}/events/new", data={**FORM, "title": "单元议事会",
                                                                          "kind": "meeting"})
    assert response.status_code == 302
    with app.app_context():
        event = db.session.scalar(select(Event))
        assert (event.area_id, event.community_id, event.kind.value) == (tree.a.unit.id, tree.a.community.id,
                                                                         "meeting")


def test_a_bad_form_keeps_what_was_typed_and_says_what_is_wrong(app, client, tree):
    login(client, tree.staff_a)
    response = client.post(f"/areas/{tree.a.community.id}/events/new", data={**FORM, "ends_at": "08:00"})
    assert response.status_code == 200
    assert "急救培训" in response.text and "field-error" in response.text
    fixed_without_amount = client.post(f"/areas/{tree.a.community.id}/events/new",
                                       data={**FORM, "points_fixed": ""})
    assert fixed_without_amount.status_code == 200 and "field-error" in fixed_without_amount.text
    unknown_category = client.post(f"/areas/{tree.a.community.id}/events/new", data={**FORM, "category": "x"})
    assert unknown_category.status_code == 200
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Event)) == 0


def test_edit_then_cancel_with_a_reason(app, client, tree, event):
    login(client, tree.staff_a)
    form = client.get(event.url + "/edit").text
    assert 'value="楼道清洁"' in form
    start = utcnow().astimezone(SHANGHAI) + timedelta(days=2)
    response = client.post(event.url + "/edit", data={**FORM, "title": "楼道大扫除", "day": start.date().isoformat(),
                                                      "registration": "", "points_mode": "per_hour"})
    assert response.status_code == 302
    assert client.post(event.url + "/cancel", data={"reason": ""}).status_code == 200
    assert client.post(event.url + "/cancel", data={"reason": "下雨"}).status_code == 302
    page = client.get(event.url).text
    assert "楼道大扫除" in page and "badge status-rejected" in page
    assert client.get(event.url + "/code.json").status_code == 422
    assert client.get(event.url + "/code.svg").status_code == 404
    with app.app_context():
        cancelled = db.session.get(Event, event.id)
        assert cancelled.title == "楼道大扫除" and cancelled.cancelled_at is not None
        assert cancelled.starts_at.astimezone(SHANGHAI).date() == start.date()
        audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "event.cancel"))
        assert audit.reason == "下雨"


# --- codes --------------------------------------------------------------------------------------------------------


def test_the_code_screen_and_its_json_give_a_check_in_url_and_the_image_of_this_step(client, tree, event):
    login(client, tree.staff_a)
    page = client.get(event.url + "/code")
    assert page.headers["Cache-Control"] == "no-store"
    assert 'http-equiv="refresh"' in page.text and "<script" in page.text and "onclick" not in page.text
    data = client.get(event.url + "/code.json").json
    assert data["url"].startswith("http://localhost/c?t=") and 1 <= data["rotates_in"] <= 31
    assert data["image"] == f"{event.url}/code.svg?step={data['step']}"
    image = client.get(data["image"])
    assert image.content_type.startswith("image/svg+xml") and b"<svg" in image.data
    assert client.get(f"{event.url}/code.svg?step={data['step'] + 5}").status_code == 404


def test_my_code_rotates_and_checks_me_in_when_scanned(app, client, tree, event):
    login(client, tree.volunteer_a)
    page = client.get("/me/code")
    assert page.status_code == 200 and 'data-testid="my-code"' in page.text
    data = client.get("/me/code.json").json
    assert data["image"].startswith("/me/code.svg?step=")
    assert client.get(data["image"]).data.startswith(b"<svg")
    assert client.get(f"/me/code.svg?step={data['step'] - 3}").status_code == 404


def test_the_poster_is_only_for_events_that_allow_it(app, client, tree):
    allowed, sensitive = _create(app, tree), _create(app, tree, title="敏感会议", poster=False)
    login(client, tree.staff_a)
    poster = client.get(allowed.url + "/poster").text
    assert "楼道清洁" in poster and "/poster.svg" in poster and "data-print" in poster
    assert client.get(sensitive.url + "/poster").status_code == 404
    assert client.get(sensitive.url + "/poster.svg").status_code == 404


def test_the_landing_page_signs_in_first_then_checks_in(app, client, tree, event):
    with app.app_context():
        token = events.event_code(db.session.get(Event, event.id)).token
    landing = f"/c?t={token}"
    response = client.get(landing)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/login?next={quote(landing, safe='')}"
    signed_in = client.post("/login", data={"phone": tree.volunteer_a.phone, "password": PASSWORD,
                                            "next": landing})
    assert signed_in.headers["Location"] == landing
    answer = client.get(landing)
    assert answer.status_code == 200 and 'data-status="checked_in"' in answer.text
    again = client.get(landing)
    assert 'data-status="already_checked_in"' in again.text and 'data-testid="check-out"' in again.text
    (attendance,) = _attendances(app, event.id)
    assert attendance.person_id == tree.volunteer_a.id and attendance.checked_in_method == CheckMethod.event_code

    # Leaving: the button on the answer checks out; the minutes are the server's.
    assert client.post(f"{event.url}/checkout").status_code == 302
    (attendance,) = _attendances(app, event.id)
    assert attendance.checked_out_at is not None and attendance.minutes is not None
    page = client.get(event.url).text
    assert 'data-testid="my-attendance"' in page and f"{event.url}/checkout" not in page


def test_the_landing_page_refuses_a_bad_code_and_someone_of_another_community(app, client, tree, event):
    login(client, tree.volunteer_a)
    refused = client.get("/c?t=nonsense")
    assert refused.status_code == 422 and 'data-status="token_invalid"' in refused.text
    client.post("/logout")
    login(client, tree.resident_b)
    with app.app_context():
        token = events.event_code(db.session.get(Event, event.id)).token
    outsider = client.get(f"/c?t={token}")
    assert outsider.status_code == 403 and 'data-status="not_in_scope"' in outsider.text
    assert _attendances(app, event.id) == []


# --- the scanner, with CSRF on as in production -------------------------------------------------------------------


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def _strict_login(client, user) -> None:
    token = _csrf(client.get("/login").text)
    assert client.post("/login", data={"phone": user.phone, "password": PASSWORD, "csrf_token": token}
                       ).status_code == 302


def _scanner_token(client, event) -> str:
    page = client.get(event.url + "/scan").text
    return re.search(r'data-csrf="([^"]+)"', page).group(1)


def test_scan_json_needs_the_csrf_header_and_a_nonce_counts_once(app, strict_client, tree, event):
    client = strict_client
    _strict_login(client, tree.staff_a)
    csrf = _scanner_token(client, event)
    scan = {"token": _personal_token(app, tree.volunteer_a), "nonce": "n-1", "action": "in"}
    refused = client.post(event.url + "/scan.json", json=scan)
    assert refused.status_code == 400 and refused.json["error"]["code"] == "csrf_invalid"
    assert _attendances(app, event.id) == []

    headers = {"X-CSRFToken": csrf}
    first = client.post(event.url + "/scan.json", json=scan, headers=headers)
    assert first.status_code == 200, first.text
    assert (first.json["status"], first.json["name"], first.json["ok"]) == ("checked_in", "志愿者乙", True)
    retried = client.post(event.url + "/scan.json", json=scan, headers=headers)
    assert retried.json["status"] == "checked_in" and retried.json["at"] == first.json["at"]
    again = client.post(event.url + "/scan.json", json={**scan, "nonce": "n-2"}, headers=headers)
    assert again.json["status"] == "already_checked_in"
    assert first.json["time"] in again.json["headline"]
    (attendance,) = _attendances(app, event.id)
    assert (attendance.checked_in_method, attendance.checked_in_by_id) == (CheckMethod.scan, tree.staff_a.id)

    out = client.post(event.url + "/scan.json", json={**scan, "nonce": "n-3", "action": "out"}, headers=headers)
    assert out.json["status"] == "checked_out"
    bad = client.post(event.url + "/scan.json", json={"token": "x" * 600, "nonce": "n-4"}, headers=headers)
    assert bad.status_code == 422 and bad.json["error"]["code"] == "validation_error"
    with app.app_context():  # a code from five minutes ago is refused with its own error code
        old = events.personal_code(db.session.get(User, tree.head_a.id), utcnow() - timedelta(minutes=5)).token
    stale = client.post(event.url + "/scan.json", json={"token": old, "nonce": "n-5"}, headers=headers)
    assert stale.status_code == 422 and stale.json["error"]["code"] == "token_expired"

    # A page open for hours asks for a fresh token by GET.
    fresh = client.get(event.url + "/scan.json")
    assert fresh.status_code == 200 and fresh.json["csrf_token"]


def test_offline_batch_uploaded_twice_doubles_nothing_and_reports_conflicts(app, strict_client, tree, event):
    client = strict_client
    _strict_login(client, tree.staff_a)
    headers = {"X-CSRFToken": _scanner_token(client, event)}
    at = (utcnow() - timedelta(minutes=2)).replace(microsecond=0)  # scanned while the network was down
    scanned_at = at.isoformat()
    volunteer, head = _personal_token(app, tree.volunteer_a, at), _personal_token(app, tree.head_a, at)
    outsider = _personal_token(app, tree.resident_b, at)
    batch = {"scans": [
        {"token": volunteer, "nonce": "off-1", "action": "in", "scanned_at": scanned_at},
        {"token": head, "nonce": "off-2", "action": "in", "scanned_at": scanned_at},
        {"token": volunteer, "nonce": "off-3", "action": "in", "scanned_at": scanned_at},  # scanned twice
        {"token": outsider, "nonce": "off-4", "action": "in", "scanned_at": scanned_at},
    ]}
    assert client.post(event.url + "/scans/batch.json", json=batch).status_code == 400  # no CSRF header
    first = client.post(event.url + "/scans/batch.json", json=batch, headers=headers)
    assert first.status_code == 200, first.text
    statuses = [r["status"] for r in first.json["results"]]
    assert statuses == ["checked_in", "checked_in", "already_checked_in", "not_in_scope"]
    assert [r["ok"] for r in first.json["results"]] == [True, True, True, False]
    assert first.json["results"][3]["detail"]  # the refusal says why

    second = client.post(event.url + "/scans/batch.json", json=batch, headers=headers)
    assert [r["status"] for r in second.json["results"]] == statuses
    rows = _attendances(app, event.id)
    assert sorted(a.person_id for a in rows) == sorted([tree.volunteer_a.id, tree.head_a.id])
    assert {a.checked_in_at for a in rows} == {datetime.fromisoformat(scanned_at)}
    malformed = client.post(event.url + "/scans/batch.json", json={"scans": []}, headers=headers)
    assert malformed.status_code == 422


def test_only_those_who_scan_may_post_scans(app, client, tree, event):
    scan = {"token": _personal_token(app, tree.volunteer_a), "nonce": "x"}
    login(client, tree.volunteer_a)
    assert client.post(event.url + "/scan.json", json=scan).status_code == 403
    assert client.post(event.url + "/scans/batch.json", json={"scans": [
        {**scan, "scanned_at": utcnow().isoformat()}]}).status_code == 403
    client.post("/logout")
    login(client, tree.staff_b)
    assert client.post(event.url + "/scan.json", json=scan).status_code == 404
    client.post("/logout")
    login(client, tree.head_a)
    assert client.post(event.url + "/scan.json", json=scan).json["status"] == "checked_in"


def test_the_scanner_says_how_many_saved_scans_it_uploaded_in_a_sentence(app, client, tree, event):
    login(client, tree.head_a)
    page = client.get(event.url + "/scan").text
    # static/js/scanner.js fills {n}: 「已上传 3 条」, never a bare number after 「保存的扫码记录已上传」.
    assert 'data-text-uploaded-count="已上传 {n} 条"' in page


def test_a_resident_without_a_smartphone_is_found_and_checked_in_by_hand_with_a_reason(app, client, tree, event):
    login(client, tree.head_a)
    found = client.get(event.url + "/scan?q=志愿").text
    assert "志愿者乙" in found and "居民丙" not in found
    assert tree.volunteer_a.phone not in found  # masked
    assert "居民丙" not in client.get(event.url + "/scan?q=居民").text  # another community's resident
    refused = client.post(event.url + "/manual", data={"person_id": tree.volunteer_a.id, "action": "in",
                                                       "reason": ""})
    assert refused.status_code == 302 and _attendances(app, event.id) == []
    done = client.post(event.url + "/manual", data={"person_id": tree.volunteer_a.id, "action": "in",
                                                    "reason": "老人没有手机", "q": "志愿"})
    assert done.status_code == 302 and done.headers["Location"].endswith("/scan?q=%E5%BF%97%E6%84%BF")
    (attendance,) = _attendances(app, event.id)
    assert (attendance.checked_in_method, attendance.checked_in_by_id) == (CheckMethod.manual, tree.head_a.id)
    with app.app_context():
        audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "event.manual_check_in"))
        assert (audit.reason, audit.actor_id) == ("老人没有手机", tree.head_a.id)
    assert 'value="out"' in client.get(event.url + "/scan?q=志愿").text
    outsider = client.post(event.url + "/manual", data={"person_id": tree.resident_b.id, "action": "in",
                                                        "reason": "x"})
    assert outsider.status_code == 404


def test_registration_by_the_page(app, client, tree):
    later = utcnow() + timedelta(days=3)
    event = _create(app, tree, registration=True, capacity=1, starts_at=later, ends_at=later + timedelta(hours=1))
    login(client, tree.volunteer_a)
    assert 'data-testid="register"' in client.get(event.url).text
    client.post(event.url + "/register")
    assert 'data-testid="registered"' in client.get(event.url).text
    client.post("/logout")
    login(client, tree.head_a)
    client.post(event.url + "/register")  # full: refused with a message, nothing written
    with app.app_context():
        assert db.session.get(Event, event.id).registered == 1
    client.post("/logout")
    login(client, tree.staff_a)
    assert "志愿者乙" in client.get(event.url).text  # the organiser sees who registered
    client.post("/logout")
    login(client, tree.volunteer_a)
    client.post(event.url + "/unregister")
    with app.app_context():
        assert db.session.get(Event, event.id).registered == 0


def test_counts_json_follows_the_check_ins(app, client, tree, event):
    login(client, tree.staff_a)
    assert client.get(event.url + "/counts.json").json == {"registered": 0, "checked_in": 0, "checked_out": 0,
                                                           "capacity": None}
    client.post(event.url + "/scan.json", json={"token": _personal_token(app, tree.volunteer_a), "nonce": "c-1"})
    assert client.get(event.url + "/counts.json").json["checked_in"] == 1


def test_the_attendance_register_opens_in_a_spreadsheet(app, client, tree, event):
    login(client, tree.staff_a)
    client.post(event.url + "/scan.json", json={"token": _personal_token(app, tree.volunteer_a), "nonce": "r-1"})
    client.post(event.url + "/manual", data={"person_id": tree.head_a.id, "action": "in", "reason": "没带手机"})
    client.post(event.url + "/manual", data={"person_id": tree.head_a.id, "action": "out", "reason": "提前离开"})
    response = client.get(event.url + "/attendance.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    response.close()
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert len(rows) == 4  # title, headers, two people
    by_name = {row[0]: row for row in rows[2:]}
    volunteer, head = by_name["志愿者乙"], by_name["单元长甲"]
    assert volunteer[1] == f"{tree.volunteer_a.phone[:3]}****{tree.volunteer_a.phone[-4:]}"
    assert volunteer[4] in (None, "") and head[4] and head[6] is not None
    assert volunteer[3] != head[3]  # scanned vs by hand, as words
