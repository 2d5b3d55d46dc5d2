"""Needs, the points market and honours plugged into the dashboard, the roll-up, the registers (台账) and the
personal export: real figures from rows with known times, medians on both engines, scope, .xlsx downloads with
Chinese headers, and nobody else's data in my export."""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook

from domain import dashboards, export, registers
from domain.errors import NotFound
from models import (
    Campaign,
    CampaignKind,
    Channel,
    Honour,
    Nomination,
    NominationStatus,
    Objection,
    Phase,
    Redemption,
    RedemptionStatus,
    Reward,
    Task,
    TaskClaim,
    TaskStatus,
    Vote,
    db,
)
from tests.conftest import login, token_for
from tests.test_dashboards import chart, everything, rows
from tests.test_leaderboards import NOW, build_town, sibling_sorting_after, xlsx_rows

NOV = datetime(2026, 11, 3, 2, 0, tzinfo=UTC)
#: The kind of the campaigns below, as charts name it.
GOOD = "社区好人"
OCT = datetime(2026, 10, 14, 2, 0, tzinfo=UTC)
_codes = itertools.count(1)


@pytest.fixture
def town(dbs, tree, make_area, make_user):
    return build_town(tree, make_area, make_user)


def figures(result) -> dict:
    return {f.key: f for _section, found, _chart in result.sections for f in found}


def has_chinese(text) -> bool:
    return bool(re.search(r"[\u4e00-\u9fff]", str(text)))


# --- rows with known times -----------------------------------------------------------------------------------------

def need(community, area, poster, posted_at, *, claimed=None, resolved=None, status=TaskStatus.open,
         title="楼道灯坏了") -> Task:
    """A need posted at `posted_at`, first claimed and resolved that many hours later."""
    def hours(h):
        return posted_at + timedelta(hours=h) if h is not None else None

    task = Task(community_id=community.id, area_id=area.id, poster_id=poster.id, resident_id=poster.id,
                channel=Channel.online, category="repairs", title=title, description="三楼楼道灯不亮", status=status,
                tier=3, start_tier=3, posted_at=posted_at, first_claimed_at=hours(claimed),
                claimed_at=hours(claimed), resolved_at=hours(resolved))
    db.session.add(task)
    db.session.flush()
    return task


def reward(community, staff, name: str, price: int, stock: int | None = None) -> Reward:
    row = Reward(community_id=community.id, name=name, category="goods", price=price, initial_stock=stock,
                 stock=stock, created_by_id=staff.id)
    db.session.add(row)
    db.session.flush()
    return row


def redeem(person, row: Reward, quantity: int, at: datetime, status=RedemptionStatus.fulfilled) -> Redemption:
    gone = status in (RedemptionStatus.cancelled, RedemptionStatus.expired)
    redemption = Redemption(reward_id=row.id, community_id=row.community_id, person_id=person.id, quantity=quantity,
                            points=row.price * quantity, status=status, pickup_code=f"T{next(_codes):07d}",
                            reserved_at=at, expires_at=at + timedelta(days=14),
                            cancelled_at=at + timedelta(hours=1) if gone else None,
                            cancelled_by_id=person.id if status == RedemptionStatus.cancelled else None)
    db.session.add(redemption)
    db.session.flush()
    return redemption


def campaign(area, staff, title: str, start: datetime) -> Campaign:
    row = Campaign(area_id=area.id, kind=CampaignKind.good_neighbour, title=title, phase=Phase.announced,
                   nominate_from=start, nominate_until=start + timedelta(days=7), vote_from=start + timedelta(days=7),
                   vote_until=start + timedelta(days=14), review_until=start + timedelta(days=17), seats={"0": 3},
                   votes_per_voter=3, points=0, created_by_id=staff.id, announced_at=start + timedelta(days=25))
    db.session.add(row)
    db.session.flush()
    return row


def nominate(row: Campaign, nominee, nominator, at: datetime, status=NominationStatus.confirmed) -> Nomination:
    nomination = Nomination(campaign_id=row.id, nominee_id=nominee.id, nominator_id=nominator.id, reason="热心助人",
                            photos=[], tier=0, status=status, votes=0, created_at=at)
    db.session.add(nomination)
    db.session.flush()
    return nomination


