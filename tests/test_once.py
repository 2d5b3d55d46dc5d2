"""Page forms count once (blueprints/once.py, domain/once.py): a creating form sent twice with its key — Back and
submit again, a double tap, two at the same instant — makes one row and answers the second time with the first
one's result; a refused submission leaves its key usable; a form without a key is served as before."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from domain import ledger, market, once
from models import (
    Area,
    Campaign,
    Event,
    FormSubmission,
    Household,
    Redemption,
    Reward,
    ServiceRecord,
    StockMovement,
    Task,
    Team,
    TxnKind,
    User,
    db,
    utcnow,
)
from tests.conftest import login, run_threads, together
from tests.test_event_pages import FORM as EVENT_FORM
from tests.test_roster import GOOD, csv_bytes
from tests.test_service_pages import _form as service_form

ALREADY = "此表单已提交过"


def _key(page: str) -> str:
    """The one-time key a rendered form carries."""
    [key] = re.findall(r'name="_once" value="([^"]+)" data-once', page)
    return key


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def _reward(app, tree) -> int:
    with app.app_context():
        reward = market.create_reward(db.session.get(User, tree.staff_a.id), db.session.get(Area, tree.a.community.id),
                                      market.RewardForm(name="东北大米 5kg", price=60, stock=3))
        db.session.commit()
        return reward.id


def _days(*offsets: int) -> list[str]:
    today = utcnow().date()
    return [(today + timedelta(days=n)).isoformat() for n in offsets]


def _reward_and_points(app, tree) -> int:
    """A reward of community A, and 160 points for its volunteer to spend on it."""
    with app.app_context():
        ledger.credit(db.session.get(User, tree.volunteer_a.id), db.session.get(Area, tree.a.community.id), 160,
                      kind=TxnKind.service, key="service:v")
        db.session.commit()
    return _reward(app, tree)


#: Creating and spending forms: who sends it, the page that shows it, what is posted, where it is posted (from the
#: page's address; None: to the page itself), and the rows it makes.
FORMS = {
    "service": ("volunteer_a", lambda t, app: "/service/record", lambda t: service_form(), None, ServiceRecord),
    "event": ("staff_a", lambda t, app: f"/areas/{t.a.community.id}/events/new", lambda t: EVENT_FORM, None, Event),
    "need": ("volunteer_a", lambda t, app: "/needs/new",
             lambda t: {"title": "楼道灯不亮", "description": "三楼楼道灯坏了一周", "category": "repairs"}, None, Task),
    "team": ("staff_a", lambda t, app: f"/areas/{t.a.community.id}/teams/new",
             lambda t: {"name": "银发助餐队", "category": "elderly_care", "leader_phone": t.volunteer_a.phone}, None,
             Team),
    "area": ("staff_a", lambda t, app: f"/areas/{t.a.community.id}", lambda t: {"level": "grid", "name": "第三网格"},
             lambda url: f"{url}/children", Area),
    "household": ("staff_a", lambda t, app: f"/areas/{t.a.unit.id}", lambda t: {"label": "302"},
                  lambda url: f"{url}/households", Household),
    "person": ("staff_a", lambda t, app: "/people/new",
               lambda t: {"name": "王秀英", "phone": "13655556666", "role": "volunteer", "area_id": t.a.community.id,
                          "household_id": t.a.household.id, "password": ""}, None, User),
    "reward": ("staff_a", lambda t, app: f"/market/{t.a.community.id}/rewards/new",
               lambda t: {"name": "立白洗衣液 2kg", "category": "goods", "price": "30", "stock": "40",
                          "limit_period": "month"}, None, Reward),
    "stock": ("staff_a", lambda t, app: f"/market/rewards/{_reward(app, t)}",
              lambda t: {"change": "10", "reason": "好邻居捐赠"}, lambda url: f"{url}/stock", StockMovement),
    "redemption": ("volunteer_a", lambda t, app: f"/market/rewards/{_reward_and_points(app, t)}/confirm?quantity=1",
                   lambda t: {"quantity": "1"}, lambda url: url.replace("/confirm?quantity=1", "/redeem"), Redemption),
    "campaign": ("staff_a", lambda t, app: f"/areas/{t.a.community.id}/campaigns/new",
                 lambda t: dict(zip(("nominate_from", "nominate_until", "vote_from", "vote_until", "review_until"),
                                    _days(1, 7, 8, 14, 17), strict=True)) | {
                     "kind": "best_head", "title": "2026年度最美三长", "notice_days": "5", "seats_grid": "1",
                     "seats_building": "2", "seats_unit": "3", "votes_per_voter": "3", "points": "200"},
                 None, Campaign),
}


@pytest.mark.parametrize("name", sorted(FORMS))
def test_a_creating_form_sent_twice_with_its_key_makes_one_row_and_answers_with_the_first(app, client, tree, name):
    who, page_url, data, target, model = FORMS[name]
    login(client, getattr(tree, who))
    url = page_url(tree, app)
    page = client.get(url)
    assert page.status_code == 200
    key = _key(page.text)
    post_to = url if target is None else target(url)
    before = _count(app, model)

    first = client.post(post_to, data={**data(tree), "_once": key})
    assert first.status_code == 302, first.text
    assert _count(app, model) == before + 1
    second = client.post(post_to, data={**data(tree), "_once": key})
    assert second.status_code == 303 and second.location == first.location
    assert _count(app, model) == before + 1
    assert ALREADY in client.get(second.location).text
    with app.app_context():
        row = db.session.scalars(select(FormSubmission)).one()
        assert (row.key, row.user_id, row.result_url) == (key, getattr(tree, who).id, first.location)


def test_back_and_submit_again_on_record_service_records_once(app, client, tree):
    login(client, tree.volunteer_a)
    key = _key(client.get("/service/record").text)
    first = client.post("/service/record", data={**service_form(), "_once": key})
    assert first.status_code == 302 and "/service/recorded?ids=" in first.location
    again = client.post("/service/record", data={**service_form(), "_once": key}, follow_redirects=True)
    assert again.status_code == 200 and ALREADY in again.text
    assert len(again.history) == 1 and again.request.path + "?" + again.request.query_string.decode() == \
        first.location
    assert _count(app, ServiceRecord) == 1
    # A form opened afresh has a new key: another occasion is recorded.
    fresh = _key(client.get("/service/record").text)
    assert fresh != key
    other = client.post("/service/record", data={**service_form(start="14:00", end="15:00"), "_once": fresh})
    assert other.status_code == 302 and _count(app, ServiceRecord) == 2


def test_a_head_recording_for_a_resident_records_once(app, client, tree, headed_resident):
    """记录服务's head variant (for residents without a smartphone): the same form, the same door."""
    resident = headed_resident
    login(client, tree.head_a)
    url = f"/service/record?mode=others&person_ids={resident.id}"
    key = _key(client.get(url).text)
    data = {**service_form(), "person_ids": [str(resident.id)], "_once": key}
    first = client.post(url, data=data)
    second = client.post(url, data=data)
    assert first.status_code == 302 and second.status_code == 303 and second.location == first.location
    assert _count(app, ServiceRecord) == 1


