"""Needs pages: who may open what, posting from the form with photos (and keeping what was typed when refused), the
whole loop through the buttons, the board's filters, the register, the bell's count (one query) and its inbox."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import event, func, select

from domain import ledger, notifications, tasks
from models import Notification, Task, TaskPhoto, TaskStatus, User, db, utcnow
from tests.conftest import login, token_for
from tests.test_tasks import jpeg, setup_need


@pytest.fixture
def loop(app, tree, make_user, tmp_path):
    """A need of community A posted by a resident of the unit (at T0 of the domain tests), with photos stored in a
    folder of the test's own."""
    app.config["UPLOAD_FOLDER"] = str(tmp_path)
    with app.app_context():
        ids = setup_need(app, tree, make_user)
        task = db.session.get(Task, ids.task)
        with app.test_request_context():
            tasks.add_photos(db.session.get(User, ids.resident), task, [jpeg()])
        db.session.commit()
        ids.photo = db.session.scalar(select(TaskPhoto.name))
    ids.url = f"/needs/{ids.task}"
    yield ids
    app.config.pop("UPLOAD_FOLDER")


def as_user(app, user_id: int) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
        return user


def sign_in(client, app, user_id: int):
    client.post("/logout")
    login(client, as_user(app, user_id))


def task_of(app, task_id: int) -> Task:
    with app.app_context():
        task = db.session.get(Task, task_id)
        db.session.expunge(task)
        return task


# --- who may open what ---------------------------------------------------------------------------------------------

#: person → expected status of the need's page and its photo; the board and the inbox answer everyone 200.
SEES = {"resident": 200, "unit_head": 200, "building_head": 200, "grid_head": 200, "volunteer": 200, "staff": 200,
        "neighbour": 404, "carer": 404, "staff_b": 404, "resident_b": 404}


@pytest.mark.parametrize("who", sorted(SEES))
def test_each_page_answers_each_person_as_their_reach_says(client, app, loop, who):
    sign_in(client, app, getattr(loop, who))
    assert client.get(loop.url).status_code == SEES[who]
    photo = client.get(f"{loop.url}/photos/{loop.photo}")
    photo.close()
    assert photo.status_code == SEES[who]
    for url in ("/needs", "/needs/claims", "/needs/mine", "/notifications", "/needs/new"):
        assert client.get(url).status_code == 200, url
    board = client.get("/needs").text
    assert (f'data-testid="task-{loop.task}"' in board) == (SEES[who] == 200 and who != "resident_b")
    for action in ("claim", "approve", "withdraw"):
        if SEES[who] == 404:
            assert client.post(f"{loop.url}/{action}").status_code == 404


def test_the_photo_goes_out_as_an_attachment_that_runs_nothing(client, app, loop):
    sign_in(client, app, loop.grid_head)
    response = client.get(f"{loop.url}/photos/{loop.photo}")
    assert response.mimetype == "image/jpeg" and response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    response.close()
    # A need's photo shows someone's home: no cache keeps it, shared or not, by the page or by the API.
    assert response.headers["Cache-Control"] == "private, no-store"
    with app.app_context():
        headers = token_for(client, as_user(app, loop.grid_head))
    response = client.get(f"/api/v1/tasks/{loop.task}/photos/{loop.photo}", headers=headers)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "private, no-store"
    response.close()
    missing = client.get(f"{loop.url}/photos/{'0' * 32}.jpg")
    assert missing.status_code == 404


# --- posting -------------------------------------------------------------------------------------------------------

def test_a_resident_posts_from_the_form_with_photos(client, app, loop):
    sign_in(client, app, loop.neighbour)
    page = client.get("/needs/new").text
    assert 'name="area_id"' not in page and "1单元 101" in page  # one's own home, nothing to choose
    response = client.post("/needs/new", data={
        "title": "楼道灯不亮", "description": "三楼楼道灯坏了一周", "category": "repairs",
        "photos": [(jpeg(), "a.jpg"), (jpeg((200, 200)), "b.png")]}, content_type="multipart/form-data")
    assert response.status_code == 302
    with app.app_context():
        task = db.session.scalar(select(Task).where(Task.title == "楼道灯不亮"))
        assert (task.resident_id, task.channel.value, task.area.name) == (loop.neighbour, "online", "1单元")
        assert len(tasks.photos_of(task)) == 2
    shown = client.get(response.headers["Location"]).text
    assert "楼道灯不亮" in shown and shown.count("/photos/") >= 2


def test_a_refused_photo_keeps_what_was_typed(client, app, loop, tmp_path):
    sign_in(client, app, loop.neighbour)
    response = client.post("/needs/new", data={
        "title": "楼道灯不亮", "description": "三楼楼道灯坏了一周", "category": "repairs",
        "photos": [(io.BytesIO(b"<html><script>alert(1)</script></html>"), "photo.jpg")]},
        content_type="multipart/form-data")
    assert response.status_code == 200
    assert "楼道灯不亮" in response.text and "三楼楼道灯坏了一周" in response.text
    assert 'class="field-error"' in response.text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Task)) == 1  # only the fixture's
    assert len(list(tmp_path.iterdir())) == 1  # only the fixture's photo