def vote(nomination: Nomination, voter, at: datetime, discounted: bool = False) -> Vote:
    row = Vote(campaign_id=nomination.campaign_id, nomination_id=nomination.id, voter_id=voter.id, created_at=at,
               discounted=discounted)
    nomination.votes += 1
    db.session.add(row)
    db.session.flush()
    return row


def honour(nomination: Nomination, community, at: datetime) -> Honour:
    row = Honour(campaign_id=nomination.campaign_id, nomination_id=nomination.id, person_id=nomination.nominee_id,
                 community_id=community.id, title="社区好人", tier=0, number=f"HR{next(_codes):08d}", points=0,
                 awarded_at=at)
    db.session.add(row)
    db.session.flush()
    return row


# --- needs ---------------------------------------------------------------------------------------------------------

@pytest.fixture
def needs(town):
    """Needs of community A posted in November: four in the first grid, two in the second, one about the whole
    community; one of A posted a year before; one of B."""
    unit1, unit2 = db.session.merge(town.tree.a.unit), town.unit2
    need(town.a, unit1, town.near, NOV, claimed=1, resolved=2, status=TaskStatus.approved)
    need(town.a, unit1, town.near, NOV, claimed=2, resolved=4, status=TaskStatus.confirmed)
    need(town.a, unit1, town.near, NOV, claimed=10, resolved=30, status=TaskStatus.approved)
    need(town.a, unit1, town.near, NOV, claimed=3, status=TaskStatus.claimed)
    need(town.a, unit2, town.far, NOV + timedelta(days=1), status=TaskStatus.open)
    need(town.a, unit2, town.far, NOV, claimed=0.5, resolved=1.5, status=TaskStatus.approved)
    need(town.a, town.a, town.staff, NOV, status=TaskStatus.reopened)
    need(town.a, unit1, town.near, NOV - timedelta(days=365), claimed=500, resolved=600, status=TaskStatus.approved)
    need(town.b, db.session.merge(town.tree.b.unit), town.resident_b, NOV, claimed=100, resolved=200,
         status=TaskStatus.approved)
    return town


def test_needs_by_status_and_median_hours_to_claim_and_resolve_by_grid(needs):
    result = dashboards.dashboard(needs.staff, needs.a, months=3, now=NOW)
    hours = chart(result, "needs_hours")
    assert hours.x[:2] == ["第一网格", "第二网格"] and len(hours.x) == 3  # and the need about the whole community
    # First grid: to claim 1, 2, 3, 10 h → 2.5; to resolve 2, 4, 30 h → 4. Other years and communities stay out.
    assert hours.rows == [["第一网格", 2.5, 4.0], ["第二网格", 0.5, 1.5], [hours.x[2], None, None]]
    status = chart(result, "needs_by_status")
    assert status.x == hours.x
    by_status = {state: series.values for state, series in zip(TaskStatus, status.series, strict=True)}
    assert by_status == {TaskStatus.open: [0, 1, 0], TaskStatus.claimed: [1, 0, 0], TaskStatus.done: [0, 0, 0],
                         TaskStatus.confirmed: [1, 0, 0], TaskStatus.approved: [2, 1, 0],
                         TaskStatus.reopened: [0, 0, 1], TaskStatus.withdrawn: [0, 0, 0]}


def test_needs_posted_and_resolved_by_beijing_month(needs):
    # Posted at 16:30 UTC on 31 October: 1 November in Beijing, resolved on 2 November.
    need(needs.a, needs.unit2, needs.far, datetime(2026, 10, 31, 16, 30, tzinfo=UTC), claimed=5, resolved=30,
         status=TaskStatus.approved)
    need(needs.a, needs.unit2, needs.far, OCT, claimed=1, resolved=24 * 20, status=TaskStatus.approved)
    result = dashboards.dashboard(needs.staff, needs.a, months=2, now=NOW)
    assert rows(result, "needs_by_month") == [["2026-10", 1, 0], ["2026-11", 8, 6]]


