"""Honour pages: who may open what, the campaign form, nominating with photos, consenting, voting, the review
with its figures, flags and objections, the public notice and honour roll without sign-in, certificates, the
profile."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image
from sqlalchemy import func, select

from domain import honours
from domain.ledger import SHANGHAI
from models import (
    Area,
    Campaign,
    Honour,
    Nomination,
    NominationStatus,
    Objection,
    Phase,
    User,
    Vote,
    VoteFlag,
    db,
    utcnow,
)
from tests.conftest import UPLOADS, login

#: When each phase began, counted back from now, so that the campaign is in that phase at the real time.
STARTS = {Phase.nomination: timedelta(minutes=30), Phase.voting: timedelta(days=7, minutes=30),
          Phase.review: timedelta(days=14, minutes=30), Phase.notice: timedelta(days=15, minutes=30),
          Phase.announced: timedelta(days=40)}


def campaign_at(app, tree, make_user, phase: Phase, nominees=("王秀英", "李建国"), **overrides) -> SimpleNamespace:
    """A good-neighbour campaign of community A in `phase` now: two candidates (王秀英 and 李建国), three votes
    for the first, the first shortlisted, and — when announced — honoured."""
    base = utcnow() - STARTS[phase]
    with app.app_context():
        staff, volunteer = db.session.get(User, tree.staff_a.id), db.session.get(User, tree.volunteer_a.id)
        community = db.session.get(Area, tree.a.community.id)
        values = dict(kind="good_neighbour", title="2026年度社区好人", nominate_from=base,
                      nominate_until=base + timedelta(days=7), vote_from=base + timedelta(days=7),
                      vote_until=base + timedelta(days=14), review_until=base + timedelta(days=17))
        campaign = honours.open_campaign(staff, community, honours.CampaignForm(**{**values, **overrides}),
                                         now=base - timedelta(hours=1))
        # 王秀英 agreed in her profile to appear on public lists; 李建国 did not.
        people = [make_user(name, household=tree.a.household, roles=[("resident", tree.a.community)],
                            public_consent=name == "王秀英") for name in nominees]
        nominations = []
        for person in people:
            nomination = honours.nominate(volunteer, campaign, person, reason="常年照顾楼里的独居老人",
                                          now=base + timedelta(hours=1))
            honours.answer(person, nomination, consent=True, now=base + timedelta(hours=1))
            nominations.append(nomination)
        if phase != Phase.nomination:
            honours.advance(staff, campaign, now=base + timedelta(days=7))
        if phase not in (Phase.nomination, Phase.voting):
            for n in range(3):
                voter = make_user(f"投票人{n}", household=tree.a.household, roles=[("resident", tree.a.community)])
                honours.cast_vote(voter, nominations[0], now=base + timedelta(days=8))
            honours.advance(staff, campaign, now=base + timedelta(days=14))
        if phase in (Phase.notice, Phase.announced):
            honours.decide(staff, nominations[0], shortlist=True, note="票数最多", now=base + timedelta(days=14))
            honours.decide(staff, nominations[1], shortlist=False, note="票数较少", now=base + timedelta(days=14))
            honours.advance(staff, campaign, now=base + timedelta(days=15))
        if phase == Phase.announced:
            honours.advance(staff, campaign, now=campaign.notice_until)
        db.session.commit()
        number = db.session.scalar(select(Honour.number))
        ids = [n.id for n in nominations] + [None, None]
        return SimpleNamespace(id=campaign.id, url=f"/campaigns/{campaign.id}", first=ids[0], second=ids[1],
                               people=people, number=number)


@pytest.fixture(autouse=True)
def uploads(app, tmp_path):
    """Photos go to a folder of the test's own."""
    app.config["UPLOAD_FOLDER"] = str(tmp_path)
    yield tmp_path
    app.config["UPLOAD_FOLDER"] = UPLOADS


@pytest.fixture
def voting(app, tree, make_user):
    return campaign_at(app, tree, make_user, Phase.voting)


