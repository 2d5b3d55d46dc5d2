"""The market's pages: who may open what, the shop and its states, redeeming by the form (a double tap redeems
once), the pickup ticket and its QR code, cancelling, the catalogue with photos and stock, the counter (typed code,
pickup.json with CSRF), the page a pickup QR code leads to, the public list, the liability report, the registers."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from openpyxl import load_workbook
from PIL import Image
from sqlalchemy import func, select

from domain import ledger, market
from models import Area, AuditEvent, Redemption, RedemptionStatus, Reward, TxnKind, User, db, utcnow
from tests.conftest import PASSWORD, login


@pytest.fixture
def shop(app, tree) -> SimpleNamespace:
    """Community A's market: rice (stock 3, one a month each), a haircut (unlimited) and a withdrawn mooncake; the
    volunteer has 100 points and a reserved rice; the head has 10 points."""
    with app.app_context():
        staff, volunteer = db.session.get(User, tree.staff_a.id), db.session.get(User, tree.volunteer_a.id)
        community = db.session.get(Area, tree.a.community.id)
        ledger.credit(volunteer, community, 160, kind=TxnKind.service, key="service:v")
        ledger.credit(db.session.get(User, tree.head_a.id), community, 10, kind=TxnKind.service, key="service:h")
        rice = market.create_reward(staff, community, market.RewardForm(
            name="东北大米 5kg", price=60, stock=3, per_person_limit=1, limit_period="month", sponsor="好邻居粮油店"))
        haircut = market.create_reward(staff, community, market.RewardForm(
            name="义务理发", category="service", price=20, sponsor="阿芳美发店"))
        cake = market.create_reward(staff, community, market.RewardForm(name="月饼礼盒", price=80, stock=5))
        market.set_active(staff, cake, False)
        held = market.redeem(volunteer, rice).redemption
        db.session.commit()
        return SimpleNamespace(community=community.id, rice=rice.id, haircut=haircut.id, cake=cake.id,
                               redemption=held.id, code=held.pickup_code)


def _redemption(app, redemption_id: int) -> Redemption:
    with app.app_context():
        row = db.session.get(Redemption, redemption_id)
        db.session.expunge(row)
        return row


def _balance(app, user, community_id: int) -> int:
    with app.app_context():
        return market.balance(db.session.get(User, user.id), db.session.get(Area, community_id))


def _count(app, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Redemption.id)).where(*where))


# --- who may open what ------------------------------------------------------------------------------------------

ROLES = ["staff_a", "street_staff", "head_a", "volunteer_a", "staff_b", "resident_b"]
SHOP = {"staff_a": 200, "street_staff": 200, "head_a": 200, "volunteer_a": 200, "staff_b": 404, "resident_b": 404}
STAFF = {"staff_a": 200, "street_staff": 200, "head_a": 404, "volunteer_a": 404, "staff_b": 404, "resident_b": 404}
OWNER = {"staff_a": 200, "street_staff": 200, "head_a": 404, "volunteer_a": 200, "staff_b": 404, "resident_b": 404}
ACCESS = {
    "/market/{community}": SHOP,
    "/market/rewards/{rice}": SHOP,
    "/market/{community}/notice": SHOP,
    "/market/redemptions/{redemption}": OWNER,
    "/market/redemptions/{redemption}/status.json": OWNER,
    "/market/redemptions/{redemption}/qr.svg": OWNER,
    "/market/{community}/manage": STAFF,
    "/market/{community}/rewards/new": STAFF,
    "/market/rewards/{rice}/edit": STAFF,
    "/market/{community}/redemptions": STAFF,
    "/market/{community}/redemptions.xlsx": STAFF,
    "/market/{community}/stock.xlsx": STAFF,
    "/market/{community}/scan": STAFF,
    "/market/{community}/pickup.json": STAFF,
    "/market/{community}/report": STAFF,
    "/market/pickup/{code}": {**STAFF, "volunteer_a": 302},
    "/market/mine": dict.fromkeys(ROLES, 200),
}


@pytest.mark.parametrize("role", ROLES)
def test_each_market_page_answers_each_role_as_its_scope_says(client, tree, shop, role):
    login(client, getattr(tree, role))
    for pattern, expected in ACCESS.items():
        url = pattern.format(**vars(shop))
        response = client.get(url)
        response.close()  # registers are sent from a temporary file
        assert response.status_code == expected[role], (url, role, response.status_code)


def test_signed_out_people_are_sent_to_sign_in(client, shop):
    for pattern in ACCESS:
        response = client.get(pattern.format(**vars(shop)))
        assert response.status_code == 302 and "/login" in response.headers["Location"], pattern


def test_market_leads_to_ones_own_community(client, tree, shop):
    login(client, tree.volunteer_a)
    assert client.get("/market").headers["Location"].endswith(f"/market/{shop.community}")
    login(client, tree.street_staff)  # staff above communities choose a community's market from their home page
    chooser = client.get("/market")
    assert chooser.status_code == 200 and 'class="node"' not in chooser.text


# --- the shop --------------------------------------------------------------------------------------------------------

def test_the_shop_says_what_each_person_can_do(client, tree, shop):
    login(client, tree.volunteer_a)
    page = client.get(f"/market/{shop.community}").text
    states = dict(re.findall(r'data-state="(\w+)" data-reward="(\d+)"', page))
    states = {int(reward): state for state, reward in states.items()}
    assert states == {shop.rice: "limit_reached", shop.haircut: "available"}  # the withdrawn cake is not shown
    assert 'data-testid="balance"><span class="stat-value">100<' in page
    login(client, tree.head_a)
    page = client.get(f"/market/{shop.community}").text
    assert {int(r): s for s, r in re.findall(r'data-state="(\w+)" data-reward="(\d+)"', page)} == {
        shop.rice: "cannot_afford", shop.haircut: "cannot_afford"}
    assert client.get(f"/market/{shop.community}?category=service").text.count("data-reward=") == 1


def test_redeeming_by_the_form_and_a_double_tap_redeems_once(app, client, tree, shop):
    login(client, tree.volunteer_a)
    page = client.get(f"/market/rewards/{shop.haircut}/confirm?quantity=2").text
    key = re.search(r'name="key" type="hidden" value="([^"]+)"', page).group(1)
    first = client.post(f"/market/rewards/{shop.haircut}/redeem", data={"quantity": 2, "key": key})
    again = client.post(f"/market/rewards/{shop.haircut}/redeem", data={"quantity": 2, "key": key})
    assert first.status_code == again.status_code == 302
    assert first.headers["Location"] == again.headers["Location"]
    assert _count(app, Redemption.reward_id == shop.haircut) == 1
    ticket = client.get(first.headers["Location"]).text
    assert 'data-status="reserved"' in ticket and 'data-testid="pickup-qr"' in ticket
    code = re.search(r'data-code="([A-Z0-9]{8})"', ticket).group(1)
    assert f"{code[:4]} {code[4:]}" in ticket
    assert _balance(app, tree.volunteer_a, shop.community) == 60


def test_a_refused_redemption_writes_nothing_and_says_why(app, client, tree, shop):
    login(client, tree.head_a)
    response = client.post(f"/market/rewards/{shop.haircut}/redeem", data={"quantity": 1, "key": "k"},
                           follow_redirects=True)
    assert response.request.path == f"/market/rewards/{shop.haircut}"
    assert 'class="flash flash-error"' in response.text
    assert _count(app, Redemption.reward_id == shop.haircut) == 0
    login(client, tree.resident_b)
    assert client.post(f"/market/rewards/{shop.haircut}/redeem", data={"quantity": 1}).status_code == 404


def test_the_ticket_qr_code_holds_the_pickup_url_while_it_waits(app, client, tree, shop):
    login(client, tree.volunteer_a)
    image = client.get(f"/market/redemptions/{shop.redemption}/qr.svg")
    assert image.status_code == 200 and image.mimetype == "image/svg+xml" and b"<svg" in image.data
    status = client.get(f"/market/redemptions/{shop.redemption}/status.json")
    assert status.json["status"] == "reserved" and status.headers["Cache-Control"] == "no-store"
    with app.app_context():
        row = db.session.get(Redemption, shop.redemption)
        market.fulfil(db.session.get(User, tree.staff_a.id), row, shop.code)
        db.session.commit()
    assert client.get(f"/market/redemptions/{shop.redemption}/status.json").json["status"] == "fulfilled"
    assert client.get(f"/market/redemptions/{shop.redemption}/qr.svg").status_code == 404
    assert 'data-status="fulfilled"' in client.get(f"/market/redemptions/{shop.redemption}").text


def test_the_person_cancels_from_the_ticket(app, client, tree, shop):
    login(client, tree.volunteer_a)
    response = client.post(f"/market/redemptions/{shop.redemption}/cancel", data={}, follow_redirects=True)
    assert 'data-status="cancelled"' in response.text and "flash-success" in response.text
    assert _redemption(app, shop.redemption).status == RedemptionStatus.cancelled
    assert _balance(app, tree.volunteer_a, shop.community) == 160
    again = client.post(f"/market/redemptions/{shop.redemption}/cancel", data={}, follow_redirects=True)
    assert "flash-error" in again.text


def test_staff_cancel_from_the_list_only_with_a_reason(app, client, tree, shop):
    login(client, tree.staff_a)
    back = f"/market/{shop.community}/redemptions?status=reserved"
    assert f'/market/redemptions/{shop.redemption}/cancel' in client.get(back).text
    refused = client.post(f"/market/redemptions/{shop.redemption}/cancel", data={"reason": " ", "next": back},
                          follow_redirects=True)
    assert "flash-error" in refused.text and _redemption(app, shop.redemption).status == RedemptionStatus.reserved
    done = client.post(f"/market/redemptions/{shop.redemption}/cancel", data={"reason": "大米受潮", "next": back})
    assert done.headers["Location"].endswith(back)
    assert _redemption(app, shop.redemption).cancel_reason == "大米受潮"
    evil = client.post(f"/market/redemptions/{shop.redemption}/cancel", data={"next": "https://evil.example/"})
    assert evil.headers["Location"].endswith(f"/market/redemptions/{shop.redemption}")


def test_my_redemptions(client, tree, shop):
    login(client, tree.volunteer_a)
    page = client.get("/market/mine").text
    assert page.count('class="record redemption-item"') == 1 and "东北大米 5kg" in page


# --- the catalogue ---------------------------------------------------------------------------------------------------

def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 60, 50)).save(out, "PNG")
    return out.getvalue()


def test_staff_add_a_reward_with_a_photo_and_change_it(app, client, tree, shop, tmp_path):
    app.config["UPLOAD_FOLDER"] = str(tmp_path)
    login(client, tree.staff_a)
    response = client.post(f"/market/{shop.community}/rewards/new", data={
        "name": "立白洗衣液 2kg", "category": "goods", "price": 30, "stock": 40, "per_person_limit": 2,
        "limit_period": "month", "sponsor": "惠民生活超市", "description": "限本社区居民",
        "photo": (io.BytesIO(_png()), "soap.png")}, content_type="multipart/form-data")
    assert response.status_code == 302, response.text
    reward_id = int(response.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        reward = db.session.get(Reward, reward_id)
        assert (reward.stock, reward.per_person_limit, reward.limit_period.value, reward.sponsor) == (
            40, 2, "month", "惠民生活超市")
        photo = reward.photo
    served = client.get(f"/market/rewards/{reward_id}/photo")
    served.close()
    assert served.status_code == 200 and served.headers["X-Content-Type-Options"] == "nosniff"
    assert (tmp_path / photo).exists()
    edited = client.post(f"/market/rewards/{reward_id}/edit", data={
        "name": "立白洗衣液 3kg", "category": "goods", "price": 45, "limit_period": "month", "remove_photo": "y"})
    assert edited.status_code == 302
    with app.app_context():
        reward = db.session.get(Reward, reward_id)
        assert (reward.name, reward.price, reward.stock, reward.per_person_limit, reward.photo) == (
            "立白洗衣液 3kg", 45, 40, None, None)
    assert not (tmp_path / photo).exists()
    assert client.get(f"/market/rewards/{reward_id}/photo").status_code == 404


def test_a_bad_photo_or_field_keeps_what_was_typed(app, client, tree, shop, tmp_path):
    app.config["UPLOAD_FOLDER"] = str(tmp_path)
    login(client, tree.staff_a)
    response = client.post(f"/market/{shop.community}/rewards/new", data={
        "name": "毛巾", "category": "goods", "price": 20, "photo": (io.BytesIO(b"not an image"), "x.jpg")},
        content_type="multipart/form-data")
    assert response.status_code == 200 and "flash-error" in response.text and 'value="毛巾"' in response.text
    unknown = client.post(f"/market/{shop.community}/rewards/new", data={
        "name": "毛巾", "category": "nonsense", "price": 20})
    assert unknown.status_code == 200
    with app.app_context():
        assert db.session.scalar(select(func.count(Reward.id))) == 3


def test_stock_movements_from_the_reward_page(app, client, tree, shop):
    login(client, tree.staff_a)
    restock = client.post(f"/market/rewards/{shop.rice}/stock", data={"change": 10, "reason": "好邻居捐赠"},
                          follow_redirects=True)
    assert "flash-success" in restock.text and "好邻居捐赠" in restock.text
    too_many = client.post(f"/market/rewards/{shop.rice}/stock", data={"change": -20, "reason": "盘点"},
                           follow_redirects=True)
    assert "flash-error" in too_many.text
    zero = client.post(f"/market/rewards/{shop.rice}/stock", data={"change": 0, "reason": "x"}, follow_redirects=True)
    assert "flash-error" in zero.text
    with app.app_context():
        assert db.session.get(Reward, shop.rice).stock == 12
        assert market.verify() == []


def test_withdraw_and_restore(app, client, tree, shop):
    login(client, tree.staff_a)
    client.post(f"/market/rewards/{shop.haircut}/withdraw")
    with app.app_context():
        assert not db.session.get(Reward, shop.haircut).active
    client.post(f"/market/rewards/{shop.haircut}/restore")
    with app.app_context():
        assert db.session.get(Reward, shop.haircut).active
        assert {a for (a,) in db.session.execute(select(AuditEvent.action))} >= {"reward.withdraw", "reward.restore"}


# --- the counter -----------------------------------------------------------------------------------------------------

def test_a_typed_code_hands_over_once(app, client, tree, shop):
    login(client, tree.staff_a)
    wrong = client.post(f"/market/{shop.community}/pickup", data={"pickup_code": "2222 2222"}, follow_redirects=True)
    assert "flash-error" in wrong.text and wrong.request.path == f"/market/{shop.community}/scan"
    typed = f"{shop.code[:4].lower()} {shop.code[4:]}"
    done = client.post(f"/market/{shop.community}/pickup", data={"pickup_code": typed})
    assert done.headers["Location"].endswith(f"/market/redemptions/{shop.redemption}")
    assert _redemption(app, shop.redemption).status == RedemptionStatus.fulfilled
    again = client.post(f"/market/{shop.community}/pickup", data={"pickup_code": shop.code}, follow_redirects=True)
    assert "flash-error" in again.text


def test_the_pickup_qr_url_shows_staff_whom_to_hand_what(client, tree, shop):
    login(client, tree.staff_a)
    page = client.get(f"/market/pickup/{shop.code.lower()}").text
    assert 'data-testid="hand-over"' in page and "志愿者乙" in page and "东北大米 5kg" in page
    login(client, tree.volunteer_a)
    assert client.get(f"/market/pickup/{shop.code}").headers["Location"].endswith(
        f"/market/redemptions/{shop.redemption}")
    assert client.get("/market/pickup/ZZZZZZZZ").status_code == 404


def _strict_login(client, user) -> None:
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get("/login").text).group(1)
    assert client.post("/login", data={"phone": user.phone, "password": PASSWORD, "csrf_token": token}
                       ).status_code == 302


def test_pickup_json_needs_the_csrf_header_and_hands_over_once(app, strict_client, tree, shop):
    client = strict_client
    _strict_login(client, tree.staff_a)
    url = f"/market/{shop.community}/pickup.json"
    csrf = re.search(r'data-csrf="([^"]+)"', client.get(f"/market/{shop.community}/scan").text).group(1)
    refused = client.post(url, json={"pickup_code": shop.code})
    assert refused.status_code == 400 and refused.json["error"]["code"] == "csrf_invalid"
    headers = {"X-CSRFToken": csrf}
    done = client.post(url, json={"pickup_code": f"http://x/market/pickup/{shop.code}"}, headers=headers)
    assert done.status_code == 200, done.text
    assert (done.json["status"], done.json["name"], done.json["reward"], done.json["quantity"]) == (
        "fulfilled", "志愿者乙", "东北大米 5kg", 1)
    again = client.post(url, json={"pickup_code": shop.code}, headers=headers)
    assert again.status_code == 409 and again.json["error"]["code"] == "already_fulfilled"
    unknown = client.post(url, json={"pickup_code": "ABCDEFGH"}, headers=headers)
    assert unknown.status_code == 422 and unknown.json["error"]["code"] == "pickup_code_wrong"
    for body in ({}, {"pickup_code": 7}, ["x"]):
        bad = client.post(url, json=body, headers=headers)
        assert bad.status_code == 400 and bad.json["error"]["code"] == "validation_error"
    fresh = client.get(url)
    assert fresh.status_code == 200 and fresh.json["csrf_token"]


# --- the public list, the liability report, the registers -------------------------------------------------------------

def test_the_public_list_of_the_month(app, client, tree, shop):
    with app.app_context():
        user = db.session.get(User, tree.volunteer_a.id)
        user.public_consent = True
        db.session.commit()
    login(client, tree.head_a)
    page = client.get(f"/market/{shop.community}/notice").text
    assert "志***" in page and "志愿者乙" not in page and "东北大米 5kg" in page
    month = utcnow() - timedelta(days=40)
    earlier = client.get(f"/market/{shop.community}/notice?month={month:%Y-%m}").text
    assert "志***" not in earlier
    assert client.get(f"/market/{shop.community}/notice?month=2026-13").status_code == 200


def test_the_liability_report(client, tree, shop):
    login(client, tree.staff_a)
    page = client.get(f"/market/{shop.community}/report").text
    # 100 + 10 points held; at the default 50 fen a point: 55.00 yuan; 60 points waiting for pickup.
    assert re.search(r'stat-value">110<', page) and "55.00" in page and re.search(r'stat-value">60<', page)
    assert client.get(f"/market/{shop.community}/report?year=1999").status_code == 200


def _download(client, url: str) -> list[tuple]:
    response = client.get(url)
    data = response.data
    response.close()
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    return list(load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True))


def test_the_registers_download(client, tree, shop):
    login(client, tree.staff_a)
    rows = _download(client, f"/market/{shop.community}/redemptions.xlsx?status=reserved")
    assert len(rows) == 3 and rows[2][3] == "东北大米 5kg"
    rows = _download(client, f"/market/{shop.community}/stock.xlsx")
    assert [row[1] for row in rows[2:]] == ["东北大米 5kg", "月饼礼盒"]


def test_home_offers_the_market(client, tree, shop):
    login(client, tree.volunteer_a)
    assert 'data-testid="home-market"' in client.get("/").text
    login(client, tree.staff_a)
    assert f'href="/market/{shop.community}/manage"' in client.get("/").text