def test_a_grid_dashboard_splits_its_needs_by_building_and_keeps_to_its_grid(needs):
    result = dashboards.dashboard(needs.staff, needs.grid2, months=3, now=NOW)
    assert rows(result, "needs_hours") == [["5号楼", 0.5, 1.5]]
    assert rows(result, "needs_by_month")[-1] == ["2026-11", 2, 1]


def test_needs_side_by_side_for_a_street(needs):
    result = dashboards.rollup(needs.street_staff, needs.tree.street, months=3, now=NOW)
    found = figures(result)
    a, b = needs.a.id, needs.b.id
    assert found["needs_posted"].values == {a: 7, b: 1} and found["needs_posted"].total == 8
    assert found["needs_resolved"].values == {a: 4, b: 1}
    assert found["needs_waiting"].values == {a: 2, b: 0}
    assert found["needs_hours_to_claim"].values == {a: 2.0, b: 100.0}
    # All of the street: 0.5, 1, 2, 3, 10, 100 → 2.5.
    assert found["needs_hours_to_claim"].total == 2.5
    assert (found["needs_hours_to_resolve"].values, found["needs_hours_to_resolve"].total) == (
        {a: 3.0, b: 200.0}, 4.0)


# --- the market ----------------------------------------------------------------------------------------------------

@pytest.fixture
def shop(town):
    town.rice = reward(town.a, town.staff, "东北大米 5kg", 60, stock=5)
    town.oil = reward(town.a, town.staff, "食用油 1.8L", 50, stock=0)
    town.haircut = reward(town.a, town.staff, "义务理发", 20)
    redeem(town.near, town.rice, 2, OCT)
    redeem(town.far, town.rice, 1, NOV, RedemptionStatus.reserved)
    redeem(town.near, town.oil, 1, NOV, RedemptionStatus.cancelled)
    redeem(town.near, town.haircut, 1, NOV)
    redeem(town.far, town.haircut, 1, NOV, RedemptionStatus.expired)
    town.b_rice = reward(town.b, town.staff_b, "南湖大米", 10, stock=0)
    redeem(town.resident_b, town.b_rice, 4, NOV)
    return town


def test_redemptions_points_spent_top_rewards_and_stock(shop):
    result = dashboards.dashboard(shop.staff, shop.a, months=2, now=NOW)
    assert rows(result, "market_by_month") == [["2026-10", 1, 0, 120], ["2026-11", 2, 2, 80]]
    assert rows(result, "top_rewards") == [["东北大米 5kg", 3, 2], ["义务理发", 1, 1]]
    stock = chart(result, "stock")
    assert stock.rows == [["食用油 1.8L", 0, 0], ["东北大米 5kg", 5, 3]]  # the unlimited haircut has no stock
    assert re.findall(r"\d+", stock.note) == ["1"]  # one reward out of stock, in either language


def test_a_grid_sees_the_redemptions_of_its_people_and_not_the_stock(shop):
    result = dashboards.dashboard(shop.staff, shop.grid2, months=1, now=NOW)
    assert rows(result, "market_by_month") == [["2026-11", 1, 1, 60]]
    assert rows(result, "top_rewards") == [["东北大米 5kg", 1, 1]]
    assert "stock" not in {c.key for _s, charts in result.sections for c in charts}


def test_the_market_side_by_side_for_a_street(shop):
    found = figures(dashboards.rollup(shop.street_staff, shop.tree.street, months=2, now=NOW))
    a, b = shop.a.id, shop.b.id
    assert found["redemptions"].values == {a: 3, b: 1}
    assert (found["redeemers"].values, found["redeemers"].total) == ({a: 2, b: 1}, 3)
    assert found["points_spent"].values == {a: 200, b: 40} and found["points_spent"].total == 240
    assert found["rewards_on_offer"].values == {a: 3, b: 1}
    assert found["rewards_out_of_stock"].values == {a: 1, b: 1}
    street = dashboards.dashboard(shop.street_staff, shop.tree.street, months=2, now=NOW)
    assert [row[0] for row in rows(street, "top_rewards")] == ["南湖大米 · 南湖社区", "东北大米 5kg · 银融社区",
                                                               "义务理发 · 银融社区"]