def english(client) -> None:
    """Messages are checked in English: the Chinese catalogue may word them differently."""
    client.post("/lang/en")


def _uploads(app) -> set[str]:
    return {p.name for p in Path(app.config["UPLOAD_FOLDER"]).glob("*.jpg")}


def _flashes(html: str) -> list[str]:
    return re.findall(r'class="flash flash-\w+"[^>]*>([^<]*)<', html)


def _campaign(app, campaign_id: int) -> Campaign:
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        db.session.expunge(campaign)
        return campaign


# --- who may open what ------------------------------------------------------------------------------------------

ACCESS = {
    "{url}": {"staff_a": 200, "head_a": 200, "volunteer_a": 200, "staff_b": 404, "resident_b": 404},
    "{url}/review": {"staff_a": 200, "head_a": 403, "volunteer_a": 403, "staff_b": 404, "resident_b": 404},
    "{url}/nominate": {"staff_a": 200, "head_a": 200, "volunteer_a": 200, "staff_b": 404, "resident_b": 404},
    "/nominations/{first}": {"staff_a": 200, "head_a": 200, "volunteer_a": 200, "staff_b": 404, "resident_b": 404},
    "/areas/{community}/campaigns/new": {"staff_a": 200, "head_a": 404, "volunteer_a": 404, "staff_b": 404,
                                         "resident_b": 404},
    "/campaigns": {"staff_a": 200, "head_a": 200, "volunteer_a": 200, "staff_b": 200, "resident_b": 200},
}


@pytest.mark.parametrize("role", ["staff_a", "head_a", "volunteer_a", "staff_b", "resident_b"])
def test_each_page_answers_each_role_as_its_scope_says(client, tree, voting, role):
    login(client, getattr(tree, role))
    for template, expected in ACCESS.items():
        url = template.format(url=voting.url, first=voting.first, community=tree.a.community.id)
        assert client.get(url).status_code == expected[role], (url, role)


def test_the_list_shows_campaigns_in_scope_only(client, tree, voting):
    login(client, tree.volunteer_a)
    assert "2026年度社区好人" in client.get("/campaigns").text
    client.post("/logout")
    login(client, tree.resident_b)
    assert "2026年度社区好人" not in client.get("/campaigns").text


# --- opening a campaign --------------------------------------------------------------------------------------------

def _days(*offsets: int) -> list[str]:
    """Dates (Beijing) this many days from today, as the form's date inputs send them."""
    today = utcnow().astimezone(SHANGHAI).date()
    return [(today + timedelta(days=n)).isoformat() for n in offsets]


def test_staff_open_a_best_head_campaign_by_the_form_with_whole_beijing_days(app, client, tree):
    login(client, tree.staff_a)
    page = client.get(f"/areas/{tree.a.community.id}/campaigns/new").text
    assert 'name="seats_building"' in page and 'value="8"' in page
    nominate_from, nominate_until, vote_from, vote_until, review_until = _days(1, 7, 8, 14, 17)
    response = client.post(f"/areas/{tree.a.community.id}/campaigns/new", data={
        "kind": "best_head", "title": "2026年度最美三长", "nominate_from": nominate_from,
        "nominate_until": nominate_until, "vote_from": vote_from, "vote_until": vote_until,
        "review_until": review_until, "notice_days": "5", "seats_grid": "1", "seats_building": "2", "seats_unit": "3",
        "votes_per_voter": "3", "points": "200"})
    assert response.status_code == 302
    midnight = lambda day: datetime.fromisoformat(day).replace(tzinfo=SHANGHAI)  # noqa: E731
    with app.app_context():
        campaign = db.session.scalar(select(Campaign))
        assert campaign.seats == {"1": 1, "2": 2, "3": 3} and campaign.points == 200
        assert campaign.nominate_from == midnight(nominate_from)
        assert campaign.nominate_until == midnight(vote_from)  # through the whole last day
        assert campaign.vote_until == midnight(vote_until) + timedelta(days=1)
    assert "2026年度最美三长" in client.get(response.headers["Location"]).text


