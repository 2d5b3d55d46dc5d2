"""Points on pages and in the API: my points, the staff ledger and its export, adjustments, rules."""

import io
from datetime import UTC, datetime, timedelta

from openpyxl import load_workbook
from sqlalchemy import func, select

from domain import ledger
from models import Area, PointsRule, Transaction, TxnKind, User, db
from tests.conftest import login, token_for


def _give(app, tree, amount, key, now=None, who="volunteer_a"):
    with app.app_context():
        ledger.credit(db.session.get(User, getattr(tree, who).id), db.session.get(Area, tree.a.community.id), amount,
                      kind=TxnKind.service, key=key, memo="敬老服务", now=now)
        db.session.commit()


def test_my_points_page_shows_balance_history_and_expiry(app, client, tree):
    _give(app, tree, 30, "s1", now=datetime(2025, 3, 1, tzinfo=UTC))
    _give(app, tree, 12, "s2")
    login(client, tree.volunteer_a)
    page = client.get("/me/points").text
    assert ">42<" in page and "敬老服务" in page and "+30" in page
    assert "30 积分可使用至 2026-12-31" in page and "12 积分可使用至 2027-12-31" in page
    assert ">42<" in client.get("/").text


def test_me_and_my_ledger_in_the_api(app, client, tree):
    _give(app, tree, 30, "s1")
    with app.app_context():
        ledger.debit(db.session.get(User, tree.volunteer_a.id), db.session.get(Area, tree.a.community.id), 8,
                     kind=TxnKind.redemption, key="r1", memo="大米")
        db.session.commit()
    headers = token_for(client, tree.volunteer_a)
    assert client.get("/api/v1/me", headers=headers).json["balance"] == 22
    body = client.get("/api/v1/me/ledger?per_page=1", headers=headers).json
    assert body["total"] == 2 and body["per_page"] == 1
    assert body["items"][0]["amount"] == -8 and body["items"][0]["balance_after"] == 22
    assert body["items"][0]["kind"] == "redemption" and body["items"][0]["memo"] == "大米"
    assert datetime.fromisoformat(body["items"][0]["at"]).tzinfo is not None
    second = client.get("/api/v1/me/ledger?page=2&per_page=1", headers=headers).json["items"][0]
    assert second["amount"] == 30 and second["balance_after"] == 30
    assert client.get("/api/v1/me/ledger", headers=token_for(client, tree.head_a)).json["items"] == []


def test_staff_ledger_filters_and_exports(app, client, tree):
    _give(app, tree, 30, "s1")
    _give(app, tree, 5, "s2", who="head_a")
    login(client, tree.staff_a)
    page = client.get(f"/areas/{tree.a.community.id}/ledger").text
    assert "志愿者乙" in page and "单元长甲" in page and "共 2 条" in page
    only = client.get(f"/areas/{tree.a.community.id}/ledger?q=单元长").text
    assert "单元长甲" in only and "志愿者乙" not in only
    none = client.get(f"/areas/{tree.a.community.id}/ledger?kind=redemption").text
    assert "没有符合条件的记录" in none
    later = client.get(f"/areas/{tree.a.community.id}/ledger?since=2099-01-01").text
    assert "没有符合条件的记录" in later
    export = client.get(f"/areas/{tree.a.community.id}/ledger.xlsx?q=志愿")
    rows = list(load_workbook(io.BytesIO(export.data)).active.iter_rows(values_only=True))
    export.close()
    assert rows[1][:6] == ("时间", "姓名", "手机号", "类型", "积分", "变动后余额")
    assert [r[1] for r in rows[2:]] == ["志愿者乙"] and rows[2][4] == 30 and "****" in rows[2][2]


def test_ledger_pages_are_staff_only_and_scoped(client, tree):
    login(client, tree.staff_b)
    for url in (f"/areas/{tree.a.community.id}/ledger", f"/areas/{tree.a.community.id}/ledger.xlsx",
                f"/areas/{tree.a.community.id}/adjust", f"/areas/{tree.a.community.id}/rules"):
        response = client.get(url)
        response.close()
        assert response.status_code == 404, url
    client.post("/logout")
    login(client, tree.head_a)
    assert client.get(f"/areas/{tree.a.community.id}/ledger").status_code == 404
    client.post("/logout")
    login(client, tree.staff_a)
    assert client.get(f"/areas/{tree.a.grid.id}/ledger").status_code == 404  # a grid has no ledger


def test_adjustment_through_the_page_counts_once(app, client, tree):
    login(client, tree.staff_a)
    found = client.get(f"/areas/{tree.a.community.id}/adjust?q=志愿").text
    assert f"person_id={tree.volunteer_a.id}" in found
    form = {"person_id": tree.volunteer_a.id, "amount": 15, "reason": "补录三月服务", "key": "form-123"}
    assert client.post(f"/areas/{tree.a.community.id}/adjust", data=form).status_code == 302
    assert client.post(f"/areas/{tree.a.community.id}/adjust", data=form).status_code == 302  # double submit
    refused = client.post(f"/areas/{tree.a.community.id}/adjust",
                          data={**form, "amount": -100, "key": "form-456", "reason": "扣减"})
    assert refused.status_code == 200 and "积分不足" in refused.text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Transaction)) == 1
        assert ledger.balance_of(db.session.get(User, tree.volunteer_a.id)) == 15
    no_reason = client.post(f"/areas/{tree.a.community.id}/adjust", data={**form, "reason": "", "key": "k3"})
    assert no_reason.status_code == 200


def test_rules_page_schedules_and_refuses_the_past(app, client, tree):
    login(client, tree.staff_a)
    page = client.get(f"/areas/{tree.a.community.id}/rules").text
    assert "每服务小时积分" in page
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    saved = client.post(f"/areas/{tree.a.community.id}/rules",
                        data={"key": "service.per_hour", "value": 12, "effective_from": tomorrow, "reason": "议定"})
    assert saved.status_code == 302
    past = client.post(f"/areas/{tree.a.community.id}/rules",
                       data={"key": "service.per_hour", "value": 20, "effective_from": "2020-01-01T00:00"})
    assert "不能追溯" in past.text
    with app.app_context():
        rules = db.session.scalars(select(PointsRule)).all()
        assert [(r.key, r.value) for r in rules] == [("service.per_hour", 12)]
