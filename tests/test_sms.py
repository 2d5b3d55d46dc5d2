"""A way back in: one-time sign-in codes by SMS (6 digits, 5 minutes, 5 tries, once, the newest only, kept as an
HMAC), password reset through them, codes printed by staff (8 digits, 72 hours, audited, in scope only), the limits
on asking for codes, and no account enumeration."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from domain import otp
from domain.errors import NotFound, Refused
from domain.sms import SendFailed
from models import AuditEvent, CodeKind, SignInCode, User, db, mask_phone, utcnow
from tests.conftest import PASSWORD, login, make_app, run_concurrently

NEW_PASSWORD = "a fresh long secret 7"
UNKNOWN = "13712345678"


# --- the domain ---------------------------------------------------------------------------------------------------

def test_an_sms_code_has_six_digits_and_only_its_hmac_is_kept(ctx):
    message = otp.request_sms_code(ctx.volunteer.phone)
    assert re.fullmatch(r"\d{6}", message.code) and message.minutes == 5 and message.phone == ctx.volunteer.phone
    row = db.session.scalar(select(SignInCode).where(SignInCode.user_id == ctx.volunteer.id))
    assert row.kind == CodeKind.sms and row.tries == 0 and row.ended_at is None
    assert re.fullmatch(r"[0-9a-f]{64}", row.code_hash)
    assert message.code not in row.code_hash
    # keyed by the secret and the person: not a plain hash anyone could recompute from the 10^6 codes
    assert row.code_hash not in {hashlib.sha256(s.encode()).hexdigest()
                                 for s in (message.code, f"{ctx.volunteer.id}:{message.code}")}
    assert row.expires_at - row.created_at == timedelta(minutes=5)


def test_a_code_signs_in_once(ctx):
    code = otp.request_sms_code(ctx.volunteer.phone).code
    assert otp.sign_in_with_code(ctx.volunteer.phone, code).id == ctx.volunteer.id
    assert otp.sign_in_with_code(ctx.volunteer.phone, code) is None
    row = db.session.scalar(select(SignInCode).where(SignInCode.user_id == ctx.volunteer.id))
    db.session.refresh(row)
    assert row.used_at is not None and row.ended_at == row.used_at


def test_a_code_works_five_minutes(ctx):
    now = utcnow()
    code = otp.request_sms_code(ctx.volunteer.phone, now=now).code
    assert otp.sign_in_with_code(ctx.volunteer.phone, code, now=now + timedelta(minutes=5)) is None
    assert otp.sign_in_with_code(ctx.volunteer.phone, code, now=now + timedelta(minutes=4, seconds=59)) is not None


def test_the_fifth_wrong_try_ends_the_code(ctx):
    code = otp.request_sms_code(ctx.volunteer.phone).code
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(otp.MAX_TRIES):
        assert otp.sign_in_with_code(ctx.volunteer.phone, wrong) is None
    assert otp.sign_in_with_code(ctx.volunteer.phone, code) is None


def test_four_wrong_tries_leave_the_right_code_working(ctx):
    code = otp.request_sms_code(ctx.volunteer.phone).code
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(otp.MAX_TRIES - 1):
        assert otp.sign_in_with_code(ctx.volunteer.phone, wrong) is None
    assert otp.sign_in_with_code(ctx.volunteer.phone, code) is not None


def test_a_new_code_ends_the_previous_one(ctx):
    first = otp.request_sms_code(ctx.volunteer.phone).code
    second = otp.request_sms_code(ctx.volunteer.phone).code
    if first != second:  # one chance in a million they are the same
        assert otp.sign_in_with_code(ctx.volunteer.phone, first) is None
    assert otp.sign_in_with_code(ctx.volunteer.phone, second) is not None


def test_a_code_is_one_persons_only(ctx):
    code = otp.request_sms_code(ctx.volunteer.phone).code
    assert otp.sign_in_with_code(ctx.head.phone, code) is None
    assert otp.sign_in_with_code(ctx.volunteer.phone, code) is not None


def test_no_code_for_a_number_without_a_usable_account(ctx):
    ctx.head.active = False
    assert otp.request_sms_code(UNKNOWN) is None
    assert otp.request_sms_code(ctx.head.phone) is None
    assert db.session.scalars(select(SignInCode)).all() == []
    assert otp.sign_in_with_code(UNKNOWN, "123456") is None


def test_a_disabled_person_cannot_use_a_code_sent_before(ctx):
    code = otp.request_sms_code(ctx.volunteer.phone).code
    ctx.volunteer.active = False
    assert otp.sign_in_with_code(ctx.volunteer.phone, code) is None


def test_staff_print_an_eight_digit_code_valid_72_hours_audited_without_it(ctx):
    code, row = otp.issue_staff_code(ctx.staff, ctx.volunteer)
    assert re.fullmatch(r"\d{8}", code) and row.kind == CodeKind.staff and row.issued_by_id == ctx.staff.id
    assert row.expires_at - row.created_at == timedelta(hours=72)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "person.issue_sign_in_code"))
    assert event.actor_id == ctx.staff.id and event.object_id == ctx.volunteer.id
    assert code not in repr((event.before, event.after, event.reason))
    # an SMS code does not end a printed one: they are of different kinds
    otp.request_sms_code(ctx.volunteer.phone)
    assert otp.sign_in_with_code(ctx.volunteer.phone, code).id == ctx.volunteer.id
    assert otp.sign_in_with_code(ctx.volunteer.phone, code) is None


def test_staff_of_another_community_cannot_issue_a_code(ctx):
    with pytest.raises(NotFound):
        otp.issue_staff_code(ctx.staff_b, ctx.volunteer)
    with pytest.raises(NotFound):
        otp.issue_staff_code(ctx.head, ctx.volunteer)  # a head sees residents but does not manage them
    assert db.session.scalars(select(SignInCode)).all() == []


def test_no_code_is_printed_for_a_disabled_person(ctx):
    ctx.volunteer.active = False
    with pytest.raises(Refused):
        otp.issue_staff_code(ctx.staff, ctx.volunteer)


def test_a_password_is_changed_without_the_old_one_only_after_a_code(ctx):
    with pytest.raises(Refused) as refused:
        otp.set_own_password(ctx.volunteer, NEW_PASSWORD, current_password="wrong", code_signed_in=False)
    assert refused.value.fields == {"current_password": [refused.value.message]}
    otp.set_own_password(ctx.volunteer, NEW_PASSWORD, current_password=PASSWORD, code_signed_in=False)
    otp.set_own_password(ctx.volunteer, "another long secret 8", current_password=None, code_signed_in=True)
    assert otp.accounts.authenticate(ctx.volunteer.phone, "another long secret 8") is not None
    assert len(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "person.change_password")).all()) == 2


# --- the pages ----------------------------------------------------------------------------------------------------

def _outbox(app) -> list:
    return list(app.extensions["sms"].outbox)


def _code_for(app, phone: str) -> str:
    return next(m.code for m in _outbox(app) if m.phone == phone)


def test_the_login_page_offers_password_sms_and_forgot(client):
    page = client.get("/login").text
    assert "密码登录" in page and "短信验证码登录" in page and "忘记密码？" in page
    assert 'action="/login/code/send"' in client.get("/login?via=sms").text
    assert "登录后完成签到" not in page


def test_the_login_reached_from_a_check_in_code_says_so(client):
    assert "登录后完成签到" in client.get("/c?t=some-code", follow_redirects=True).text
    assert "登录后完成签到" in client.get("/login?via=sms&next=/c%3Ft%3Dx").text


def test_signing_in_by_sms_code(app, client, tree):
    asked = client.post("/login/code/send", data={"phone": tree.volunteer_a.phone, "purpose": "sign_in",
                                                  "next": "/me/points"})
    assert asked.status_code == 302 and asked.location.startswith("/login/code?purpose=sign_in")
    page = client.get(asked.location).text
    assert mask_phone(tree.volunteer_a.phone) in page and tree.volunteer_a.phone in page  # the number, filled in
    done = client.post("/login/code", data={"phone": tree.volunteer_a.phone, "purpose": "sign_in",
                                            "next": "/me/points", "code": _code_for(app, tree.volunteer_a.phone)})
    assert done.status_code == 302 and done.location == "/me/points"
    assert client.get("/").status_code == 200


def test_a_wrong_code_is_said_on_the_code_field(app, client, tree):
    client.post("/login/code/send", data={"phone": tree.volunteer_a.phone, "purpose": "sign_in"})
    wrong = client.post("/login/code", data={"phone": tree.volunteer_a.phone, "code": "000000x"})
    assert wrong.status_code == 400 and "验证码不对、已用过或已过期" in wrong.text
    assert client.get("/").status_code == 302


def test_resetting_a_password_by_sms(app, client, tree):
    client.post("/login/code/send", data={"phone": tree.volunteer_a.phone, "purpose": "reset"})
    signed = client.post("/login/code", data={"phone": tree.volunteer_a.phone, "purpose": "reset",
                                              "code": _code_for(app, tree.volunteer_a.phone)})
    assert signed.status_code == 302 and signed.location == "/account/password"
    form = client.get("/account/password").text
    assert 'name="current_password"' not in form
    differ = client.post("/account/password", data={"password": NEW_PASSWORD, "confirm": "something else"})
    assert differ.status_code == 200 and "两次输入的密码不一样" in differ.text
    saved = client.post("/account/password", data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert saved.status_code == 302
    other = app.test_client()
    assert other.post("/login", data={"phone": tree.volunteer_a.phone, "password": PASSWORD}).status_code == 200
    login(other, tree.volunteer_a, NEW_PASSWORD)
    # the window closed with the change: another change asks for the current password
    assert 'name="current_password"' in client.get("/account/password").text


def test_the_password_window_after_a_code_closes(app, client, tree):
    client.post("/login/code/send", data={"phone": tree.volunteer_a.phone, "purpose": "reset"})
    client.post("/login/code", data={"phone": tree.volunteer_a.phone, "code": _code_for(app, tree.volunteer_a.phone)})
    with client.session_transaction() as session:
        session["code_at"] -= app.config["PASSWORD_AFTER_CODE_SECONDS"]
    refused = client.post("/account/password", data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert refused.status_code == 200 and "当前密码不对" in refused.text


def test_a_person_without_a_password_is_offered_one_after_a_code(app, client, headed_resident):
    client.post("/login/code/send", data={"phone": headed_resident.phone, "purpose": "sign_in", "next": "/"})
    done = client.post("/login/code", data={"phone": headed_resident.phone, "next": "/",
                                            "code": _code_for(app, headed_resident.phone)})
    assert done.location == "/account/password?next=/"
    assert "暂不设置" in client.get(done.location).text


def _same_answer(client, phone: str) -> tuple:
    asked = client.post("/login/code/send", data={"phone": phone, "purpose": "sign_in"})
    page = client.get(asked.location).text.replace(mask_phone(phone), "MASKED").replace(phone, "PHONE")
    page = re.sub(r'name="csrf_token"[^>]*>', "", page)
    return asked.status_code, asked.location, page


def test_asking_a_code_answers_the_same_whether_or_not_the_number_has_an_account(app, tree, make_user):
    disabled = make_user("停用者", active=False)
    answers = [_same_answer(app.test_client(), phone) for phone in (tree.volunteer_a.phone, UNKNOWN, disabled.phone)]
    assert answers[0] == answers[1] == answers[2]
    assert [m.phone for m in _outbox(app)].count(tree.volunteer_a.phone) >= 1
    assert UNKNOWN not in [m.phone for m in _outbox(app)] and disabled.phone not in [m.phone for m in _outbox(app)]
    with app.app_context():
        assert db.session.scalars(select(SignInCode.user_id)).all() == [tree.volunteer_a.id]


def test_a_malformed_number_is_said_on_the_phone_field(client):
    answer = client.post("/login/code/send", data={"phone": "12345", "purpose": "reset"})
    assert answer.status_code == 400 and "不是有效的手机号" in answer.text and "忘记密码" in answer.text


def test_a_provider_failure_is_told_and_keeps_no_code(app, client, tree):
    class Failing:
        def send(self, message):
            raise SendFailed("sms_failed", "短信发送失败，请稍后再试")

    kept, app.extensions["sms"] = app.extensions["sms"], Failing()
    try:
        answer = client.post("/login/code/send", data={"phone": tree.volunteer_a.phone, "purpose": "sign_in"})
    finally:
        app.extensions["sms"] = kept
    assert answer.status_code == 503 and "短信发送失败，请稍后再试" in answer.text
    with app.app_context():
        assert db.session.scalars(select(SignInCode)).all() == []


def test_staff_print_a_code_the_resident_signs_in_with(app, client, tree, headed_resident):
    login(client, tree.staff_a)
    assert "打印登录码" in client.get(f"/people/{headed_resident.id}").text
    printed = client.post(f"/people/{headed_resident.id}/sign-in-code")
    assert printed.status_code == 200 and printed.headers["Cache-Control"] == "no-store"
    assert "请凭此码登录" in printed.text and mask_phone(headed_resident.phone) in printed.text
    code = re.search(r'data-testid="the-code">(\d{4}) (\d{4})<', printed.text)
    resident = app.test_client()
    done = resident.post("/login/code", data={"phone": headed_resident.phone, "code": code[1] + code[2]})
    assert done.status_code == 302 and done.location.startswith("/account/password")
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "person.issue_sign_in_code"))
        assert event.actor_id == tree.staff_a.id and code[1] + code[2] not in repr(event.after)


@pytest.mark.parametrize("who", ["staff_b", "head_a", "volunteer_a"])
def test_only_staff_of_the_persons_community_print_a_code(client, tree, who):
    login(client, getattr(tree, who))
    assert client.post(f"/people/{tree.volunteer_a.id}/sign-in-code").status_code == 404


def test_the_dev_outbox_is_off_unless_asked_for(app):
    production = make_app(app.config["SQLALCHEMY_DATABASE_URI"], TESTING=False, SMS_DEV_OUTBOX=None)
    try:
        assert production.config["SMS_DEV_OUTBOX"] is False
        assert production.test_client().get("/dev/sms").status_code == 404
    finally:
        with production.app_context():
            db.engine.dispose()
    assert app.test_client().get("/dev/sms").status_code == 200


# --- the limits ---------------------------------------------------------------------------------------------------

@pytest.fixture
def limited(app):
    from blueprints.ext import limiter

    made = make_app(app.config["SQLALCHEMY_DATABASE_URI"], RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://",
                    SMS_RATE_LIMIT="3 per minute")
    yield made
    limiter.init_app(app)
    with made.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("known", [True, False])
def test_one_code_a_minute_per_number_known_or_not(limited, tree, known):
    phone = tree.volunteer_a.phone if known else UNKNOWN
    client = limited.test_client()
    assert client.post("/login/code/send", data={"phone": phone, "purpose": "sign_in"}).status_code == 302
    again = limited.test_client().post("/login/code/send", data={"phone": phone, "purpose": "sign_in"})
    assert again.status_code == 429 and 0 < int(again.headers["Retry-After"]) <= 60
    assert "秒后再重新获取" in again.text
    page = client.get("/login/code").text
    assert re.search(r"没收到短信？<span data-countdown>\d+</span> 秒后可以重新获取", page)


def test_codes_asked_from_one_address_are_limited(limited, tree):
    client = limited.test_client()
    for n in range(3):
        asked = client.post("/login/code/send", data={"phone": f"1371234560{n}", "purpose": "sign_in"})
        assert asked.status_code == 302
    assert client.post("/login/code/send", data={"phone": "13712345699", "purpose": "sign_in"}).status_code == 429


def test_a_number_gets_at_most_five_codes_an_hour(limited, tree):
    from blueprints.ext import limiter

    phone = tree.volunteer_a.phone
    for n in range(limited.config["SMS_PER_PHONE_HOUR"]):
        with limited.app_context():
            limiter.storage.clear(f"sms/{phone}/wait")  # as if the minute had passed
        answer = limited.test_client().post("/login/code/send", data={"phone": phone, "purpose": "sign_in"},
                                            environ_base={"REMOTE_ADDR": f"10.0.0.{n}"})
        assert answer.status_code == 302
    with limited.app_context():
        limiter.storage.clear(f"sms/{phone}/wait")
    last = limited.test_client().post("/login/code/send", data={"phone": phone, "purpose": "sign_in"},
                                      environ_base={"REMOTE_ADDR": "10.0.1.1"})
    assert last.status_code == 429 and int(last.headers["Retry-After"]) > 60


def test_trying_codes_counts_against_the_sign_in_budget_of_the_address(limited, tree):
    client = limited.test_client()
    answers = [client.post("/login/code", data={"phone": tree.volunteer_a.phone, "code": "123456"}).status_code
               for _ in range(11)]
    assert answers[:10] == [400] * 10 and answers[10] == 429


# --- the API ------------------------------------------------------------------------------------------------------

def test_the_api_texts_a_code_and_exchanges_it_for_a_token(app, client, tree):
    asked = client.post("/api/v1/auth/sms-code", json={"phone": tree.volunteer_a.phone})
    assert asked.status_code == 202
    assert asked.json == {"sent_to": mask_phone(tree.volunteer_a.phone), "expires_in": 300, "resend_after": 60}
    unknown = client.post("/api/v1/auth/sms-code", json={"phone": UNKNOWN})
    assert (unknown.status_code, set(unknown.json)) == (202, set(asked.json))
    code = _code_for(app, tree.volunteer_a.phone)
    token = client.post("/api/v1/auth/token/code", json={"phone": tree.volunteer_a.phone, "code": code})
    assert token.status_code == 200 and token.json["user"]["id"] == tree.volunteer_a.id
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token.json['token']}"})
    assert me.status_code == 200
    again = client.post("/api/v1/auth/token/code", json={"phone": tree.volunteer_a.phone, "code": code})
    assert again.status_code == 401 and again.json["error"]["code"] == "invalid_code"


def test_wrong_codes_through_the_api_count_against_the_code(app, client, tree):
    client.post("/api/v1/auth/sms-code", json={"phone": tree.volunteer_a.phone})
    code = _code_for(app, tree.volunteer_a.phone)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        answer = client.post("/api/v1/auth/token/code", json={"phone": tree.volunteer_a.phone, "code": wrong})
        assert answer.status_code == 401
    late = client.post("/api/v1/auth/token/code", json={"phone": tree.volunteer_a.phone, "code": code})
    assert late.status_code == 401  # the fifth wrong try ended the code, and that was kept
    with app.app_context():
        assert db.session.scalar(select(SignInCode.tries)) == 5


def test_the_api_refuses_a_malformed_number(client):
    answer = client.post("/api/v1/auth/sms-code", json={"phone": "12345"})
    assert answer.status_code == 400 and answer.json["error"]["code"] == "phone_invalid"


def test_the_api_and_the_pages_share_a_numbers_wait(limited, tree):
    page = limited.test_client().post("/login/code/send", data={"phone": tree.volunteer_a.phone, "purpose": "sign_in"})
    assert page.status_code == 302
    answer = limited.test_client().post("/api/v1/auth/sms-code", json={"phone": tree.volunteer_a.phone})
    assert answer.status_code == 429 and answer.json["error"]["code"] == "too_many_requests"
    assert int(answer.headers["Retry-After"]) > 0


# --- at once --------------------------------------------------------------------------------------------------------

def _fresh_code(app, phone: str) -> str:
    with app.app_context():
        message = otp.request_sms_code(phone)
        db.session.commit()
    return message.code


def test_a_code_sent_at_once_from_many_places_signs_in_once(app, threaded_app, tree):
    code = _fresh_code(app, tree.volunteer_a.phone)
    results = run_concurrently(threaded_app, lambda i: otp.sign_in_with_code(tree.volunteer_a.phone, code), 8)
    assert [r.id for r in results if isinstance(r, User)] == [tree.volunteer_a.id]
    assert all(r is None for r in results if not isinstance(r, User)), results


def test_wrong_codes_sent_at_once_are_checked_five_times_at_most(app, threaded_app, tree):
    code = _fresh_code(app, tree.volunteer_a.phone)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    results = run_concurrently(threaded_app, lambda i: otp.sign_in_with_code(tree.volunteer_a.phone, wrong), 12)
    assert results == [None] * 12
    with app.app_context():
        row = db.session.scalar(select(SignInCode))
        assert row.tries == otp.MAX_TRIES and row.ended_at is not None
    assert otp_sign_in(app, tree.volunteer_a.phone, code) is None


def otp_sign_in(app, phone: str, code: str):
    with app.app_context():
        return otp.sign_in_with_code(phone, code)


def test_a_refused_request_from_a_check_in_link_still_says_check_in_follows(client):
    answer = client.post("/login/code/send", data={"phone": "12345", "purpose": "sign_in", "next": "/c?t=x"})
    assert answer.status_code == 400 and "登录后完成签到" in answer.text and "不是有效的手机号" in answer.text