def test_a_campaign_form_with_phases_out_of_order_is_shown_again_with_the_error(app, client, tree):
    login(client, tree.staff_a)
    nominate_from, nominate_until, vote_from, vote_until, review_until = _days(1, 7, 5, 14, 17)
    response = client.post(f"/areas/{tree.a.community.id}/campaigns/new", data={
        "kind": "good_neighbour", "title": "社区好人", "nominate_from": nominate_from, "nominate_until": nominate_until,
        "vote_from": vote_from, "vote_until": vote_until, "review_until": review_until, "notice_days": "5",
        "seats": "10", "votes_per_voter": "3"})
    assert response.status_code == 200 and "field-error" in response.text
    assert 'value="社区好人"' in response.text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Campaign)) == 0


# --- nominating and consenting ---------------------------------------------------------------------------------

def _jpeg() -> io.BytesIO:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "red").save(buffer, "JPEG")
    buffer.seek(0)
    return buffer


def test_a_resident_nominates_by_phone_with_a_photo_and_the_nominee_consents(app, client, tree, make_user):
    ids = campaign_at(app, tree, make_user, Phase.nomination)
    nominee = make_user("赵德明", household=tree.a.household, roles=[("resident", tree.a.community)])
    login(client, tree.volunteer_a)
    response = client.post(f"{ids.url}/nominate", content_type="multipart/form-data", data={
        "nominee_phone": nominee.phone, "reason": "每天帮邻居取快递", "photos": [(_jpeg(), "help.jpg")]})
    assert response.status_code == 302
    with app.app_context():
        nomination = db.session.scalar(select(Nomination).where(Nomination.nominee_id == nominee.id))
        assert nomination.status == NominationStatus.pending and len(nomination.photos) == 1
        nomination_id, photo = nomination.id, nomination.photos[0]
    assert "赵德明" not in client.get(ids.url).text.split('data-testid="candidates"')[-1]
    client.post("/logout")
    login(client, nominee)
    assert "consent-waiting" in client.get("/campaigns").text
    page = client.get(f"/nominations/{nomination_id}").text
    assert 'data-testid="agree"' in page and photo in page
    shown = client.get(f"/nominations/{nomination_id}/photos/{photo}")
    shown.close()
    assert shown.status_code == 200 and shown.mimetype == "image/jpeg"
    assert client.get(f"/nominations/{nomination_id}/photos/{'0' * 32}.jpg").status_code == 404
    client.post(f"/nominations/{nomination_id}/answer", data={"consent": "1"})
    client.post("/logout")
    login(client, tree.head_a)
    assert "赵德明" in client.get(ids.url).text


@pytest.mark.parametrize(("data", "message"), [
    ({"nominee_phone": "13000000000", "reason": "好"}, "Nobody living in the campaign"),
    ({"nominee_phone": "", "reason": "好"}, "Give the phone number of the person you nominate"),
    ({"reason": "好", "photos": b"not a picture"}, "not a photo"),
])
def test_a_nomination_the_page_cannot_take_is_refused_and_nothing_is_kept(app, client, tree, make_user, data,
                                                                          message):
    ids = campaign_at(app, tree, make_user, Phase.nomination)
    nominee = make_user("赵德明", household=tree.a.household, roles=[("resident", tree.a.community)])
    data = {"nominee_phone": nominee.phone, **data}
    if "photos" in data:  # a fresh file for each run: the client closes what it sends
        data["photos"] = [(io.BytesIO(data["photos"]), "x.jpg")]
    login(client, tree.volunteer_a)
    english(client)
    before = _uploads(app)
    response = client.post(f"{ids.url}/nominate", content_type="multipart/form-data", data=data)
    assert response.status_code == 200 and message in response.text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Nomination)) == 2  # the fixture's two
    assert _uploads(app) == before