# --- honours -------------------------------------------------------------------------------------------------------

@pytest.fixture
def campaigns(town, make_user):
    """In A: a campaign of the community with two candidates, four votes (one discounted) and a winner, and one in
    the second grid; one in B; one over the whole street."""
    t = town
    t.voter = make_user("投票人", roles=[("resident", t.a)])
    t.good = campaign(t.a, t.staff, "2026年度社区好人", OCT)
    t.near_nomination = nominate(t.good, t.near, t.voter, OCT + timedelta(days=1))
    t.far_nomination = nominate(t.good, t.far, t.near, OCT + timedelta(days=2))
    vote(t.near_nomination, t.voter, OCT + timedelta(days=8))
    vote(t.near_nomination, t.far, OCT + timedelta(days=8))
    vote(t.far_nomination, t.near, OCT + timedelta(days=9))
    vote(t.far_nomination, t.volunteer, OCT + timedelta(days=9), discounted=True)
    honour(t.near_nomination, t.a, NOV)
    t.grid_campaign = campaign(t.grid2, t.staff, "第二网格好邻居", NOV)
    nominate(t.grid_campaign, t.far, t.near, NOV + timedelta(days=1), status=NominationStatus.pending)
    b = campaign(t.b, t.staff_b, "南湖好人", OCT)
    vote(nominate(b, t.resident_b, t.staff_b, OCT), t.staff_b, OCT + timedelta(days=8))
    street = campaign(db.session.merge(t.tree.street), t.street_staff, "东风街道最美三长", OCT)
    nominate(street, t.near, t.street_staff, OCT + timedelta(days=1))
    return t


def test_campaigns_nominations_votes_and_winners(campaigns):
    t = campaigns
    result = dashboards.dashboard(t.staff, t.a, months=2, now=NOW)
    assert rows(result, "honours_by_month") == [["2026-10", 2, 0, 3], ["2026-11", 1, 1, 0]]
    # By kind and opening month (titles share their start); all their nominations and winners.
    assert rows(result, "campaigns") == [[f"{GOOD} 2026-10", 2, 1], [f"{GOOD} 2026-11 · 第二网格", 1, 0]]
    grid = dashboards.dashboard(t.staff, t.grid2, months=2, now=NOW)
    assert rows(grid, "campaigns") == [[f"{GOOD} 2026-11", 1, 0]]


def test_campaigns_that_ended_before_the_months_shown_are_not_on_the_chart(campaigns):
    result = dashboards.dashboard(campaigns.staff, campaigns.a, months=1, now=datetime(2027, 3, 1, tzinfo=UTC))
    assert rows(result, "campaigns") == []


def test_honours_side_by_side_for_a_street(campaigns):
    t = campaigns
    found = figures(dashboards.rollup(t.street_staff, t.tree.street, months=2, now=NOW))
    a, b = t.a.id, t.b.id
    # The totals count the campaign held over the whole street too.
    assert (found["campaigns"].values, found["campaigns"].total) == ({a: 2, b: 1}, 4)
    assert (found["nominations"].values, found["nominations"].total) == ({a: 3, b: 1}, 5)
    assert (found["votes"].values, found["votes"].total) == ({a: 3, b: 1}, 4)
    assert (found["winners"].values, found["winners"].total) == ({a: 1, b: 0}, 1)


# --- the page, the API, scope ----------------------------------------------------------------------------------------

