"""A person's own data (PIPL): everything held about them as JSON and .xlsx, only theirs, sections pluggable."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook

from domain import export, leaderboards, org
from domain.export import ExportSection
from models import db
from tests.conftest import login, token_for
from tests.test_dashboards import event
from tests.test_leaderboards import NOW, build_town, earn, serve

BUILT_IN = ["profile", "roles", "head_posts", "teams", "service_records", "hours_by_month", "certificates",
            "points_accounts", "points_entries", "points_by_month", "events", "rankings", "audit", "api_tokens"]


@pytest.fixture
def town(dbs, tree, make_area, make_user):
    t = build_town(tree, make_area, make_user)
    serve(t.staff, t.near, t.a, datetime(2026, 11, 8, 2, 0, tzinfo=UTC), 90)
    serve(t.staff, t.far, t.a, datetime(2026, 11, 9, 2, 0, tzinfo=UTC), 60)
    earn(t.near, t.a, 7)
    event(t.a, t.a, datetime(2026, 11, 10, 2, 0, tzinfo=UTC), t.staff, [t.near])
    org.appoint_head(t.staff, db.session.merge(tree.a.building), t.near, reason="居民推选", now=NOW)
    leaderboards.snapshot(now=datetime(2026, 12, 2, tzinfo=UTC))
    return t


def workbook(file):
    with file:
        return load_workbook(file)


def rows_of(data: dict, key: str) -> list[dict]:
    return data["sections"][key]["rows"]


def test_everything_held_about_me_is_in_the_json(town):
    data = export.personal_data(town.near, NOW)
    assert list(data["sections"])[:len(BUILT_IN)] == BUILT_IN and data["person_id"] == town.near.id
    profile = rows_of(data, "profile")[0]
    assert (profile["name"], profile["phone"], profile["public_consent"]) == ("钱近邻", town.near.phone, True)
    assert profile["household"].endswith("1单元 101") and profile["volunteer_number"] == f"ZY{town.near.id:08d}"
    assert len(rows_of(data, "roles")) == 2  # volunteer of the community, head of the building
    assert rows_of(data, "head_posts")[0]["reason"] == "居民推选"
    records = rows_of(data, "service_records")
    assert [(r["minutes"], r["credited_minutes"], r["points"]) for r in records] == [(90, 90, 15)]
    assert records[0]["started_at"] == "2026-11-08T02:00:00+00:00"
    assert rows_of(data, "hours_by_month") == [{"month": "2026-11", "community": "银融社区", "minutes": 90,
                                                "hours": "1.5"}]
    assert [e["amount"] for e in rows_of(data, "points_entries")] == [15, 7]
    assert rows_of(data, "points_accounts")[0]["balance"] == 22
    assert rows_of(data, "points_by_month")[0]["earned"] == 22
    assert rows_of(data, "events")[0]["checked_in_at"].startswith("2026-11-10")
    ranks = rows_of(data, "rankings")
    assert [(r["month"], r["rank"]) for r in ranks] == [("2026-11", 1), ("2026-11", 1)]
    audit = rows_of(data, "audit")
    assert {a["action"] for a in audit} >= {"service.approve", "head.appoint"}
    assert all(a["by_me"] is False for a in audit)
    json.dumps(data, ensure_ascii=False)  # plain JSON, nothing left to convert


def test_nobody_elses_data_is_in_my_export(town):
    text = json.dumps(export.personal_data(town.near, NOW), ensure_ascii=False)
    for other in ("孙远方", town.far.phone, "银融干部", town.staff.phone, "南湖"):
        assert other not in text
    mine = json.dumps(export.personal_data(town.far, NOW), ensure_ascii=False)
    assert "钱近邻" not in mine and "居民推选" not in mine


def test_the_spreadsheet_has_a_sheet_per_section_with_headers_and_the_date(town):
    book = workbook(export.personal_xlsx(town.near, NOW))
    titles = [str(s.title) for s in export.sections()]
    assert [ws.title for ws in book.worksheets] == [t[:31] for t in titles]
    records = list(book.worksheets[BUILT_IN.index("service_records")].iter_rows(values_only=True))
    assert records[0][0] == titles[BUILT_IN.index("service_records")] and records[0][1]
    assert len(records[1]) == len(export.sections()[BUILT_IN.index("service_records")].columns)
    assert records[2][0] == rows_of(export.personal_data(town.near, NOW), "service_records")[0]["id"]
    profile = list(book.worksheets[0].iter_rows(values_only=True))
    assert profile[2][:2] == ("钱近邻", town.near.phone)


def test_the_downloads_are_for_the_signed_in_person_only(town, client):
    db.session.commit()
    assert client.get("/me/data.json").status_code == 302  # to the sign-in page
    login(client, town.tree.volunteer_a)
    page = client.get("/me/data")
    assert page.status_code == 200 and "/me/data.xlsx" in page.text and "/me/data.json" in page.text
    answer = client.get("/me/data.json")
    assert answer.headers["Content-Disposition"].startswith("attachment")
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.json["person_id"] == town.tree.volunteer_a.id
    book = client.get("/me/data.xlsx")
    assert book.headers["Cache-Control"] == "no-store"
    sheets = load_workbook(io.BytesIO(book.data)).worksheets
    book.close()
    assert len(sheets) == len(export.sections())


def test_the_api_gives_my_data_to_my_token(town, client):
    db.session.commit()
    assert client.get("/api/v1/me/data").status_code == 401
    answer = client.get("/api/v1/me/data", headers=token_for(client, town.tree.volunteer_a))
    assert answer.status_code == 200 and answer.json["person_id"] == town.tree.volunteer_a.id
    tokens = answer.json["sections"]["api_tokens"]["rows"]
    assert len(tokens) == 1 and set(tokens[0]) == {"created_at", "expires_at", "revoked_at"}


def test_a_capability_plugs_its_section_in(town, monkeypatch):
    monkeypatch.setitem(export._SECTIONS, "redemptions", ExportSection(
        "redemptions", "兑换记录", [("reward", "商品"), ("points", "积分"), ("at", "时间")],
        lambda person: [{"reward": "大米 5kg", "points": 100, "at": NOW - timedelta(days=1)}], order=140))
    data = export.personal_data(town.near, NOW)
    keys = list(data["sections"])
    assert keys[keys.index("api_tokens"):] == ["api_tokens", "needs", "task_claims", "redemptions", "nominations",
                                               "votes", "objections", "honours"]
    assert rows_of(data, "redemptions") == [{"reward": "大米 5kg", "points": 100, "at": "2026-11-19T12:00:00+00:00"}]
    sheet = workbook(export.personal_xlsx(town.near, NOW)).worksheets[keys.index("redemptions")]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1:] == [("商品", "积分", "时间"), ("大米 5kg", 100, "2026-11-19 20:00")]