def test_a_refused_nomination_takes_its_saved_photos_away(app, client, tree, make_user):
    ids = campaign_at(app, tree, make_user, Phase.nomination)
    login(client, tree.volunteer_a)
    english(client)
    before = _uploads(app)
    response = client.post(f"{ids.url}/nominate", content_type="multipart/form-data", data={
        "nominee_phone": ids.people[0].phone, "reason": "再提一次", "photos": [(_jpeg(), "a.jpg"), (_jpeg(), "b.jpg")]})
    assert "already been nominated" in response.text
    assert _uploads(app) == before


def test_a_best_head_is_chosen_from_the_heads_in_scope(app, client, tree, make_user):
    from domain import org

    with app.app_context():
        staff = db.session.get(User, tree.staff_a.id)
        head = make_user("楼栋长甲", household=tree.a.household, roles=[("resident", tree.a.community)])
        org.appoint_head(staff, db.session.get(Area, tree.a.building.id), db.session.get(User, head.id))
        db.session.commit()
    ids = campaign_at(app, tree, make_user, Phase.nomination, nominees=(), kind="best_head", title="最美三长")
    login(client, tree.volunteer_a)
    page = client.get(f"{ids.url}/nominate").text
    assert "楼栋长甲 · 楼栋长 · 第一网格 1号楼" in page
    response = client.post(f"{ids.url}/nominate", data={"nominee": str(head.id), "reason": "尽职尽责"})
    assert response.status_code == 302
    with app.app_context():
        nomination = db.session.scalar(select(Nomination).where(Nomination.nominee_id == head.id))
        assert nomination.tier == 2


def test_a_good_neighbour_is_named_by_phone(app, client, tree, make_user):
    ids = campaign_at(app, tree, make_user, Phase.nomination)
    login(client, tree.volunteer_a)
    page = client.get(f"{ids.url}/nominate").text
    assert 'name="nominee_phone"' in page and 'name="nominee"' not in page


# --- voting ------------------------------------------------------------------------------------------------------

def test_a_resident_votes_on_the_page_once_per_nominee(app, client, tree, voting):
    login(client, tree.volunteer_a)
    english(client)
    page = client.get(voting.url).text
    assert "You have 3 of 3 votes left" in page and page.count('data-testid="vote"') == 2
    client.post(f"/nominations/{voting.first}/vote")
    page = client.get(voting.url).text
    assert page.count('data-testid="vote"') == 1 and 'data-testid="voted"' in page
    assert "You have 2 of 3 votes left" in page
    again = client.post(f"/nominations/{voting.first}/vote", follow_redirects=True)
    assert any("already voted" in f for f in _flashes(again.text))
    with app.app_context():
        assert db.session.get(Nomination, voting.first).votes == 1


def test_a_nominee_sees_no_vote_button_for_themself_and_cannot_post_one(app, client, tree, voting):
    nominee = voting.people[0]
    login(client, nominee)
    english(client)
    page = client.get(voting.url).text
    assert page.count('data-testid="vote"') == 1
    refused = client.post(f"/nominations/{voting.first}/vote", follow_redirects=True)
    assert any("cannot vote for yourself" in f for f in _flashes(refused.text))
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Vote)) == 0


def test_residents_do_not_see_the_count_while_voting_but_staff_do(client, tree, voting):
    login(client, tree.volunteer_a)
    client.post(f"/nominations/{voting.first}/vote")
    assert 'data-testid="votes"' not in client.get(voting.url).text
    client.post("/logout")
    login(client, tree.staff_a)
    assert 'data-testid="votes"' in client.get(voting.url).text


def test_staff_moving_on_too_early_are_told_why(app, client, tree, voting):
    login(client, tree.staff_a)
    english(client)
    page = client.get(voting.url).text
    assert 'data-testid="blockers"' in page and "The review can start once voting closes at" in page
    answer = client.post(f"{voting.url}/advance", follow_redirects=True)
    assert any("The review can start once voting closes at" in f for f in _flashes(answer.text))
    assert _campaign(app, voting.id).phase == Phase.voting


# --- the review ------------------------------------------------------------------------------------------------