def test_a_head_records_a_need_for_a_resident_by_phone_or_by_name(client, app, loop):
    sign_in(client, app, loop.building_head)
    page = client.get("/needs/new").text  # no household: straight to recording for someone
    assert 'name="area_id"' in page and 'name="channel"' in page
    with app.app_context():
        unit = db.session.get(Task, loop.task).area
        phone = db.session.get(User, loop.neighbour).phone
    response = client.post("/needs/new?mode=record", data={
        "area_id": unit.id, "channel": "door_to_door", "resident_phone": phone, "title": "独居老人需要助餐",
        "description": "王奶奶腿脚不便，希望有人送午饭", "category": "elderly_help"},
        content_type="multipart/form-data")
    assert response.status_code == 302
    wrong = client.post("/needs/new?mode=record", data={
        "area_id": unit.id, "channel": "door_to_door", "resident_phone": "13000000000", "title": "x",
        "description": "y", "category": "other"}, content_type="multipart/form-data")
    assert wrong.status_code == 200 and 'class="field-error"' in wrong.text
    by_name = client.post("/needs/new?mode=record", data={
        "area_id": unit.id, "channel": "consultation", "resident_name": "张大爷", "title": "邻里噪音",
        "description": "楼上夜里装修", "category": "dispute"}, content_type="multipart/form-data")
    assert by_name.status_code == 302
    with app.app_context():
        made = {t.title: t for t in db.session.scalars(select(Task).where(Task.poster_id == loop.building_head))}
        assert made["独居老人需要助餐"].resident_id == loop.neighbour
        assert made["邻里噪音"].resident_name == "张大爷" and made["邻里噪音"].channel.value == "consultation"


# --- the loop through the buttons ----------------------------------------------------------------------------------

def test_the_whole_loop_through_the_pages_and_the_points_page(client, app, loop):
    sign_in(client, app, loop.unit_head)
    assert 'data-testid="claim"' in client.get(loop.url).text
    client.post(f"{loop.url}/claim")
    page = client.get(loop.url).text
    assert 'data-testid="done-form"' in page and 'data-testid="claim"' not in page
    client.post(f"{loop.url}/done", data={"note": "换了新的水管接头", "photos": [(jpeg(), "done.jpg")]},
                content_type="multipart/form-data")
    assert task_of(app, loop.task).status == TaskStatus.done

    sign_in(client, app, loop.resident)
    assert 'data-testid="confirm-resolved"' in client.get(loop.url).text
    client.post(f"{loop.url}/confirm", data={"resolved": "yes"})
    assert task_of(app, loop.task).status == TaskStatus.confirmed

    sign_in(client, app, loop.staff)
    assert f'data-testid="task-{loop.task}"' in client.get("/needs?status=to_approve").text
    page = client.get(loop.url).text
    assert 'data-testid="approve"' in page and "5" in page
    client.post(f"{loop.url}/approve")
    client.post(f"{loop.url}/approve")  # a second click changes nothing
    assert task_of(app, loop.task).points == 5

    sign_in(client, app, loop.unit_head)
    points = client.get("/me/points").text
    assert "厨房水管漏水" in points and "+5" in points
    history = client.get(loop.url).text
    for action in ("posted", "claimed", "done", "confirmed", "approved"):
        assert f'data-action="{action}"' in history
    claims = client.get("/needs/claims").text
    assert f'data-testid="task-{loop.task}"' in claims


def test_not_resolved_needs_a_note_and_reopens(client, app, loop):
    sign_in(client, app, loop.unit_head)
    client.post(f"{loop.url}/claim")
    client.post(f"{loop.url}/done", data={"note": "好了"}, content_type="multipart/form-data")
    sign_in(client, app, loop.resident)
    refused = client.post(f"{loop.url}/confirm", data={"resolved": "no", "note": ""}, follow_redirects=True)
    assert "flash-error" in refused.text and task_of(app, loop.task).status == TaskStatus.done
    client.post(f"{loop.url}/confirm", data={"resolved": "no", "note": "还在滴水"})
    assert task_of(app, loop.task).status == TaskStatus.reopened


def test_illegal_moves_through_the_pages_are_refused_with_a_message(client, app, loop):
    sign_in(client, app, loop.grid_head)
    refused = client.post(f"{loop.url}/approve", follow_redirects=True)
    assert "flash-error" in refused.text and task_of(app, loop.task).status == TaskStatus.open  # staff approve
    done = client.post(f"{loop.url}/done", data={"note": "x"}, content_type="multipart/form-data",
                       follow_redirects=True)
    assert "flash-error" in done.text and task_of(app, loop.task).status == TaskStatus.open
    sign_in(client, app, loop.staff)
    reopen = client.post(f"{loop.url}/reopen", data={"reason": "x"}, follow_redirects=True)
    assert "flash-error" in reopen.text


