"""Staff work through the pages: add areas and households, appoint and end heads, add people, export."""

import io

from openpyxl import load_workbook
from sqlalchemy import select

from models import Area, AuditEvent, HeadPost, Household, User, db
from tests.conftest import login


def test_tree_page_shows_heads_with_the_community_titles(client, tree, make_area, make_user):
    login(client, tree.staff_a)
    client.post(f"/areas/{tree.a.grid.id}/appoint", data={"person_id": tree.volunteer_a.id})
    page = client.get(f"/areas/{tree.a.community.id}").text
    assert "第一网格" in page and "志愿者乙" in page and "网格长" in page

    street = make_area("street")
    custom = make_area("community", street, name="五里堆社区", settings={"head_titles": ["片长", "组长", "邻长"]})
    grid = make_area("grid", custom, name="一片")
    staff = make_user("五里堆干部", roles=[("staff", custom)])
    client.post("/logout")
    login(client, staff)
    page = client.get(f"/areas/{grid.id}").text
    assert "片长" in page and "网格长" not in page


def test_appoint_replace_and_end_through_the_page(app, client, tree, make_user):
    login(client, tree.staff_a)
    search = client.get(f"/areas/{tree.a.unit.id}?q=志愿").text
    assert "志愿者乙" in search and "居民丙" not in client.get(f"/areas/{tree.a.unit.id}?q=居民").text
    assert client.post(f"/areas/{tree.a.unit.id}/appoint",
                       data={"person_id": tree.volunteer_a.id, "reason": "居民推选"}).status_code == 302
    successor = make_user("接任者", household=tree.a.household)
    client.post(f"/areas/{tree.a.unit.id}/appoint", data={"person_id": successor.id})
    with app.app_context():
        post = db.session.scalar(select(HeadPost).where(HeadPost.area_id == tree.a.unit.id,
                                                        HeadPost.until.is_(None)))
        assert post.user_id == successor.id
    # Ending without a reason is refused; with one it ends.
    client.post(f"/posts/{post.id}/end", data={"reason": ""})
    client.post(f"/posts/{post.id}/end", data={"reason": "搬家"})
    page = client.get(f"/areas/{tree.a.unit.id}").text
    assert "搬家" in page and "居民推选" in page
    with app.app_context():
        assert db.session.get(HeadPost, post.id).end_reason == "搬家"
        actions = db.session.scalars(select(AuditEvent.action)).all()
        assert actions.count("head.appoint") == 2 and actions.count("head.end") == 1


def test_appointing_someone_out_of_scope_is_404(client, tree):
    login(client, tree.staff_a)
    response = client.post(f"/areas/{tree.a.unit.id}/appoint", data={"person_id": tree.resident_b.id})
    assert response.status_code == 404


def test_add_child_area_and_household(app, client, tree):
    login(client, tree.staff_a)
    assert client.post(f"/areas/{tree.a.community.id}/children",
                       data={"level": "grid", "name": "第三网格"}).status_code == 302
    refused = client.post(f"/areas/{tree.a.community.id}/children", data={"level": "unit", "name": "错"})
    assert refused.status_code == 400
    assert client.post(f"/areas/{tree.a.unit.id}/households", data={"label": "302"}).status_code == 302
    duplicate = client.post(f"/areas/{tree.a.unit.id}/households", data={"label": "302"})
    assert duplicate.status_code == 400 and "该单元已有此户号" in duplicate.text
    with app.app_context():
        assert db.session.scalar(select(Area).where(Area.name == "第三网格")).parent_id == tree.a.community.id
        assert db.session.scalar(select(Household).where(Household.label == "302")).unit_id == tree.a.unit.id


def test_add_person_keeps_what_was_typed_on_error(app, client, tree):
    login(client, tree.staff_a)
    form = {"name": "王秀英", "phone": "13655556666", "role": "volunteer", "area_id": tree.a.community.id,
            "household_id": tree.a.household.id, "password": ""}
    assert client.post("/people/new", data=form).status_code == 302
    again = client.post("/people/new", data={**form, "name": "另一个王秀英"})
    assert again.status_code == 200
    assert "该手机号已登记" in again.text and "另一个王秀英" in again.text
    bad_phone = client.post("/people/new", data={**form, "phone": "123"})
    assert "不是有效的手机号" in bad_phone.text
    with app.app_context():
        person = db.session.scalar(select(User).where(User.phone == "13655556666"))
        assert person.household_id == tree.a.household.id and person.password_hash is None


def test_staff_set_a_first_password_then_the_person_signs_in(client, tree, make_user):
    imported = make_user("导入居民", password=None, household=tree.a.household)
    login(client, tree.staff_a)
    client.post(f"/people/{imported.id}/password", data={"password": "a first password"})
    client.post("/logout")
    assert client.post("/login", data={"phone": imported.phone, "password": "a first password"}).status_code == 302


def test_people_search_masks_phones_for_heads(client, tree, make_user):
    make_user("邻居丁", household=tree.a.household)
    login(client, tree.head_a)
    page = client.get("/people?q=邻居").text
    assert "邻居丁" in page and "****" in page
    client.post("/logout")
    login(client, tree.staff_a)
    page = client.get("/people?q=邻居").text
    assert "****" not in page


def test_vacant_units_page_lists_units_without_head(client, tree):
    login(client, tree.staff_a)
    page = client.get(f"/areas/{tree.a.community.id}/vacant-units").text
    assert "第一网格 / 1号楼 / 1单元" in page
    client.post(f"/areas/{tree.a.unit.id}/appoint", data={"person_id": tree.volunteer_a.id})
    assert "1单元" not in client.get(f"/areas/{tree.a.community.id}/vacant-units").text


def test_heads_register_export(client, tree):
    login(client, tree.staff_a)
    client.post(f"/areas/{tree.a.unit.id}/appoint", data={"person_id": tree.volunteer_a.id})
    response = client.get(f"/areas/{tree.a.community.id}/heads.xlsx")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment")
    sheet = load_workbook(io.BytesIO(response.data)).active
    response.close()
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1] == ("区域", "职务", "姓名", "手机号", "任职起始")
    phone = tree.volunteer_a.phone
    assert rows[2][:4] == ("示范区 / 东风街道 / 银融社区 / 第一网格 / 1号楼 / 1单元", "单元长", "志愿者乙",
                           f"{phone[:3]}****{phone[-4:]}")
    assert len(rows) == 3


def test_home_page_fits_the_role(client, tree):
    login(client, tree.head_a)
    client.post("/logout")
    login(client, tree.staff_a)
    client.post(f"/areas/{tree.a.unit.id}/appoint", data={"person_id": tree.head_a.id})
    client.post("/logout")
    login(client, tree.head_a)
    page = client.get("/").text
    assert "单元长" in page and "1单元" in page and "我的积分与时长" in page
    client.post("/logout")
    login(client, tree.staff_a)
    page = client.get("/").text
    assert "未配单元长的单元" in page and "导入花名册" in page


def test_http_errors_are_told_in_the_persons_language(client, strict_client):
    """A page's 405 and an expired form say what to do in Chinese, not Werkzeug's or Flask-WTF's English."""
    wrong_method = client.get("/logout")
    assert wrong_method.status_code == 405
    assert "不能这样打开这个地址" in wrong_method.text and "not allowed" not in wrong_method.text
    expired = strict_client.post("/login", data={"phone": "13800000000", "password": "x"})
    assert expired.status_code == 400
    assert "表单已过期" in expired.text and "CSRF" not in expired.text