def test_the_review_shows_the_figures_and_takes_decisions_with_a_note(app, client, tree, make_user):
    ids = campaign_at(app, tree, make_user, Phase.review)
    login(client, tree.staff_a)
    page = client.get(f"{ids.url}/review").text
    assert page.count('data-testid="review-item"') == 2 and 'data-testid="hours"' in page
    assert 'data-testid="tasks"' in page and 'data-testid="shortlist"' in page
    client.post(f"/nominations/{ids.first}/decide", data={"shortlist": "1", "note": ""})
    with app.app_context():
        assert db.session.get(Nomination, ids.first).status == NominationStatus.confirmed
    client.post(f"/nominations/{ids.first}/decide", data={"shortlist": "1", "note": "票数最多，服务时长长"})
    client.post(f"/nominations/{ids.second}/decide", data={"shortlist": "0", "note": "票数较少"})
    with app.app_context():
        assert db.session.get(Nomination, ids.first).status == NominationStatus.shortlisted
        assert db.session.get(Nomination, ids.second).decision_note == "票数较少"
    client.post(f"{ids.url}/advance")
    assert _campaign(app, ids.id).phase == Phase.notice


def test_staff_discount_flagged_votes_on_the_review_page(app, client, tree, make_user):
    ids = campaign_at(app, tree, make_user, Phase.voting)
    now = utcnow()
    with app.app_context():
        nomination = db.session.get(Nomination, ids.second)
        for n in range(5):
            voter = make_user(f"新号{n}", household=tree.a.household, roles=[("resident", tree.a.community)])
            honours.cast_vote(voter, nomination, now=now + timedelta(minutes=n))
        db.session.commit()
        flag_id = db.session.scalar(select(VoteFlag.id))
    login(client, tree.staff_a)
    page = client.get(f"{ids.url}/review").text
    assert 'data-testid="flags"' in page and page.count("新号") == 5
    client.post(f"/flags/{flag_id}/decide", data={"discount": "1", "note": "电话核实：同一人代注册"})
    with app.app_context():
        assert db.session.get(VoteFlag, flag_id).status.value == "discounted"
        assert db.session.scalar(select(func.count()).select_from(Vote).where(Vote.discounted.is_(True))) == 5


# --- the public notice, objections and the announcement -------------------------------------------------------

def test_the_public_notice_is_open_to_all_with_masked_names(app, client, tree, make_user):
    ids = campaign_at(app, tree, make_user, Phase.notice)
    page = client.get(f"{ids.url}/notice")
    assert page.status_code == 200 and "王**" in page.text and "王秀英" not in page.text
    assert "李建国" not in page.text and "李**" not in page.text  # not shortlisted
    assert 'data-testid="sign-in-to-object"' in page.text and 'data-testid="window"' in page.text
    anonymous = client.post(f"/campaigns/{ids.id}/objections", data={"nomination_id": ids.first, "reason": "x",
                                                                     "real_name": "某人"})
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


def test_the_notice_of_a_campaign_still_voting_is_not_public(client, voting):
    assert client.get(f"{voting.url}/notice").status_code == 404


def test_a_resident_objects_under_their_real_name_and_staff_handle_it(app, client, tree, make_user):
    ids = campaign_at(app, tree, make_user, Phase.notice)
    login(client, tree.volunteer_a)
    english(client)
    page = client.get(f"{ids.url}/notice").text
    assert 'data-testid="objection-form"' in page
    refused = client.post(f"/campaigns/{ids.id}/objections", data={
        "nomination_id": ids.first, "reason": "有违规", "real_name": "匿名"}, follow_redirects=True)
    assert any("real name" in f for f in _flashes(refused.text))
    client.post(f"/campaigns/{ids.id}/objections", data={
        "nomination_id": ids.first, "reason": "曾占用公共楼道堆放杂物", "real_name": tree.volunteer_a.name})
    with app.app_context():
        objection = db.session.scalar(select(Objection))
        assert objection.real_name == "志愿者乙" and objection.status.value == "open"
    client.post("/logout")
    login(client, tree.resident_b)
    assert 'data-testid="objection-form"' not in client.get(f"{ids.url}/notice").text
    client.post("/logout")
    login(client, tree.staff_a)
    review = client.get(f"{ids.url}/review").text
    assert "曾占用公共楼道堆放杂物" in review and 'data-testid="dismiss"' in review
    client.post(f"/objections/{objection.id}/handle", data={"upheld": "0", "note": "经核实已整改，不影响评选"})
    with app.app_context():
        assert db.session.get(Objection, objection.id).handling_note == "经核实已整改，不影响评选"


