"""Privacy: consents in the profile, correcting one's own name and phone, under-14s only with a guardian and
without a password, anonymising a person who left (the ledger still balances), and masked names and phones on
every public page."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from domain import accounts, certificates, honours, ledger, market, org, privacy, service, tasks
from models import (
    Account,
    ApiToken,
    Area,
    AuditEvent,
    HeadPost,
    NominationStatus,
    Notification,
    Phase,
    Task,
    TxnKind,
    User,
    db,
    utcnow,
)
from tests.conftest import PASSWORD, login, token_for
from tests.test_honour_pages import campaign_at, english
from tests.test_service import occasion
from tests.test_tasks import code_of, setup_need

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # 20:00 in Beijing


def years_ago(years: int, days: int = 0) -> date:
    today = privacy.local_today()
    return today.replace(year=today.year - years) - timedelta(days=days)


# --- under 14 -----------------------------------------------------------------------------------------------------

def test_fourteen_is_reached_on_the_birthday_in_beijing():
    birthday = date(2012, 12, 2)
    assert privacy.is_minor(birthday, datetime(2026, 12, 1, 15, 59, tzinfo=UTC))  # 23:59 on 1 Dec in Beijing
    assert not privacy.is_minor(birthday, datetime(2026, 12, 1, 16, 0, tzinfo=UTC))  # midnight: 14 today
    assert not privacy.is_minor(None, NOW)


def _child_form(tree, **overrides) -> dict:
    return {"name": "王小宝", "phone": "13611112222", "role": "resident", "area_id": tree.a.community.id,
            "household_id": tree.a.household.id, "password": "", "birth_date": years_ago(10).isoformat(),
            "guardian_phone": "", **overrides}


def test_staff_add_a_child_under_14_only_with_a_registered_adult_guardian(app, client, tree):
    login(client, tree.staff_a)
    english(client)
    refused = client.post("/people/new", data=_child_form(tree))
    assert refused.status_code == 200 and "only with a guardian" in refused.text and "王小宝" in refused.text
    unknown = client.post("/people/new", data=_child_form(tree, guardian_phone="13799998888"))
    assert "No one is registered with this phone number" in unknown.text
    with_password = client.post("/people/new", data=_child_form(tree, guardian_phone=tree.head_a.phone,
                                                                password="a long enough password"))
    assert "does not sign in on their own" in with_password.text
    with app.app_context():
        assert db.session.scalar(select(User).where(User.phone == "13611112222")) is None
    added = client.post("/people/new", data=_child_form(tree, guardian_phone=tree.head_a.phone))
    assert added.status_code == 302
    with app.app_context():
        child = db.session.scalar(select(User).where(User.phone == "13611112222"))
        assert (child.guardian_id, child.password_hash, privacy.is_minor(child)) == (tree.head_a.id, None, True)
        assert child.guardian.name == tree.head_a.name
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "person.guardian"))
        assert event.after == {"minor": True, "guardian_id": tree.head_a.id}


def test_an_adult_needs_no_birth_date_and_a_fourteen_year_old_no_guardian(app, client, tree):
    login(client, tree.staff_a)
    assert client.post("/people/new", data=_child_form(tree, birth_date="")).status_code == 302
    assert client.post("/people/new", data=_child_form(tree, phone="13611113333", birth_date=years_ago(14).isoformat(),
                                                       password="a long enough password")).status_code == 302


def test_a_guardian_must_be_an_adult(dbs, tree, make_user):
    child = make_user("王小宝", birth_date=years_ago(9), password=None)
    assert code_of(lambda: privacy.check_minor(years_ago(5), child, None)) == "guardian_not_adult"
    assert code_of(lambda: privacy.check_minor(date(2100, 1, 1), None, None)) == "birth_date_invalid"


def test_a_child_under_14_is_given_no_password_until_fourteen(dbs, tree, make_user):
    staff = db.session.merge(tree.staff_a)
    child = make_user("王小宝", password=None, household=tree.a.household, birth_date=years_ago(13, days=300))
    db.session.commit()
    assert code_of(lambda: privacy.set_password(staff, child, "a long enough password")) == "minor_no_password"
    child.birth_date = years_ago(14)
    privacy.set_password(staff, child, "a long enough password")
    assert child.password_hash is not None


def test_the_api_refuses_a_child_without_a_guardian(client, tree):
    headers = token_for(client, tree.staff_a)
    body = {"name": "王小宝", "phone": "13611112222", "household_id": tree.a.household.id,
            "roles": [{"role": "resident", "area_id": tree.a.community.id}], "birth_date": years_ago(8).isoformat()}
    refused = client.post("/api/v1/people", json=body, headers=headers)
    assert refused.status_code == 422 and refused.json["error"]["code"] == "guardian_required"
    added = client.post("/api/v1/people", json={**body, "guardian_id": tree.head_a.id}, headers=headers)
    assert added.status_code == 201


# --- the profile: consents, name and phone, export ---------------------------------------------------------------

def test_consents_start_off_and_the_person_sets_them_in_the_profile(app, client, tree):
    login(client, tree.volunteer_a)
    page = client.get("/me/profile").text
    assert 'name="public_consent"' in page and "checked" not in page
    assert 'href="/me/data"' in page and 'data-testid="profile-my-data"' in page
    client.post("/me/profile/consents", data={"public_consent": "y", "honour_consent": "y"})
    with app.app_context():
        me = db.session.get(User, tree.volunteer_a.id)
        assert (me.public_consent, me.honour_consent) == (True, True)
    assert client.get("/me/profile").text.count("checked") == 2
    client.post("/me/profile/consents", data={})
    with app.app_context():
        me = db.session.get(User, tree.volunteer_a.id)
        assert (me.public_consent, me.honour_consent) == (False, False)
        changes = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "person.consent")
                                     .order_by(AuditEvent.id)).all()
        assert [c.after["public_consent"] for c in changes] == [True, False]
        assert all(c.actor_id == me.id and c.area_id is not None for c in changes)


def test_the_profile_consent_to_honour_notices_stands_for_a_nomination(app, tree, make_user):
    ids = campaign_at(app, tree, make_user, Phase.nomination, nominees=())
    willing = make_user("赵愿意", household=tree.a.household, roles=[("resident", tree.a.community)],
                        honour_consent=True)
    asked = make_user("钱再问", household=tree.a.household, roles=[("resident", tree.a.community)])
    with app.app_context():
        campaign = db.session.get(honours.Campaign, ids.id)
        nominator = db.session.get(User, tree.volunteer_a.id)
        first = honours.nominate(nominator, campaign, db.session.get(User, willing.id), reason="热心肠")
        second = honours.nominate(nominator, campaign, db.session.get(User, asked.id), reason="热心肠")
        assert (first.status, second.status) == (NominationStatus.confirmed, NominationStatus.pending)
        honours.withdraw(db.session.get(User, willing.id), first)
        assert first.status == NominationStatus.withdrawn


def test_a_person_corrects_their_name_and_phone_and_signs_in_with_the_new_one(app, client, tree):
    login(client, tree.volunteer_a)
    answer = client.post("/me/profile/details", data={"name": " 志愿者丙 ", "phone": "138 0013 9999"})
    assert answer.status_code == 302
    with app.app_context():
        me = db.session.get(User, tree.volunteer_a.id)
        assert (me.name, me.phone) == ("志愿者丙", "13800139999")
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "person.correct"))
        assert event.before == {"name": "志***", "phone": tree.volunteer_a.masked_phone}
        assert event.after == {"name": "志***", "phone": "138****9999"}
    client.post("/logout")
    assert client.post("/login", data={"phone": "13800139999", "password": PASSWORD}).status_code == 302


@pytest.mark.parametrize(("data", "message"), [
    ({"name": "志愿者乙", "phone": "TAKEN"}, "already registered"),
    ({"name": "志愿者乙", "phone": "12345"}, "Not a mainland mobile number"),
    ({"name": "   ", "phone": "13800139999"}, "required"),
])
def test_a_correction_that_cannot_be_is_shown_again_and_changes_nothing(app, client, tree, data, message):
    login(client, tree.volunteer_a)
    english(client)
    data = {**data, "phone": tree.resident_b.phone if data["phone"] == "TAKEN" else data["phone"]}
    answer = client.post("/me/profile/details", data=data)
    assert answer.status_code == 422 and message in answer.text
    with app.app_context():
        me = db.session.get(User, tree.volunteer_a.id)
        assert (me.name, me.phone) == (tree.volunteer_a.name, tree.volunteer_a.phone)


def test_home_and_my_data_lead_to_the_profile(client, tree):
    login(client, tree.volunteer_a)
    assert 'href="/me/profile"' in client.get("/").text and 'href="/me/profile"' in client.get("/me/data").text


# --- anonymising a person who left --------------------------------------------------------------------------------

@pytest.fixture
def leaver(app, tree, client):
    """The volunteer of community A with points partly spent, a unit head post, an API token: about to move away."""
    with app.app_context():
        staff, person = db.session.get(User, tree.staff_a.id), db.session.get(User, tree.volunteer_a.id)
        community = db.session.get(Area, tree.a.community.id)
        ledger.credit(person, community, 100, kind=TxnKind.service, key="test:earned")
        reward = market.create_reward(staff, community, market.RewardForm(name="东北大米 5kg", price=30, stock=5))
        market.redeem(person, reward)
        person.public_consent = True
        org.appoint_head(staff, db.session.get(Area, tree.a.building.id), person)
        db.session.commit()
    return token_for(client, tree.volunteer_a)


def test_staff_anonymise_a_person_who_left_and_the_ledger_still_balances(app, client, runner, tree, leaver):
    login(client, tree.staff_a)
    assert 'data-testid="person-anonymise"' in client.get(f"/people/{tree.volunteer_a.id}").text
    assert 'data-testid="anonymise-form"' in client.get(f"/people/{tree.volunteer_a.id}/anonymise").text
    empty = client.post(f"/people/{tree.volunteer_a.id}/anonymise", data={"reason": ""})
    assert empty.status_code == 200 and 'data-testid="anonymise-form"' in empty.text
    answer = client.post(f"/people/{tree.volunteer_a.id}/anonymise", data={"reason": "已搬离本社区"})
    assert answer.status_code == 302
    with app.app_context():
        person = db.session.get(User, tree.volunteer_a.id)
        assert person.name == f"已注销居民 #{person.id}" and not re.search(r"\d{11}", person.phone)
        assert (person.password_hash, person.active, person.public_consent, person.honour_consent) == \
            (None, False, False, False)
        assert person.anonymised_at is not None and person.grants == []
        assert db.session.scalar(select(HeadPost).where(HeadPost.user_id == person.id)).until is not None
        assert all(t.revoked_at is not None for t in db.session.scalars(select(ApiToken)))
        account = db.session.scalar(select(Account).where(Account.owner_id == person.id))
        assert account.balance == 70
        assert ledger.verify() == []
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "person.anonymise"))
        assert event.reason == "已搬离本社区" and event.actor_id == tree.staff_a.id
    verified = runner.invoke(args=["ledger", "verify"])
    assert verified.exit_code == 0, verified.output
    assert client.get("/api/v1/me", headers=leaver).status_code == 401
    for url in (f"/people/{tree.volunteer_a.id}", f"/areas/{tree.a.community.id}/ledger",
                f"/areas/{tree.a.community.id}/audit", f"/people?q={tree.volunteer_a.phone[-4:]}"):
        page = client.get(url)
        assert page.status_code == 200 and "志愿者乙" not in page.text and tree.volunteer_a.phone not in page.text
    assert "已注销居民" in client.get(f"/areas/{tree.a.community.id}/ledger").text
    client.post(f"/people/{tree.volunteer_a.id}/password", data={"password": "a long enough password"})
    with app.app_context():
        assert db.session.get(User, tree.volunteer_a.id).password_hash is None
    client.post("/logout")
    assert client.post("/login", data={"phone": tree.volunteer_a.phone, "password": PASSWORD}).status_code != 302


def test_anonymising_needs_a_reason_staff_of_the_community_and_happens_once(app, dbs, tree, make_user):
    staff, staff_b = db.session.merge(tree.staff_a), db.session.merge(tree.staff_b)
    person = db.session.merge(tree.volunteer_a)
    guardian = make_user("家长", household=tree.a.household)
    make_user("小孩", password=None, household=tree.a.household, birth_date=years_ago(6), guardian_id=guardian.id)
    db.session.commit()
    assert code_of(lambda: privacy.anonymise(staff, person, reason=" ")) == "reason_required"
    assert code_of(lambda: privacy.anonymise(staff_b, person, reason="搬走")) == "not_found"
    assert code_of(lambda: privacy.anonymise(staff, staff, reason="搬走")) == "own_account"
    privacy.anonymise(staff, person, reason="搬走")
    db.session.commit()
    assert code_of(lambda: privacy.anonymise(staff, person, reason="搬走")) == "already_anonymised"
    assert code_of(lambda: accounts.set_active(staff, person, True)) == "anonymised"  # never usable again
    assert code_of(lambda: privacy.anonymise(staff, db.session.get(User, guardian.id), reason="搬走")) == \
        "guardian_of_minor"


def test_anonymising_also_takes_the_name_out_of_what_residents_were_told(app, dbs, tree, make_user):
    ids = setup_need(app, tree, make_user)
    head, resident = db.session.get(User, ids.unit_head), db.session.get(User, ids.resident)
    tasks.claim_task(head, tasks.load(Task, ids.task))
    db.session.commit()
    told = db.session.scalar(select(Notification).where(Notification.user_id == resident.id,
                                                        Notification.kind == "task.claimed"))
    assert told.params["name"] == head.name
    privacy.anonymise(db.session.get(User, ids.staff), head, reason="已搬离本社区")
    db.session.commit()
    db.session.refresh(told)
    assert told.params["name"] == f"已注销居民 #{head.id}"


def test_the_anonymise_page_is_for_staff_of_the_person_only(client, tree):
    login(client, tree.staff_b)
    assert client.get(f"/people/{tree.volunteer_a.id}/anonymise").status_code == 404
    assert client.post(f"/people/{tree.volunteer_a.id}/anonymise", data={"reason": "x"}).status_code == 404
    client.post("/logout")
    login(client, tree.head_a)
    assert client.post(f"/people/{tree.volunteer_a.id}/anonymise", data={"reason": "x"}).status_code == 404


# --- masking on public pages --------------------------------------------------------------------------------------

def test_public_pages_show_no_phone_and_no_unmasked_name(app, client, tree, make_user):
    """王秀英 consented to public lists; 李建国 did not. Both stood in the campaign; 王秀英 was honoured."""
    ids = campaign_at(app, tree, make_user, Phase.announced)
    willing, unwilling = ids.people
    with app.app_context():
        staff = db.session.get(User, tree.staff_a.id)
        community = db.session.get(Area, tree.a.community.id)
        li = db.session.get(User, unwilling.id)
        ledger.credit(li, community, 200, kind=TxnKind.service, key="test:li")
        ledger.credit(db.session.get(User, willing.id), community, 100, kind=TxnKind.service, key="test:wang")
        reward = market.create_reward(staff, community, market.RewardForm(name="东北大米 5kg", price=60, stock=5))
        market.redeem(li, reward)
        start = utcnow() - timedelta(hours=5)
        record = service.submit_records(li, community, [li], occasion(start, 120), now=utcnow())[0]
        service.approve_record(staff, record)
        certificate = certificates.issue_certificate(li, li, community, period_from=start.date() - timedelta(days=1),
                                                     period_to=privacy.local_today())
        people = db.session.scalars(select(User)).all()
        phones, names = [p.phone for p in people], [willing.name, unwilling.name]
        db.session.commit()
    public = [f"/campaigns/{ids.id}/notice", f"/areas/{tree.a.community.id}/honours", f"/honours/{ids.number}",
              f"/certificates/{certificate.number}"]
    scoped = [f"/leaderboards?area_id={tree.a.community.id}", f"/market/{tree.a.community.id}/notice"]
    pages = {url: client.get(url) for url in public}
    login(client, tree.head_a)
    pages.update({url: client.get(url) for url in scoped})
    for url, page in pages.items():
        assert page.status_code == 200, url
        for secret in phones + names:
            assert secret not in page.text, (url, secret)
    assert "王**" in pages[f"/campaigns/{ids.id}/notice"].text and "王**" in pages[scoped[0]].text
    assert "李**" in pages[f"/certificates/{certificate.number}"].text  # verification: the masked name only
    assert "东北大米 5kg" in pages[scoped[1]].text  # 李建国's redemption is on the notice, without his name
    # Who did not consent to public lists is not named there, not even masked.
    for url in scoped + [f"/areas/{tree.a.community.id}/honours"]:
        assert "李**" not in pages[url].text, url
