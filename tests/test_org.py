"""The community tree, subtree queries, head appointments and their history (domain, no HTTP)."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from domain import org
from domain.errors import Conflict, Forbidden, Invalid, NotFound, Refused
from models import Area, AuditEvent, HeadPost, Level, Role, User, db
from tests.conftest import run_concurrently

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def test_subtree_holds_exactly_the_areas_below(dbs, tree):
    community_a = db.session.merge(tree.a.community)
    below = set(db.session.scalars(org.subtree(community_a)))
    assert {a.name for a in below} == {"银融社区", "第一网格", "1号楼", "1单元"}
    assert db.session.get(Area, tree.b.unit.id) not in below
    units = list(db.session.scalars(org.subtree(db.session.merge(tree.street), Level.unit)))
    assert sorted(u.id for u in units) == sorted([tree.a.unit.id, tree.b.unit.id])


def test_subtree_of_area_ten_does_not_include_area_one_hundred(dbs, make_area):
    # "/1/" must not match "/10/...": the path ends with a slash for exactly this reason.
    roots = [make_area("district", name=f"d{i}") for i in range(12)]
    first, tenth = roots[0], roots[9]
    assert tenth.path == f"/{tenth.id}/"
    assert set(db.session.scalars(org.subtree(first))) == {db.session.get(Area, first.id)}


def test_create_area_sets_path_and_audits(dbs, tree):
    staff = db.session.merge(tree.staff_a)
    grid = org.create_area(staff, parent=db.session.merge(tree.a.community), level="grid", name="第二网格")
    assert grid.path == f"{tree.a.community.path}{grid.id}/"
    assert grid.ancestor_ids[-2] == tree.a.community.id
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "area.create",
                                                       AuditEvent.object_id == grid.id))
    assert event.actor_id == staff.id


@pytest.mark.parametrize(("parent_key", "level"), [
    ("street", "unit"), ("a.community", "building"), ("a.unit", "unit"), ("a.grid", "community"),
])
def test_create_area_refuses_a_level_that_does_not_fit(dbs, tree, parent_key, level):
    parent = tree
    for part in parent_key.split("."):
        parent = getattr(parent, part)
    with pytest.raises(Refused) as refused:
        org.create_area(db.session.merge(tree.admin), parent=db.session.merge(parent), level=level, name="x")
    assert refused.value.code == "level_not_allowed"


def test_estate_is_optional_between_community_and_grid(dbs, tree):
    admin = db.session.merge(tree.admin)
    estate = org.create_area(admin, parent=db.session.merge(tree.a.community), level="estate", name="银融小区")
    grid = org.create_area(admin, parent=estate, level="grid", name="小区网格")
    assert grid.path.startswith(estate.path)


def test_only_an_administrator_creates_a_top_level_area(dbs, tree):
    with pytest.raises(Forbidden):
        org.create_area(db.session.merge(tree.staff_a), parent=None, level="district", name="新区")
    district = org.create_area(db.session.merge(tree.admin), parent=None, level="district", name="新区")
    assert district.path == f"/{district.id}/"


def test_staff_cannot_add_areas_in_another_community(dbs, tree):
    with pytest.raises(NotFound):
        org.create_area(db.session.merge(tree.staff_a), parent=db.session.merge(tree.b.community),
                        level="grid", name="入侵网格")


def test_same_name_twice_under_one_parent_is_refused(dbs, tree):
    with pytest.raises(Conflict):
        org.create_area(db.session.merge(tree.staff_a), parent=db.session.merge(tree.a.community),
                        level="grid", name="第一网格")


def test_blank_name_is_refused(dbs, tree):
    with pytest.raises(Invalid):
        org.create_area(db.session.merge(tree.staff_a), parent=db.session.merge(tree.a.community),
                        level="grid", name="   ")


def test_appointing_replaces_the_head_and_keeps_the_history(dbs, tree, make_user):
    staff = db.session.merge(tree.staff_a)
    unit = db.session.merge(tree.a.unit)
    first = db.session.merge(tree.volunteer_a)
    second = make_user("新单元长", household=tree.a.household, roles=[("resident", tree.a.community)])
    org.appoint_head(staff, unit, first, reason="选举产生", now=T0)
    org.appoint_head(staff, unit, second, reason="换届", now=T0 + timedelta(days=30))

    history = org.head_history(unit)
    assert [(p.user_id, p.since, p.until) for p in history] == [
        (second.id, T0 + timedelta(days=30), None),
        (first.id, T0, T0 + timedelta(days=30)),
    ]
    assert history[1].ended_by_id == staff.id
    assert org.current_post(unit).user_id == second.id
    assert history[0].tier == 3
    # The replaced head lost the head role on that unit; the new one has it.
    assert not any(g.role == Role.head and g.area_id == unit.id for g in first.grants)
    assert any(g.role == Role.head and g.area_id == unit.id for g in second.grants)
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "headpost")).all()
    assert actions.count("head.appoint") == 2


def test_appointing_the_current_head_again_is_a_conflict(dbs, tree):
    staff, unit, person = (db.session.merge(o) for o in (tree.staff_a, tree.a.unit, tree.volunteer_a))
    org.appoint_head(staff, unit, person, now=T0)
    with pytest.raises(Conflict):
        org.appoint_head(staff, unit, person, now=T0)


def test_a_community_has_no_head(dbs, tree):
    with pytest.raises(Refused) as refused:
        org.appoint_head(db.session.merge(tree.staff_a), db.session.merge(tree.a.community),
                         db.session.merge(tree.volunteer_a))
    assert refused.value.code == "not_a_head_level"


def test_staff_cannot_appoint_a_person_of_another_community(dbs, tree):
    with pytest.raises(NotFound):
        org.appoint_head(db.session.merge(tree.staff_a), db.session.merge(tree.a.unit),
                         db.session.merge(tree.resident_b))


def test_ending_a_post_needs_a_reason_and_happens_once(dbs, tree):
    staff = db.session.merge(tree.staff_a)
    post = org.appoint_head(staff, db.session.merge(tree.a.grid), db.session.merge(tree.volunteer_a), now=T0)
    with pytest.raises(Invalid):
        org.end_head_post(staff, post, reason=" ")
    org.end_head_post(staff, post, reason="搬离社区", now=T0 + timedelta(days=1))
    assert post.until == T0 + timedelta(days=1) and post.end_reason == "搬离社区"
    with pytest.raises(Conflict):
        org.end_head_post(staff, post, reason="again")
    assert org.current_post(db.session.merge(tree.a.grid)) is None


def test_units_without_head(dbs, tree):
    staff = db.session.merge(tree.staff_a)
    street = db.session.merge(tree.street)
    assert {u.id for u in org.units_without_head(street)} == {tree.a.unit.id, tree.b.unit.id}
    org.appoint_head(staff, db.session.merge(tree.a.unit), db.session.merge(tree.volunteer_a), now=T0)
    assert [u.id for u in org.units_without_head(street)] == [tree.b.unit.id]
    assert org.count_units_without_head(street) == 1


def test_community_titles_override_the_defaults(dbs, make_area):
    street = make_area("street")
    custom = make_area("community", street, settings={"head_titles": ["片长", "组长", "邻长"]})
    plain = make_area("community", street)
    assert [org.head_title(custom, t) for t in (1, 2, 3)] == ["片长", "组长", "邻长"]
    assert org.head_title(plain, 1) == "网格长"  # Chinese is the default language
    grid = make_area("grid", custom)
    assert org.community_of(db.session.merge(grid)).id == custom.id


def test_find_people_stays_inside_the_scope(dbs, tree):
    staff_a = db.session.merge(tree.staff_a)
    found = org.find_people(staff_a, "居民丙")
    assert found == []
    found = org.find_people(staff_a, tree.volunteer_a.phone[-4:])
    assert [p.id for p in found] == [tree.volunteer_a.id]
    street_found = org.find_people(db.session.merge(tree.street_staff), "居民丙")
    assert [p.id for p in street_found] == [tree.resident_b.id]


def test_concurrent_replacements_leave_one_current_head(app, tree, make_user):
    """Two staff appoint different heads of one unit at the same moment: one current post results."""
    people = [make_user(f"候选{i}", household=tree.a.household) for i in range(2)]

    def appoint(i: int):
        return org.appoint_head(db.session.get(User, tree.staff_a.id), db.session.get(Area, tree.a.unit.id),
                                db.session.get(User, people[i].id))

    errors = [r for r in run_concurrently(app, appoint, 2) if isinstance(r, Exception)]
    with app.app_context():
        current = db.session.scalar(select(func.count()).select_from(HeadPost)
                                    .where(HeadPost.area_id == tree.a.unit.id, HeadPost.until.is_(None)))
    assert current == 1
    assert all(getattr(e, "code", None) in ("post_already_ended", "head_changed_meanwhile") for e in errors), errors