# --- the board -----------------------------------------------------------------------------------------------------

def test_the_board_filters_by_status_category_age_and_moved_up(client, app, loop):
    with app.app_context():
        task = db.session.get(Task, loop.task)
        tasks.escalate_task(task, now=task.due_at)
        db.session.commit()
    sign_in(client, app, loop.staff)
    shown = f'data-testid="task-{loop.task}"'
    assert shown in client.get("/needs").text
    assert shown in client.get("/needs?status=waiting&category=plumbing&escalated=y").text
    assert shown not in client.get("/needs?status=claimed").text
    assert shown not in client.get("/needs?category=repairs").text
    assert shown in client.get("/needs?age=7").text  # posted at T0, long ago
    with app.app_context():
        db.session.execute(Task.__table__.update().values(posted_at=utcnow() - timedelta(hours=2)))
        db.session.commit()
    assert shown not in client.get("/needs?age=1").text
    assert shown in client.get("/needs?status=nonsense&age=x").text  # nonsense falls back to the defaults
    assert client.get("/needs?age=99999999999999&page=99999999999999").status_code == 200
    for url in ("/needs/99999999999999999999", f"/needs/{loop.task}/photos/..%2F..%2Fsecret_key",
                "/needs/2147483648/photos/x.jpg"):
        assert client.get(url).status_code == 404, url
    assert client.post("/notifications/99999999999999999999/read").status_code == 404


def test_the_register_downloads_what_the_board_shows(client, app, loop):
    sign_in(client, app, loop.staff)
    response = client.get("/needs/register.xlsx?status=all")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data))
    rows = list(book.active.iter_rows(values_only=True))
    assert len(rows) == 3 and rows[2][5] == "厨房水管漏水"
    response.close()


# --- the bell ------------------------------------------------------------------------------------------------------

def count_queries(app, call) -> list[str]:
    """The SQL statements `call` sends, as text."""
    seen: list[str] = []

    def remember(_conn, _cursor, statement, *_args):
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", remember)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    return seen


def test_the_bell_shows_the_unread_count_for_one_cheap_query(client, app, loop):
    sign_in(client, app, loop.unit_head)
    with app.app_context():
        assert notifications.unread_count(db.session.get(User, loop.unit_head)) == 1  # the new need
    statements = count_queries(app, lambda: client.get("/"))
    bell = [s for s in statements if "notification" in s.lower()]
    assert len(bell) == 1 and "LIMIT" in bell[0].upper()
    page = client.get("/").text
    assert 'data-testid="bell-count">1<' in page

    inbox = client.get("/notifications").text
    with app.app_context():
        first = db.session.scalar(select(Notification.id).where(Notification.user_id == loop.unit_head))
    assert 'data-kind="task.new"' in inbox and "厨房水管漏水" in inbox
    opened = client.post(f"/notifications/{first}/read")
    assert opened.status_code == 302 and opened.headers["Location"].endswith(loop.url)
    assert 'data-testid="bell-count"' not in client.get("/").text

    sign_in(client, app, loop.grid_head)
    assert client.post(f"/notifications/{first}/read").status_code == 404  # someone else's


def test_mark_all_read(client, app, loop):
    sign_in(client, app, loop.volunteer)  # the repairs team's leader was told of the plumbing need
    assert 'data-testid="bell-count">1<' in client.get("/").text
    client.post("/notifications/read")
    assert 'data-testid="bell-count"' not in client.get("/needs").text
    with app.app_context():
        assert ledger.verify() == []


def test_lists_cost_as_many_queries_for_twenty_needs_as_for_one(client, app, loop):
    """The board, my claims, the register and the API list load the people and photos of a page at once."""
    from tests.conftest import token_for

    sign_in(client, app, loop.unit_head)
    urls = ("/needs?status=all", "/needs/claims", "/needs/register.xlsx?status=all")
    headers = token_for(client, as_user(app, loop.unit_head))

    def costs() -> list[int]:
        out = [len(count_queries(app, lambda u=url: client.get(u).close())) for url in urls]
        out.append(len(count_queries(app, lambda: client.get("/api/v1/needs?status=all", headers=headers))))
        return out

    with app.app_context():
        head = db.session.get(User, loop.unit_head)
        tasks.claim_task(head, db.session.get(Task, loop.task))
        db.session.commit()
    few = costs()
    with app.app_context():
        resident, head = db.session.get(User, loop.resident), db.session.get(User, loop.unit_head)
        unit = db.session.get(Task, loop.task).area
        for n in range(19):
            need = tasks.NeedForm(title=f"需求{n}", description="x", category="repairs")
            task = tasks.post_need(resident, unit, need)
            tasks.claim_task(head, task)
        db.session.commit()
    assert costs() == few