def test_after_the_announcement_the_honour_shows_everywhere(app, client, tree, make_user):
    ids = campaign_at(app, tree, make_user, Phase.announced)
    winner = ids.people[0]
    roll = client.get(f"/areas/{tree.a.community.id}/honours")
    assert roll.status_code == 200 and "王**" in roll.text and "2026年度社区好人" in roll.text
    assert client.get(f"/areas/{tree.a.unit.id}/honours").status_code == 404
    check = client.get(f"/honours/{ids.number}")
    assert check.status_code == 200 and "王**" in check.text and 'data-testid="pdf"' not in check.text
    assert client.get("/honours/RY2026-0000000000").status_code == 404
    assert client.get(f"{ids.url}/notice").status_code == 200
    login(client, winner)
    pdf = client.get(f"/honours/{ids.number}/pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    certificate = client.get(f"/honours/{ids.number}/certificate").text
    assert "<svg" in certificate and "王秀英" in certificate
    assert ids.number in client.get(f"/people/{winner.id}").text
    client.post("/logout")
    login(client, tree.volunteer_a)
    assert client.get(f"/honours/{ids.number}/pdf").status_code == 404
    page = client.get(ids.url).text
    assert 'data-testid="winners"' in page and 'data-testid="roll-link"' in page
    client.post("/logout")
    login(client, tree.staff_a)
    assert client.get(f"/honours/{ids.number}/pdf").status_code == 200
    assert "王秀英" in client.get(f"/people/{winner.id}").text and 'data-testid="person-honours"' in \
        client.get(f"/people/{winner.id}").text


def test_the_honour_roll_names_only_those_who_agreed_to_public_lists(app, client, tree, make_user):
    ids = campaign_at(app, tree, make_user, Phase.announced)
    with app.app_context():
        db.session.get(User, ids.people[0].id).public_consent = False
        db.session.commit()
    english(client)
    roll = client.get(f"/areas/{tree.a.community.id}/honours").text
    assert "Name not shown" in roll and "王**" not in roll and "2026年度社区好人" in roll


def _midnight_after_a_week() -> datetime:
    """The Beijing midnight that ends the day a week from now (a deadline entered as that day)."""
    last_day = (utcnow() + timedelta(days=7)).astimezone(SHANGHAI).date()
    return datetime.combine(last_day + timedelta(days=1), datetime.min.time(), tzinfo=SHANGHAI)


ASKS = {"good_neighbour": "欢迎推荐身边的好邻居", "best_head": "欢迎推荐尽心服务邻里的三长"}


@pytest.mark.parametrize("kind, asks", ASKS.items())
def test_a_deadline_at_midnight_reads_as_its_last_day_at_24_00(app, client, tree, make_user, kind, asks):
    until = _midnight_after_a_week()
    ids = campaign_at(app, tree, make_user, Phase.nomination, nominees=(), kind=kind, title="评选",
                      nominate_until=until, vote_from=until)
    login(client, tree.volunteer_a)
    last_day = f"{until.date() - timedelta(days=1):%m-%d} 24:00"
    for page in (client.get(ids.url).text, client.get("/campaigns").text):
        assert last_day in page
        assert f"{until:%m-%d} 00:00" not in page
    show = client.get(ids.url).text
    assert asks in show
    assert all(other not in show for other in ASKS.values() if other != asks)