def test_the_sections_are_on_the_page_and_in_the_api_for_staff_of_the_area_only(needs, client, make_user):
    shop = needs
    redeem(shop.near, reward(shop.a, shop.staff, "东北大米 5kg", 60, stock=5), 1, NOV)
    db.session.commit()
    login(client, shop.tree.staff_a)
    page = client.get(f"/areas/{shop.a.id}/dashboard?months=3").text
    for key in ("needs_by_month", "needs_by_status", "needs_hours", "market_by_month", "top_rewards", "stock",
                "honours_by_month", "campaigns"):
        assert f'data-key="{key}"' in page and f"/areas/{shop.a.id}/dashboard/{key}.xlsx?months=3" in page, key
    assert re.findall(r' id="section-(\w+)"', page)[-3:] == ["needs", "market", "honours"]
    values = xlsx_rows(client.get(f"/areas/{shop.a.id}/dashboard/needs_hours.xlsx?months=3"))
    assert values[0][0].startswith("银融社区") and values[2][1:] == (2.5, 4.0)
    assert all(has_chinese(h) for h in values[1])
    answer = client.get(f"/api/v1/areas/{shop.a.id}/dashboard?months=3", headers=token_for(client, shop.tree.staff_a))
    sections = {s["key"]: s for s in answer.json["sections"]}
    assert {"needs", "market", "honours"} <= set(sections)
    assert sections["needs"]["charts"][2]["table"]["rows"][0] == ["第一网格", 2.5, 4.0]
    login(client, shop.tree.staff_b)
    assert client.get(f"/areas/{shop.a.id}/dashboard/needs_hours.xlsx").status_code == 404
    assert client.get(f"/areas/{shop.a.id}/dashboard").status_code == 404
    values = xlsx_rows(client.get(f"/areas/{shop.b.id}/dashboard/needs_hours.xlsx?months=3"))
    assert values[2:] == [("第一网格", 100.0, 200.0)]


def test_another_communitys_figures_never_appear(needs, campaigns, shop):
    t = needs
    result = dashboards.dashboard(t.staff_b, t.b, months=3, now=NOW)
    assert rows(result, "needs_hours") == [["第一网格", 100.0, 200.0]]
    assert rows(result, "top_rewards") == [["南湖大米", 4, 1]]
    assert rows(result, "campaigns") == [[f"{GOOD} 2026-10", 1, 0]]
    mine = dashboards.dashboard(t.staff, t.a, months=3, now=NOW)
    text = json.dumps([c.as_dict() for _s, charts in mine.sections for c in charts], ensure_ascii=False)
    assert "南湖" not in text and "居民丙" not in text
    assert len(rows(mine, "campaigns")) == 2  # not the one held over the whole street


def test_a_neighbour_whose_path_begins_like_ours_stays_out(needs, campaigns, shop, make_area, make_user):
    # "/1/2/3/" and "/1/2/37/": the neighbour's needs, campaigns and redemptions sort right after ours by path.
    t = needs
    before = everything(t.staff, t.a), everything(t.staff, t.grid1)
    neighbour = sibling_sorting_after(make_area, t.a)
    grid = make_area("grid", neighbour, name="邻居网格")
    person = make_user("邻居丁", roles=[("resident", neighbour)])
    for hours in (1, 2, 3):
        need(neighbour, grid, person, OCT, claimed=hours, resolved=10 * hours, status=TaskStatus.approved)
    held = campaign(grid, t.street_staff, "邻居好人", OCT)
    vote(nominate(held, person, t.street_staff, OCT + timedelta(days=1)), t.street_staff, OCT + timedelta(days=8))
    redeem(person, reward(neighbour, t.street_staff, "邻居大米", 10), 3, OCT)
    assert (everything(t.staff, t.a), everything(t.staff, t.grid1)) == before
    theirs = dashboards.dashboard(t.street_staff, neighbour, months=3, now=NOW)
    assert rows(theirs, "needs_hours") == [["邻居网格", 2.0, 20.0]]
    assert rows(theirs, "campaigns") == [[f"{GOOD} 2026-10 · 邻居网格", 1, 0]]
    assert rows(theirs, "top_rewards") == [["邻居大米", 3, 1]]
    street = figures(dashboards.rollup(t.street_staff, db.session.merge(t.tree.street), months=3, now=NOW))
    assert (street["needs_posted"].values[neighbour.id], street["nominations"].values[neighbour.id]) == (3, 1)


# --- registers -------------------------------------------------------------------------------------------------------

