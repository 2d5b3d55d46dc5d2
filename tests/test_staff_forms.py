"""Heads' and staff's forms (issue 19, item 5): places named with their parents, the household picker of 添加人员
(grouped, searchable, narrowed by the chosen area, scoped), the resident's flat and phone for the need's holder only,
breadcrumbs that link only what one may open, the staff home's counts, and a registration event refusing a start in
the past."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, select

from domain import events, tasks
from domain.errors import DomainError
from domain.households import households_under, matches
from domain.labels import place_name, place_names
from domain.waiting import waiting_in
from models import Area, Event, Household, Task, User, db
from tests.conftest import login, token_for
from tests.test_tasks import HOUR, setup_need


@pytest.fixture
def homes(app, tree, make_area):
    """Community A gets a second building (2号楼, two units) and a second grid whose building is named 1号楼 too, with
    households in each: four units read "1单元" and two buildings "1号楼"."""
    a = tree.a
    b2 = make_area("building", a.grid, name="2号楼")
    b2u1, b2u2 = make_area("unit", b2, name="1单元"), make_area("unit", b2, name="2单元")
    grid2 = make_area("grid", a.community, name="第二网格")
    g2b1 = make_area("building", grid2, name="1号楼")
    g2u1 = make_area("unit", g2b1, name="1单元")
    with app.app_context():
        for unit, labels in ((a.unit, ("102", "201")), (b2u1, ("101", "201", "1001")), (b2u2, ("101",)),
                             (g2u1, ("101", "301"))):
            db.session.add_all(Household(unit_id=unit.id, label=label) for label in labels)
        db.session.commit()
    return dict(b2=b2, b2u1=b2u1, b2u2=b2u2, grid2=grid2, g2b1=g2b1, g2u1=g2u1)


def _picker(page: str) -> str:
    start = page.index('id="household_id"')
    return page[start:page.index("</select>", start)]


def _options(page: str) -> list[str]:
    return re.findall(r'<option value="\d+"[^>]*>([^<]+)</option>', _picker(page))


def _groups(page: str) -> list[str]:
    return re.findall(r'<optgroup label="([^"]+)"', _picker(page))


# --- place names ---------------------------------------------------------------------------------------------------

def test_places_are_named_with_their_parents_below_the_community(app, tree, homes):
    with app.app_context():
        unit, g2u1 = db.session.get(Area, tree.a.unit.id), db.session.get(Area, homes["g2u1"].id)
        assert place_name(unit) == "第一网格 1号楼 1单元"
        assert place_name(g2u1) == "第二网格 1号楼 1单元"
        assert place_name(db.session.get(Area, homes["b2"].id)) == "第一网格 2号楼"
        assert place_name(db.session.get(Area, tree.a.community.id)) == "银融社区"
        assert place_name(db.session.get(Area, tree.street.id)) == "东风街道"
        assert place_name(db.session.get(Household, tree.a.household.id)) == "第一网格 1号楼 1单元 101"
        areas = [unit, g2u1, db.session.get(Area, tree.a.community.id)]
        assert place_names(areas) == {a.id: place_name(a) for a in areas}


def test_a_head_post_and_a_household_read_with_their_parents_on_people_pages(client, tree, homes, headed_resident):
    login(client, tree.staff_a)
    page = client.get(f"/people/{tree.head_a.id}").text
    assert "第一网格 1号楼 1单元 101" in page  # the household
    assert page.count("第一网格 1号楼 1单元") >= 2  # the household and the head post
    found = client.get("/people", query_string={"q": "王奶奶"}).text
    assert "第一网格 1号楼 1单元 101" in found


# --- the household picker ------------------------------------------------------------------------------------------

def test_the_picker_groups_households_by_unit_with_full_names(client, tree, homes):
    login(client, tree.staff_a)
    page = client.get("/people/new").text
    assert _groups(page) == ["第一网格 1号楼 1单元", "第一网格 2号楼 1单元", "第一网格 2号楼 2单元",
                             "第二网格 1号楼 1单元"]
    options = _options(page)
    assert options[:3] == ["第一网格 1号楼 1单元 101", "第一网格 1号楼 1单元 102", "第一网格 1号楼 1单元 201"]
    # Door numbers in their order as numbers: 201 before 1001.
    assert options.index("第一网格 2号楼 1单元 201") < options.index("第一网格 2号楼 1单元 1001")
    assert len(options) == 9 and "南湖社区" not in page  # only community A: staff_a's scope


def test_the_picker_is_narrowed_by_the_area_chosen(client, tree, homes):
    login(client, tree.staff_a)
    page = client.get("/people/new", query_string={"area_id": homes["b2"].id}).text
    assert _options(page) == ["第一网格 2号楼 1单元 101", "第一网格 2号楼 1单元 201", "第一网格 2号楼 1单元 1001",
                              "第一网格 2号楼 2单元 101"]
    assert f'<option selected value="{homes["b2"].id}"' in page or \
        re.search(rf'<option[^>]*value="{homes["b2"].id}"[^>]*selected', page)
    # An area out of reach is not offered: the first area of one's own is shown instead.
    other = client.get("/people/new", query_string={"area_id": tree.b.community.id}).text
    assert "南湖社区" not in other and len(_options(other)) == 9


def test_find_narrows_the_picker_without_js_and_keeps_what_was_typed(app, client, tree, homes):
    login(client, tree.staff_a)
    response = client.post("/people/new", data={"name": "新居民", "phone": "13912345678", "role": "resident",
                                                "area_id": str(tree.a.grid.id), "household_q": "2号楼 101",
                                                "narrow": "1"})
    assert response.status_code == 200
    assert _options(response.text) == ["第一网格 2号楼 1单元 101", "第一网格 2号楼 2单元 101"]
    assert 'value="新居民"' in response.text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User).where(User.name == "新居民")) == 0


def test_words_match_the_full_name_with_or_without_spaces():
    assert matches("第一网格 2号楼 1单元 101", "2号楼101")
    assert matches("第一网格 2号楼 1单元 101", "2号楼 1单元")
    assert matches("第一网格 2号楼 1单元 101", "2号楼101")
    assert matches("第一网格 2号楼 1单元 101", "1单元101")
    assert not matches("第一网格 2号楼 1单元 101", "3号楼")


def test_the_picker_json_follows_the_area_and_the_words_and_is_scoped(client, tree, homes):
    login(client, tree.staff_a)
    answer = client.get("/people/households", query_string={"area_id": homes["grid2"].id}).json
    assert answer == {"groups": [{"unit": "第二网格 1号楼 1单元", "households": [
        {"id": answer["groups"][0]["households"][0]["id"], "name": "第二网格 1号楼 1单元 101"},
        {"id": answer["groups"][0]["households"][1]["id"], "name": "第二网格 1号楼 1单元 301"}]}],
        "total": 2, "cut": False}
    typed = client.get("/people/households", query_string={"area_id": tree.a.community.id, "q": "301"}).json
    assert [h["name"] for g in typed["groups"] for h in g["households"]] == ["第二网格 1号楼 1单元 301"]
    refused = client.get("/people/households", query_string={"area_id": tree.b.community.id})
    assert refused.status_code == 404 and "南湖" not in refused.text
    login(client, tree.head_a)  # a head manages no area: nothing to pick from
    assert client.get("/people/households", query_string={"area_id": tree.a.unit.id}).status_code == 404


def test_a_long_list_is_cut_and_says_so(app, tree, homes):
    with app.app_context():
        staff = db.session.get(User, tree.staff_a.id)
        choice = households_under(staff, db.session.get(Area, tree.a.community.id), shown=3)
        assert (choice.total, choice.shown, choice.cut) == (9, 3, True)


def test_a_household_outside_the_chosen_area_is_refused_on_its_field(app, client, tree, homes):
    login(client, tree.staff_a)
    with app.app_context():
        elsewhere = db.session.scalar(select(Household.id).where(Household.unit_id == homes["g2u1"].id))
    response = client.post("/people/new", data={"name": "新居民", "phone": "13912345678", "role": "resident",
                                                "area_id": str(tree.a.grid.id), "household_id": str(elsewhere)})
    assert response.status_code == 200
    assert re.search(r'id="household_id"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*id="household_id"',
                     response.text)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User).where(User.name == "新居民")) == 0
    inside = client.post("/people/new", data={"name": "新居民", "phone": "13912345678", "role": "resident",
                                              "area_id": str(homes["grid2"].id), "household_id": str(elsewhere)})
    assert inside.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(User.household_id).where(User.name == "新居民")) == elsewhere


# --- the need's holder sees the flat and the phone ------------------------------------------------------------------

@pytest.fixture
def need(app, tree, make_user):
    with app.app_context():
        ids = setup_need(app, tree, make_user)
        ids.phone = db.session.get(User, ids.resident).phone
    return ids


def _as(client, app, user_id):
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
    login(client, user)


def test_only_the_holder_of_a_need_sees_the_residents_flat_and_call_link(app, client, need):
    url = f"/needs/{need.task}"
    _as(client, app, need.unit_head)
    before = client.get(url).text
    assert need.phone not in before and 'data-testid="call-resident"' not in before
    assert client.post(f"{url}/claim", data={}).status_code == 302
    held = client.get(url).text
    assert f'href="tel:{need.phone}"' in held and "银融社区 第一网格 1号楼 1单元 101" in held
    for other in (need.building_head, need.grid_head, need.staff, need.neighbour):
        _as(client, app, other)
        page = client.get(url)
        assert need.phone not in page.text and "tel:" not in page.text


def test_the_flat_and_phone_go_once_the_need_is_done_or_let_go(app, client, need):
    url = f"/needs/{need.task}"
    _as(client, app, need.unit_head)
    client.post(f"{url}/claim", data={})
    assert "tel:" in client.get(url).text
    with app.app_context():
        task = db.session.get(Task, need.task)
        tasks.mark_done(db.session.get(User, need.unit_head), task, "修好了")
        db.session.commit()
    assert need.phone not in client.get(url).text
    with app.app_context():
        task = db.session.get(Task, need.task)
        tasks.reopen_task(db.session.get(User, need.staff), task, reason="居民说没修好")
        db.session.commit()
    released = client.get(url).text  # the former holder, the need open again
    assert need.phone not in released and "tel:" not in released


# --- breadcrumbs ---------------------------------------------------------------------------------------------------

def test_breadcrumbs_name_but_do_not_link_areas_out_of_reach(client, tree):
    login(client, tree.staff_a)
    page = client.get(f"/areas/{tree.a.unit.id}").text
    trail = page[page.index('class="trail"'):page.index("</nav>", page.index('class="trail"'))]
    assert "东风街道" in trail and "示范区" in trail
    assert f'href="/areas/{tree.street.id}"' not in trail and f'href="/areas/{tree.district.id}"' not in trail
    assert f'href="/areas/{tree.a.community.id}"' in trail and f'href="/areas/{tree.a.grid.id}"' in trail
    assert client.get(f"/areas/{tree.street.id}").status_code == 404  # what the link would have led to
    login(client, tree.street_staff)
    street_trail = client.get(f"/areas/{tree.a.unit.id}").text
    assert f'href="/areas/{tree.street.id}"' in street_trail and f'href="/areas/{tree.district.id}"' not in street_trail


# --- the staff home's counts ---------------------------------------------------------------------------------------

def test_staff_home_buttons_show_what_waits(app, client, tree, make_user):
    with app.app_context():
        setup_need(app, tree, make_user, resolved=True)  # confirmed by the resident: staff approve it next
    login(client, tree.staff_a)
    page = client.get("/").text
    assert 'data-testid="count-needs">(1)</span>' in page
    assert 'data-testid="count-records">(0)</span>' in page
    assert 'data-testid="count-redemptions">(0)</span>' in page
    assert 'data-testid="count-vacant">(0)</span>' in page  # the unit has its head


def test_the_counts_take_three_queries_whatever_the_number_of_communities(app, tree):
    with app.app_context():
        statements = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        sa_event.listen(db.engine, "before_cursor_execute", listener)
        try:
            waiting = waiting_in([tree.a.community.id, tree.b.community.id])
        finally:
            sa_event.remove(db.engine, "before_cursor_execute", listener)
        assert len(statements) == 3
        assert set(waiting) == {tree.a.community.id, tree.b.community.id}


# --- a registration event cannot start in the past -----------------------------------------------------------------

NOW = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)


def _event_form(**overrides) -> events.EventForm:
    values = dict(kind="activity", title="楼道清洁", place="1号楼", starts_at=NOW - HOUR, ends_at=NOW + HOUR,
                  category="environment")
    return events.EventForm(**{**values, **overrides})


def test_a_registration_event_starting_in_the_past_is_refused_on_its_start(ctx):
    with pytest.raises(DomainError) as refused:
        events.create_event(ctx.staff, ctx.community, _event_form(registration=True), now=NOW)
    assert refused.value.code == "starts_in_past" and refused.value.status == 422
    assert list(refused.value.fields) == ["starts_at"]
    assert events.create_event(ctx.staff, ctx.community, _event_form(), now=NOW).registration is False
    later = events.create_event(ctx.staff, ctx.community, _event_form(registration=True, starts_at=NOW + HOUR,
                                                                      ends_at=NOW + 2 * HOUR), now=NOW)
    assert later.registration is True


def test_the_api_refuses_it_with_422_on_starts_at(app, client, tree):
    staff = token_for(client, tree.staff_a)
    now = datetime.now(UTC)
    response = client.post("/api/v1/events", headers=staff, json={
        "title": "健康讲座", "kind": "training", "area_id": tree.a.community.id, "place": "活动室",
        "registration": True,
        "starts_at": (now - timedelta(minutes=5)).isoformat(), "ends_at": (now + timedelta(hours=1)).isoformat(),
        "category": "health"})
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "starts_in_past" and list(error["fields"]) == ["starts_at"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Event)) == 0
    spec = client.get("/api/v1/openapi.json").json
    post = spec["paths"]["/api/v1/events"]["post"]
    assert "starts_in_past" in post.get("summary", "") + post.get("description", "")


def test_the_page_form_puts_the_refusal_on_the_start(app, client, tree):
    from domain.ledger import SHANGHAI
    login(client, tree.staff_a)
    today = datetime.now(UTC).astimezone(SHANGHAI)
    earlier = today - timedelta(hours=2)
    if earlier.date() != today.date():
        pytest.skip("just after midnight in Beijing: two hours ago was another day")
    response = client.post(f"/areas/{tree.a.community.id}/events/new", data=dict(
        kind="activity", title="急救培训", place="社区活动室", day=today.date().isoformat(),
        starts_at=earlier.strftime("%H:%M"), ends_at=(earlier + timedelta(minutes=30)).strftime("%H:%M"),
        category="health", registration="y", points_mode="per_hour", opens_minutes="20", closes_minutes="10"))
    assert response.status_code == 200
    start = re.search(r'<input[^>]*id="starts_at"[^>]*>', response.text).group(0)
    assert 'aria-invalid="true"' in start
    assert 'aria-invalid="true"' not in re.search(r'<input[^>]*id="ends_at"[^>]*>', response.text).group(0)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Event)) == 0


def test_a_street_picker_names_the_community_too(client, tree, homes):
    login(client, tree.street_staff)
    page = client.get("/people/new", query_string={"area_id": tree.street.id}).text
    assert "银融社区 第一网格 1号楼 1单元" in _groups(page) and "南湖社区 第一网格 1号楼 1单元" in _groups(page)
    assert "社区 · 银融社区" in page and "网格 · 南湖社区 第一网格" in page
    community = client.get("/people/new", query_string={"area_id": tree.a.community.id}).text
    assert _groups(community)[0] == "第一网格 1号楼 1单元"


def test_an_area_out_of_reach_sent_by_the_form_is_not_found(app, client, tree, homes):
    login(client, tree.staff_a)
    response = client.post("/people/new", data={"name": "新居民", "phone": "13912345678", "role": "resident",
                                                "area_id": str(tree.b.community.id)})
    assert response.status_code == 404
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User).where(User.name == "新居民")) == 0
