"""A campaign's dates changed by its staff before their phases start (domain, page and API), the 进入下一阶段
button disabled with its reason, and the campaign and nomination forms saying each error once, on its field."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from domain import honours
from domain.errors import DomainError
from domain.labels import deadline_text
from domain.ledger import SHANGHAI
from models import AuditEvent, Campaign, Phase, db, utcnow
from tests.conftest import login, token_for
from tests.test_honour_pages import campaign_at
from tests.test_honours import OPENED, T0, VOTES_CLOSE, VOTES_OPEN, VOTING, World

NOT_YET = OPENED + timedelta(minutes=5)  # the campaign is open, its nominations not yet
NOMINATING = T0 + timedelta(days=1)


@pytest.fixture
def w(dbs, tree, make_user, make_area):
    return World(tree, make_user, make_area)


def refusal(call) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value


def _audits() -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "campaign.dates")
                                   .order_by(AuditEvent.id)))


# --- the domain ------------------------------------------------------------------------------------------------

def test_every_date_changes_before_its_phase_starts_and_is_audited_with_old_and_new(w):
    campaign = w.campaign()
    later = {"nominate_from": T0 + timedelta(days=1), "nominate_until": T0 + timedelta(days=8),
             "vote_from": T0 + timedelta(days=9), "vote_until": T0 + timedelta(days=16),
             "review_until": T0 + timedelta(days=20), "notice_days": 7, "announce_at": T0 + timedelta(days=40)}
    changed = honours.reschedule(w.staff, campaign, later, now=NOT_YET)
    db.session.commit()
    assert set(changed) == set(later)
    assert {name: getattr(campaign, name) for name in later} == later
    [event] = _audits()
    assert event.actor_id == w.staff.id and event.object_id == campaign.id and event.area_id == w.community.id
    assert event.before["vote_from"] == VOTES_OPEN.astimezone(SHANGHAI).isoformat()
    assert event.after["vote_from"] == later["vote_from"].astimezone(SHANGHAI).isoformat()
    assert (event.before["notice_days"], event.after["notice_days"]) == (5, 7)
    assert event.before["announce_at"] is None


def test_a_started_phase_keeps_its_start_and_its_later_dates_still_change(w):
    campaign = w.campaign()
    error = refusal(lambda: honours.reschedule(w.staff, campaign, {"nominate_from": T0 + timedelta(days=2)},
                                               now=NOMINATING))
    assert error.code == "phase_started" and list(error.fields) == ["nominate_from"]
    nine_days = T0 + timedelta(days=9)
    honours.reschedule(w.staff, campaign, {"nominate_until": nine_days, "vote_from": nine_days}, now=NOMINATING)
    assert campaign.nominate_until == T0 + timedelta(days=9)


def test_once_voting_opened_nominations_and_its_start_are_fixed(w):
    campaign = w.campaign()
    w.candidate(campaign)
    w.to(campaign, Phase.voting)
    for name, code in (("nominate_until", "phase_over"), ("vote_from", "phase_started")):
        error = refusal(lambda name=name: honours.reschedule(w.staff, campaign, {name: VOTES_CLOSE}, now=VOTING))
        assert error.code == code and list(error.fields) == [name]
    honours.reschedule(w.staff, campaign, {"vote_until": VOTES_CLOSE + timedelta(days=2),
                                           "review_until": VOTES_CLOSE + timedelta(days=5)}, now=VOTING)
    assert campaign.vote_until == VOTES_CLOSE + timedelta(days=2)


def test_a_passed_deadline_stays_but_the_phase_not_started_moves(w):
    campaign = w.campaign()  # nobody consented: voting cannot open when nominations close
    late = VOTES_OPEN + timedelta(days=1)
    error = refusal(lambda: honours.reschedule(w.staff, campaign, {"nominate_until": late + timedelta(days=3)},
                                               now=late))
    assert error.code == "date_passed" and "nominate_until" in error.fields
    honours.reschedule(w.staff, campaign, {"vote_from": late + timedelta(days=2)}, now=late)
    assert campaign.vote_from == late + timedelta(days=2)


def test_nothing_changes_after_the_announcement(w):
    campaign = w.campaign()
    w.candidate(campaign)
    w.to(campaign, Phase.review)
    w.shortlist(campaign, *honours.nominations(campaign))
    w.to(campaign, Phase.announced)
    locks = honours.date_locks(campaign, campaign.announced_at + timedelta(days=1))
    assert set(locks) == set(honours.SCHEDULE_FIELDS)


@pytest.mark.parametrize(("changes", "field", "code"), [
    ({"vote_until": OPENED - timedelta(days=1)}, "vote_until", "dates_invalid"),
    ({"vote_from": T0.replace(tzinfo=None)}, "vote_from", "dates_invalid"),
    ({"review_until": datetime(2030, 1, 1, tzinfo=UTC)}, "review_until", "dates_invalid"),
    ({"nominate_until": T0 + timedelta(days=8)}, "vote_from", "dates_invalid"),
    ({"vote_until": T0 + timedelta(days=7)}, "vote_until", "dates_invalid"),
    ({"review_until": T0 + timedelta(days=13)}, "review_until", "dates_invalid"),
    ({"notice_days": 0}, "notice_days", "notice_days_invalid"),
    ({"notice_days": 31}, "notice_days", "notice_days_invalid"),
    ({"title": "别的名字"}, "title", "field_invalid"),
])
def test_new_dates_are_checked_naming_the_field_they_are_about(w, changes, field, code):
    campaign = w.campaign()
    error = refusal(lambda: honours.reschedule(w.staff, campaign, changes, now=NOT_YET))
    assert (error.code, list(error.fields)) == (code, [field])


def test_voting_before_nominations_close_is_an_error_on_the_voting_start(app, w):
    campaign = w.campaign()
    with app.test_request_context(headers={"Accept-Language": "zh"}):
        error = refusal(lambda: honours.reschedule(w.staff, campaign, {"nominate_until": T0 + timedelta(days=8)},
                                                   now=NOT_YET))
    assert error.fields == {"vote_from": [error.message]} and str(error.message) == "投票开始须晚于推荐截止。"


def test_the_same_dates_again_change_nothing_and_leave_no_audit(w):
    campaign = w.campaign()
    assert honours.reschedule(w.staff, campaign, {"vote_from": VOTES_OPEN, "notice_days": 5}, now=NOT_YET) == {}
    assert _audits() == []


@pytest.mark.parametrize(("who", "code"), [("staff_b", "not_found"), ("resident_b", "not_found"),
                                           ("volunteer", "not_staff"), ("head", "not_staff")])
def test_only_the_campaigns_own_staff_reschedule_it(w, who, code):
    campaign = w.campaign()
    error = refusal(lambda: honours.reschedule(getattr(w, who), campaign, {"vote_until": VOTES_CLOSE + timedelta(1)},
                                               now=NOT_YET))
    assert error.code == code


def test_the_schedule_follows_the_new_dates(w):
    campaign = w.campaign()
    w.candidate(campaign)
    honours.reschedule(w.staff, campaign, {"vote_from": VOTES_OPEN + timedelta(days=2),
                                           "vote_until": VOTES_CLOSE + timedelta(days=2),
                                           "review_until": VOTES_CLOSE + timedelta(days=5)}, now=NOMINATING)
    db.session.commit()
    assert honours.advance_due(now=VOTES_OPEN + timedelta(days=1)).moved == []
    assert honours.advance_due(now=VOTES_OPEN + timedelta(days=2)).moved == [(campaign.id, Phase.nomination,
                                                                               Phase.voting)]


# --- the page -------------------------------------------------------------------------------------------------------

def _day(moment: datetime, days: int = 0) -> str:
    return (moment.astimezone(SHANGHAI).date() + timedelta(days=days)).isoformat()


def _field_errors(html: str, name: str) -> list[str]:
    label = re.search(rf'<label for="{name}">(.*?)</label>', html, re.S)
    return re.findall(r'class="field-error"[^>]*>([^<]*)<', label.group(1)) if label else []


def _flashes(html: str) -> list[str]:
    return re.findall(r'class="flash flash-\w+"[^>]*>([^<]*)<', html)


def test_staff_change_a_date_on_the_page_and_the_campaign_shows_the_new_deadline(app, client, tree, make_user):
    ids = campaign_at(app, tree, make_user, Phase.nomination)
    login(client, tree.staff_a)
    page = client.get(ids.url).text
    assert 'data-testid="edit-dates"' in page
    form = client.get(f"{ids.url}/dates").text
    # Nominations opened half an hour ago: their start is shown, not offered.
    assert re.search(r'<input[^>]*disabled[^>]*name="nominate_from"|<input[^>]*name="nominate_from"[^>]*disabled',
                     form)
    assert 'data-testid="locked-nominate_from"' in form and "已开始" in form
    campaign = _campaign(app, ids.id)
    # Two more days of nominations, voting from the day after; tapped twice, saved once, both answers alike.
    last = (campaign.nominate_until - timedelta(seconds=1)).astimezone(SHANGHAI).date() + timedelta(days=2)
    [key] = re.findall(r'name="_once" value="([^"]+)" data-once', form)
    data = {"nominate_until": last.isoformat(), "vote_from": (last + timedelta(days=1)).isoformat(),
            "vote_until": _day(campaign.vote_until - timedelta(seconds=1)),
            "review_until": _day(campaign.review_until - timedelta(seconds=1)), "notice_days": "5",
            "announce_at": "", "_once": key}
    response = client.post(f"{ids.url}/dates", data=data)
    assert response.status_code == 302, _flashes(response.text)
    again = client.post(f"{ids.url}/dates", data=data, follow_redirects=True)
    assert "没有修改任何内容" not in again.text
    after = _campaign(app, ids.id)
    midnight = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=SHANGHAI)
    assert after.nominate_until == midnight and after.vote_from == midnight
    # Dates sent as they were shown keep their exact moment; the started one is not touched.
    assert after.vote_until == campaign.vote_until and after.nominate_from == campaign.nominate_from
    shown = client.get(ids.url).text
    assert f"推荐截止 {last:%m-%d} 24:00 后才能进入投票。" in shown
    with app.app_context():
        [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "campaign.dates")).all()
        assert set(event.after) == {"nominate_until", "vote_from"}
    trail = client.get(f"/areas/{tree.a.community.id}/audit").text
    assert "修改评选时间安排" in trail and "推荐截止日期" in trail


def _campaign(app, campaign_id: int) -> Campaign:
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        db.session.expunge(campaign)
        return campaign


def test_a_date_out_of_order_on_the_page_is_one_error_on_its_field(app, client, tree, make_user):
    ids = campaign_at(app, tree, make_user, Phase.nomination)
    login(client, tree.staff_a)
    campaign = _campaign(app, ids.id)
    response = client.post(f"{ids.url}/dates", data={
        "nominate_until": _day(campaign.vote_from, 3), "vote_from": _day(campaign.vote_from),
        "vote_until": _day(campaign.vote_until - timedelta(seconds=1)),
        "review_until": _day(campaign.review_until - timedelta(seconds=1)), "notice_days": "5"})
    assert response.status_code == 200
    assert _field_errors(response.text, "vote_from") == ["投票开始须晚于推荐截止。"]
    assert _field_errors(response.text, "nominate_until") == [] and _flashes(response.text) == []
    assert _campaign(app, ids.id).nominate_until == campaign.nominate_until


def test_a_started_date_posted_anyway_is_not_changed(app, client, tree, make_user):
    ids = campaign_at(app, tree, make_user, Phase.voting)
    login(client, tree.staff_a)
    campaign = _campaign(app, ids.id)
    client.post(f"{ids.url}/dates", data={"nominate_from": _day(utcnow(), 3), "vote_from": _day(utcnow(), 3),
                                          "vote_until": _day(campaign.vote_until - timedelta(seconds=1)),
                                          "review_until": _day(campaign.review_until - timedelta(seconds=1)),
                                          "notice_days": "5"})
    after = _campaign(app, ids.id)
    assert (after.nominate_from, after.vote_from) == (campaign.nominate_from, campaign.vote_from)


@pytest.mark.parametrize(("role", "status"), [("staff_b", 404), ("resident_b", 404), ("volunteer_a", 403),
                                              ("head_a", 403)])
def test_the_date_page_is_the_campaigns_own_staffs(app, client, tree, make_user, role, status):
    ids = campaign_at(app, tree, make_user, Phase.nomination)
    login(client, getattr(tree, role))
    assert client.get(f"{ids.url}/dates").status_code == status
    # A page's POST refused as Forbidden is flashed on the way back; out of scope it is not found.
    assert client.post(f"{ids.url}/dates", data={"notice_days": "9"}).status_code == (404 if status == 404 else 302)
    assert _campaign(app, ids.id).notice_days == 5


# --- 进入下一阶段 ------------------------------------------------------------------------------------------------

def _advance_button(html: str) -> str:
    return re.search(r'<button[^>]*data-testid="advance"[^>]*>', html).group(0)


def test_moving_on_is_a_disabled_button_with_the_reason_until_the_rules_allow_it(app, client, tree, make_user):
    ids = campaign_at(app, tree, make_user, Phase.voting)
    login(client, tree.staff_a)
    page = client.get(ids.url).text
    button = _advance_button(page)
    assert " disabled" in button and 'aria-describedby="advance-why-' in button
    campaign = _campaign(app, ids.id)
    assert f"投票截止 {deadline_text(campaign.vote_until, with_year=False)} 后才能进入评审。" in page
    refused = client.post(f"{ids.url}/advance", follow_redirects=True)  # the server still says no
    assert any("后才能进入评审" in f for f in _flashes(refused.text))
    with app.app_context():
        db.session.execute(update(Campaign).where(Campaign.id == ids.id).values(vote_until=utcnow()))
        db.session.commit()
    page = client.get(ids.url).text
    assert " disabled" not in _advance_button(page) and 'data-testid="blockers"' not in page
    client.post(f"{ids.url}/advance")
    assert _campaign(app, ids.id).phase == Phase.review


# --- errors on the right field ---------------------------------------------------------------------------------

def _new_campaign(client, tree, **dates):
    nominate_from, nominate_until, vote_from, vote_until, review_until = (
        _day(utcnow(), n) for n in (1, 7, 8, 14, 17))
    data = {"kind": "good_neighbour", "title": "社区好人", "nominate_from": nominate_from,
            "nominate_until": nominate_until, "vote_from": vote_from, "vote_until": vote_until,
            "review_until": review_until, "notice_days": "5", "seats": "10", "votes_per_voter": "3"}
    return client.post(f"/areas/{tree.a.community.id}/campaigns/new", data={**data, **dates})


@pytest.mark.parametrize(("dates", "field", "message"), [
    ({"vote_from": 5}, "vote_from", "投票开始须晚于推荐截止。"),
    ({"nominate_until": 0, "nominate_from": 1}, "nominate_until", "推荐截止须晚于推荐开始。"),
    ({"vote_until": 6}, "vote_until", "投票截止须晚于投票开始。"),
    ({"review_until": 10}, "review_until", "评审截止须晚于投票截止。"),
    ({"nominate_from": -9, "nominate_until": -2}, "nominate_until", "推荐截止须晚于现在。"),
    ({"review_until": None}, "review_until", "请选择日期。"),
])
def test_each_date_error_of_the_campaign_form_sits_on_its_own_field(app, client, tree, dates, field, message):
    login(client, tree.staff_a)
    response = _new_campaign(client, tree, **{k: "" if v is None else _day(utcnow(), v) for k, v in dates.items()})
    assert response.status_code == 200
    names = ("nominate_from", "nominate_until", "vote_from", "vote_until", "review_until")
    assert {name: _field_errors(response.text, name) for name in names} == \
        {name: [message] if name == field else [] for name in names}
    assert _flashes(response.text) == []
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Campaign)) == 0


def test_the_campaign_form_keeps_each_date_box_whole_on_a_phone(client, tree):
    login(client, tree.staff_a)
    page = client.get(f"/areas/{tree.a.community.id}/campaigns/new").text
    assert page.count('class="date-pair"') == 3 and page.count('type="date"') == 5
    assert not re.search(r'class="grid-2">[^\n]*type="date"', page)


@pytest.mark.parametrize(("kind", "data", "field", "message"), [
    ("good_neighbour", {"nominee_phone": "", "reason": "好"}, "nominee_phone", "请填写被推荐人的手机号。"),
    ("best_head", {"nominee": "", "reason": "好"}, "nominee", "请选择一位三长。"),
    ("good_neighbour", {"nominee_phone": "", "reason": ""}, "reason", "请写明推荐理由。"),
    ("best_head", {"nominee": "", "reason": ""}, "reason", "请写明推荐理由。"),
])
def test_an_empty_nomination_says_each_missing_answer_once_on_its_field(app, client, tree, make_user, kind, data,
                                                                        field, message):
    extra = {} if kind == "good_neighbour" else {"nominees": (), "kind": "best_head", "title": "最美三长"}
    ids = campaign_at(app, tree, make_user, Phase.nomination, **extra)
    login(client, tree.volunteer_a)
    response = client.post(f"{ids.url}/nominate", data=data)
    assert response.status_code == 200
    whom = "nominee" if kind == "best_head" else "nominee_phone"
    errors = {name: _field_errors(response.text, name) for name in (whom, "reason")}
    assert errors[field] == [message]
    if not data["reason"]:  # both missing: one error on each field, nothing else
        assert len(errors[whom]) == 1
    assert _flashes(response.text) == []


# --- the API -------------------------------------------------------------------------------------------------------

def test_api_staff_patch_the_dates_still_to_come(app, client, tree, make_user):
    ids = campaign_at(app, tree, make_user, Phase.nomination)
    staff = token_for(client, tree.staff_a)
    campaign = _campaign(app, ids.id)
    later = (campaign.vote_until + timedelta(days=2)).isoformat()
    response = client.patch(f"/api/v1/campaigns/{ids.id}", headers=staff, json={"vote_until": later,
                                                                                  "notice_days": 6})
    assert response.status_code == 200, response.text
    assert datetime.fromisoformat(response.json["vote_until"]) == campaign.vote_until + timedelta(days=2)
    assert response.json["notice_days"] == 6

    started = client.patch(f"/api/v1/campaigns/{ids.id}", headers=staff,
                           json={"nominate_from": (utcnow() + timedelta(days=1)).isoformat()})
    assert started.status_code == 409 and started.json["error"]["code"] == "phase_started"
    assert list(started.json["error"]["fields"]) == ["nominate_from"]

    order = client.patch(f"/api/v1/campaigns/{ids.id}", headers=staff,
                         json={"nominate_until": (campaign.vote_from + timedelta(days=1)).isoformat()})
    assert order.status_code == 400 and order.json["error"]["code"] == "dates_invalid"
    assert list(order.json["error"]["fields"]) == ["vote_from"]
    announce = (campaign.review_until + timedelta(days=10)).isoformat()
    assert client.patch(f"/api/v1/campaigns/{ids.id}", headers=staff, json={"announce_at": announce}).json[
        "announce_at"] is not None
    cleared = client.patch(f"/api/v1/campaigns/{ids.id}", headers=staff, json={"announce_at": None})
    assert cleared.status_code == 200 and cleared.json["announce_at"] is None
    assert client.patch(f"/api/v1/campaigns/{ids.id}", headers=staff, json={"title": "x"}).status_code == 400

    for user, status in ((tree.staff_b, 404), (tree.volunteer_a, 403)):
        refused = client.patch(f"/api/v1/campaigns/{ids.id}", headers=token_for(client, user),
                               json={"notice_days": 9})
        assert refused.status_code == status
    with app.app_context():
        assert db.session.get(Campaign, ids.id).notice_days == 6
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.action == "campaign.dates")) == 3