def test_the_catalogue_lists_needs_redemptions_stock_and_honours(town):
    keys = [r.key for r in registers.catalogue(town.staff, town.a)]
    assert keys == ["heads", "teams", "service_hours", "needs", "events", "redemptions", "stock", "ledger",
                    "certificates", "honours"]
    assert [r.key for r in registers.catalogue(town.street_staff, town.tree.street)][-1] == "honours"


def _downloads(page: str) -> dict[str, str]:
    return {key: href.replace("&amp;", "&") for href, key in
            re.findall(r'<a href="([^"]+)" role="button" class="secondary outline" data-testid="download-(\w+)"',
                       page)}


def test_the_new_registers_download_as_xlsx_with_chinese_headers_and_only_their_community(needs, campaigns, shop,
                                                                                        client):
    db.session.commit()
    login(client, needs.tree.staff_a)
    links = _downloads(client.get(f"/areas/{needs.a.id}/registers").text)
    assert links["needs"] == "/needs/register.xlsx?status=all"
    assert links["redemptions"] == f"/market/{needs.a.id}/redemptions.xlsx"
    assert links["stock"] == f"/market/{needs.a.id}/stock.xlsx"
    assert links["honours"] == f"/areas/{needs.a.id}/registers/honours.xlsx"
    sheets = {key: xlsx_rows(client.get(links[key])) for key in ("needs", "redemptions", "stock", "honours")}
    for key, values in sheets.items():
        assert values[0][1], key  # the generated date
        assert all(isinstance(h, str) and h for h in values[1]), key
        assert "南湖" not in json.dumps([list(map(str, row)) for row in values], ensure_ascii=False), key
    for key in ("needs", "redemptions", "stock"):
        assert all(has_chinese(h) for h in sheets[key][1]), key
    assert {"被推荐人", "手机号", "票数", "证明编号", "荣誉称号"} <= set(sheets["honours"][1])
    assert len(sheets["needs"]) == 2 + 8 and len(sheets["redemptions"]) == 2 + 5


def test_the_honours_register_has_a_row_per_nomination_with_the_winners(campaigns):
    t = campaigns
    register = registers.streamed(t.staff, t.a, "honours")
    found = list(register.rows(t.a))
    assert len(register.headers()) == len(found[0]) == 15
    by_nominee = {(row[0], row[6]): row for row in found}
    assert set(by_nominee) == {("2026年度社区好人", "钱近邻"), ("2026年度社区好人", "孙远方"),
                               ("第二网格好邻居", "孙远方")}
    near = by_nominee["2026年度社区好人", "钱近邻"]
    assert near[11] == 2 and near[12] == "社区好人" and near[13].startswith("HR") and near[14]
    assert by_nominee["2026年度社区好人", "孙远方"][11] == 1  # one of its two votes was discounted
    assert "****" in near[7] and t.near.phone not in near
    street = list(registers.streamed(t.street_staff, t.tree.street, "honours").rows(t.tree.street))
    assert {row[0] for row in street} == {"2026年度社区好人", "第二网格好邻居", "南湖好人", "东风街道最美三长"}
    with pytest.raises(NotFound):
        registers.streamed(t.staff_b, t.a, "honours")


# --- my data ---------------------------------------------------------------------------------------------------------