def test_a_refused_submission_leaves_its_key_usable(app, client, tree):
    login(client, tree.volunteer_a)
    key = _key(client.get("/service/record").text)
    # Refused by the domain (more than 7 days ago, not marked late): shown again with the same key.
    refused = client.post("/service/record", data={**service_form(days_ago=10), "_once": key})
    assert refused.status_code == 200 and _key(refused.text) == key
    # Refused by the form's own validators.
    invalid = client.post("/service/record", data={**service_form(activity=""), "_once": key})
    assert invalid.status_code == 200 and _key(invalid.text) == key
    assert _count(app, ServiceRecord) == 0 and _count(app, FormSubmission) == 0
    fixed = client.post("/service/record", data={**service_form(days_ago=10), "late": "y", "_once": key})
    assert fixed.status_code == 302 and "/service/recorded?ids=" in fixed.location
    assert _count(app, ServiceRecord) == 1 and _count(app, FormSubmission) == 1


def test_a_form_shown_again_after_it_succeeded_in_place_has_a_new_key(app, client, tree):
    """The roster import shows its result and its form on the page the POST answers: that form is a new one."""
    login(client, tree.staff_a)
    url = f"/areas/{tree.a.community.id}/roster"
    key = _key(client.get(url).text)

    def upload(rows, key):
        return client.post(url, data={"file": (io.BytesIO(csv_bytes(rows)), "名单.csv"), "_once": key},
                           content_type="multipart/form-data")
    done = upload(GOOD, key)
    assert done.status_code == 200 and 'data-testid="import-result"' in done.text
    fresh = _key(done.text)
    assert fresh != key
    people = _count(app, User)
    again = upload(GOOD, key)
    assert again.status_code == 409 and 'data-testid="already-submitted"' in again.text and ALREADY in again.text
    more = upload([["第一网格", "1号楼", "1单元", "101", "何志强", "13911110099", "居民", ""]], fresh)
    assert more.status_code == 200 and _count(app, User) == people + 1