def test_my_export_has_my_needs_claims_redemptions_nominations_votes_and_honours(campaigns, shop, make_user):
    t = campaigns
    mine = need(t.a, db.session.merge(t.tree.a.unit), t.near, NOV, claimed=2, resolved=5, status=TaskStatus.approved,
                title="水管漏水")
    claimed = need(t.a, t.unit2, t.far, NOV, claimed=1, status=TaskStatus.approved, title="帮忙搬米")
    claimed.claimant_id, claimed.done_note, claimed.points = t.near.id, "已搬到五楼", 20
    db.session.add(TaskClaim(task_id=claimed.id, user_id=t.near.id, capacity="team", claimed_at=NOV,
                             ended_at=NOV + timedelta(hours=3), outcome="approved"))
    mine.claimant_id = t.far.id
    db.session.add(TaskClaim(task_id=mine.id, user_id=t.far.id, capacity="head", claimed_at=NOV, outcome="approved"))
    db.session.add(Objection(campaign_id=t.good.id, nomination_id=t.far_nomination.id, objector_id=t.near.id,
                             real_name="钱近邻", reason="事迹不实"))
    db.session.flush()
    data = export.personal_data(t.near, NOW)
    sections = data["sections"]
    assert [s for s in sections if s in ("needs", "task_claims", "redemptions", "nominations", "votes", "objections",
                                         "honours")] == ["needs", "task_claims", "redemptions", "nominations", "votes",
                                                         "objections", "honours"]
    needs_rows = sections["needs"]["rows"]
    assert [(n["title"], n["asked_by_me"]) for n in needs_rows] == [("水管漏水", True)]
    assert needs_rows[0]["resolved_at"] == (NOV + timedelta(hours=5)).isoformat()
    claims = sections["task_claims"]["rows"]
    assert [(c["title"], c["done_note"], c["points"]) for c in claims] == [("帮忙搬米", "已搬到五楼", 20)]
    redemptions = sections["redemptions"]["rows"]
    assert sorted((r["reward"], r["quantity"], r["points"]) for r in redemptions) == [
        ("东北大米 5kg", 2, 120), ("义务理发", 1, 20), ("食用油 1.8L", 1, 50)]
    assert {r["cancelled_by_me"] for r in redemptions} == {None, True}
    nominations = {(n["campaign"], n["nominee"], n["of_me"], n["by_me"]): n for n in sections["nominations"]["rows"]}
    assert set(nominations) == {("2026年度社区好人", "钱近邻", True, False),
                                ("2026年度社区好人", "孙远方", False, True),
                                ("第二网格好邻居", "孙远方", False, True), ("东风街道最美三长", "钱近邻", True, False)}
    assert nominations["2026年度社区好人", "钱近邻", True, False]["votes"] == 2
    assert nominations["2026年度社区好人", "孙远方", False, True]["votes"] is None  # how others fared is theirs
    assert [(v["nominee"], v["counted"]) for v in sections["votes"]["rows"]] == [("孙远方", True)]
    assert [o["reason"] for o in sections["objections"]["rows"]] == ["事迹不实"]
    assert [(h["title"], h["campaign"]) for h in sections["honours"]["rows"]] == [("社区好人", "2026年度社区好人")]
    text = json.dumps(data, ensure_ascii=False)
    # Who nominated me, who voted for me, who took my need on, the other buyers: none of it is mine.
    for other in ("投票人", t.voter.phone, "南湖", "居民丙", t.far.phone, "街道干部", "银融干部", "志愿者乙"):
        assert other not in text, other


def test_the_others_exports_hold_nothing_of_mine(campaigns, shop):
    t = campaigns
    far = json.dumps(export.personal_data(t.far, NOW), ensure_ascii=False)
    assert "东北大米 5kg" in far and "食用油" not in far  # the far one's own reservation; not my cancelled oil
    # Their vote for me is theirs; that I nominated them, and who took their need on, is not.
    assert far.count("钱近邻") == 1
    assert [v["nominee"] for v in json.loads(far)["sections"]["votes"]["rows"]] == ["钱近邻"]
    voter = export.personal_data(t.voter, NOW)["sections"]
    assert [v["nominee"] for v in voter["votes"]["rows"]] == ["钱近邻"]
    assert [(n["nominee"], n["by_me"], n["status"]) for n in voter["nominations"]["rows"]] == [("钱近邻", True, None)]


def test_the_spreadsheet_has_the_new_sheets_with_their_headers(campaigns):
    with export.personal_xlsx(campaigns.near, NOW) as book:
        sheets = load_workbook(book).worksheets
    keys = [s.key for s in export.sections()]
    votes = list(sheets[keys.index("votes")].iter_rows(values_only=True))
    assert votes[1] == tuple(str(header) for _key, header in export.sections()[keys.index("votes")].columns)
    assert votes[1] == ("评选", "投票给", "时间", "计入有效票")
    assert votes[2][:2] == ("2026年度社区好人", "孙远方") and len(votes) == 3