def test_a_key_is_the_sender_s_own(app, client, tree, make_user):
    """Another person's form with the same key text is another submission (keys are unique per person)."""
    key = "k" * 24
    login(client, tree.volunteer_a)
    assert client.post("/service/record", data={**service_form(), "_once": key}).status_code == 302
    client.post("/logout")
    login(client, tree.head_a)
    assert client.post("/service/record", data={**service_form(), "_once": key}).status_code == 302
    assert _count(app, ServiceRecord) == 2


def test_a_form_without_a_key_is_served_as_before_and_a_malformed_key_is_refused(app, client, tree):
    login(client, tree.volunteer_a)
    assert client.post("/service/record", data=service_form()).status_code == 302
    for bad in ("short", "x" * 65, "no spaces allowed here", "碎片碎片碎片碎片碎片碎片碎片碎片"):
        refused = client.post("/service/record", data={**service_form(start="14:00", end="15:00"), "_once": bad},
                              headers={"Referer": "/service/record"})
        assert refused.status_code == 302 and refused.location == "/service/record"
    assert "此表单已过期" in client.get("/service/record").text
    assert _count(app, ServiceRecord) == 1 and _count(app, FormSubmission) == 0


def test_the_api_is_left_to_its_own_idempotency_key(app, client, tree):
    """A `_once` field has no meaning on the API: its bodies are JSON, and its door is the Idempotency-Key."""
    login(client, tree.volunteer_a)
    assert client.post("/api/v1/service-records", data={"_once": "y" * 24}).status_code in (400, 401, 415)
    assert _count(app, FormSubmission) == 0


def test_two_submissions_at_once_with_one_key_make_one_record(app, threaded_app, tree):
    """A double tap reaching two workers at the same instant, each on its own connection: one claims the key and
    records; the other waits for it and is answered with its result."""
    count = 4
    key = "double-tap-key-0123456789"
    barrier = together(count)

    def submit(_i: int):
        client = threaded_app.test_client()
        login(client, tree.volunteer_a)
        barrier.wait()
        response = client.post("/service/record", data={**service_form(), "_once": key})
        return response.status_code, response.location

    answers = run_threads(submit, count)
    assert not [a for a in answers if isinstance(a, BaseException)], answers
    assert _count(app, ServiceRecord) == 1 and _count(app, FormSubmission) == 1
    made = [location for status, location in answers if status == 302]
    assert len(made) == 1 and "/service/recorded?ids=" in made[0]
    assert sorted(status for status, _ in answers) == [302] + [303] * (count - 1)
    assert {location for _, location in answers} == {made[0]}


def test_old_keys_are_purged(dbs, tree):
    now = utcnow()
    person = tree.volunteer_a.id
    for days, key in ((40, "old-key-0123456789ab"), (2, "new-key-0123456789ab")):
        assert once.claim(person, key, "service.record", now=now - timedelta(days=days))
    assert not once.claim(person, "new-key-0123456789ab", "service.record", now=now)
    assert once.purge(now=now) == 1
    assert [row.key for row in dbs.scalars(select(FormSubmission))] == ["new-key-0123456789ab"]
