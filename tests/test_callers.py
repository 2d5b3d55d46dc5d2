"""The caller behind a bearer token (domain/callers.py): a light principal, kept by each worker under the person's
access version, which the database moves on with every change that matters. A change made through another worker
(a second app on the same database, with its own cache) is seen by the first on its very next request."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select, update

from domain import accounts, callers
from models import ApiToken, RoleGrant, User, db
from tests.conftest import sent_statements, token_for


def open_event(client, staff: dict, area_id: int) -> str:
    """A new event of the area open for check-in now: its code."""
    now = datetime.now(UTC)
    made = client.post("/api/v1/events", headers=staff, json={
        "title": "健康讲座", "kind": "training", "area_id": area_id, "place": "活动室",
        "starts_at": (now - timedelta(minutes=5)).isoformat(), "ends_at": (now + timedelta(hours=1)).isoformat(),
        "category": "health"})
    assert made.status_code == 201, made.text
    return client.get(f"/api/v1/events/{made.json['id']}/checkin-code", headers=staff).json["token"]


def check_in(client, caller: dict, code: str):
    return client.post("/api/v1/checkins", headers=caller, json={"token": code})


def test_a_known_caller_is_read_with_one_light_statement(app, client, tree):
    """On the hot paths (check-in, scan, redemption)."""
    staff = token_for(client, tree.staff_a)
    volunteer = token_for(client, tree.volunteer_a)
    codes = [open_event(client, staff, tree.a.community.id) for _ in range(2)]
    with sent_statements(app) as first:
        assert check_in(client, volunteer, codes[0]).status_code == 201
    with sent_statements(app) as second:
        answer = check_in(client, volunteer, codes[1])
    assert answer.status_code == 201 and answer.json["name"] == "志愿者乙"
    # The first request built the principal (its grants' areas joined); the second took it from the worker's cache,
    # after the one statement every request runs: the token and its person's state.
    assert [s for s in first if "grant_area" in s] and not [s for s in second if "grant_area" in s]
    assert len([s for s in second if "api_token" in s]) == 1
    assert len(second) == len(first) - 1
    # Nothing of the person is loaded as an ORM object on the hot path (a check-in's answer names the caller).
    assert not [s for s in second if re.search(r'FROM "?(user|role_grant)\b', s)]


def test_a_token_revoked_on_another_worker_is_refused_at_once(app, client, other_worker, tree):
    staff = token_for(client, tree.staff_a)
    volunteer = token_for(client, tree.volunteer_a)
    assert check_in(client, volunteer, open_event(client, staff, tree.a.community.id)).status_code == 201
    with sent_statements(app) as sent:  # the caller is known to this worker now
        assert check_in(client, volunteer, open_event(client, staff, tree.a.community.id)).status_code == 201
    assert not [s for s in sent if "grant_area" in s]
    assert other_worker.test_client().delete("/api/v1/auth/token", headers=volunteer).status_code == 204
    refused = check_in(client, volunteer, open_event(client, staff, tree.a.community.id))
    assert refused.status_code == 401 and refused.json["error"]["code"] == "invalid_token"
    assert client.get("/api/v1/me", headers=volunteer).status_code == 401


def _disable(person_id: int, staff_id: int) -> None:
    accounts.set_active(db.session.get(User, staff_id), db.session.get(User, person_id), False, reason="搬走了")


def _expire(person_id: int, _staff_id: int) -> None:
    db.session.execute(update(ApiToken).where(ApiToken.user_id == person_id)
                       .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))


def _deactivate_only(person_id: int, _staff_id: int) -> None:
    """Inactive, its tokens left as they are: the person's own state refuses them."""
    db.session.execute(update(User).where(User.id == person_id).values(active=False))


def _sign_out_everywhere(person_id: int, _staff_id: int) -> None:
    accounts.sign_out_everywhere(db.session.get(User, person_id))


@pytest.mark.parametrize("change", [_disable, _expire, _deactivate_only, _sign_out_everywhere])
def test_a_caller_ended_on_another_worker_is_refused_at_once(app, client, other_worker, tree, change):
    staff = token_for(client, tree.staff_a)
    volunteer = token_for(client, tree.volunteer_a)
    assert check_in(client, volunteer, open_event(client, staff, tree.a.community.id)).status_code == 201
    code = open_event(client, staff, tree.a.community.id)
    with other_worker.app_context():
        change(tree.volunteer_a.id, tree.staff_a.id)
        db.session.commit()
    assert check_in(client, volunteer, code).status_code == 401
    assert client.get("/api/v1/me", headers=volunteer).status_code == 401


def _drop_grant_orm(person_id: int) -> None:
    for grant in db.session.scalars(select(RoleGrant).where(RoleGrant.user_id == person_id)):
        db.session.delete(grant)


def _drop_grant_core(person_id: int) -> None:
    """As the roster import and the sync write: one bulk statement, no ORM object."""
    db.session.execute(delete(RoleGrant).where(RoleGrant.user_id == person_id))


def _move_home_core(person_id: int) -> None:
    db.session.execute(update(User).where(User.id == person_id).values(household_id=None))


@pytest.mark.parametrize("change", [_drop_grant_orm, _drop_grant_core, _move_home_core])
def test_roles_and_household_changed_on_another_worker_count_at_once(app, client, other_worker, tree, make_user,
                                                                       change):
    """A person one of community A by a role alone (or by a household alone) checks in there; once another worker
    takes the role (or the household) away, the first refuses the next check-in."""
    staff = token_for(client, tree.staff_a)
    by_role = change is not _move_home_core
    person = make_user("新志愿者", roles=[("volunteer", tree.a.community)] if by_role else [],
                       household=None if by_role else tree.a.household)
    caller = token_for(client, person)
    assert check_in(client, caller, open_event(client, staff, tree.a.community.id)).status_code == 201
    with other_worker.app_context():
        change(person.id)
        db.session.commit()
    refused = check_in(client, caller, open_event(client, staff, tree.a.community.id))
    assert refused.status_code == 403 and refused.json["error"]["code"] == "not_in_scope"


def test_a_role_granted_on_another_worker_counts_at_once(app, client, other_worker, tree, make_user):
    staff = token_for(client, tree.staff_a)
    person = make_user("新居民", roles=[("resident", tree.b.community)])
    caller = token_for(client, person)
    code = open_event(client, staff, tree.a.community.id)
    assert check_in(client, caller, code).status_code == 403
    with other_worker.app_context():
        db.session.add(RoleGrant(user_id=person.id, role="volunteer", area_id=tree.a.community.id))
        db.session.commit()
    assert check_in(client, caller, code).status_code == 201


def test_the_access_version_moves_with_what_a_principal_holds(dbs, tree):
    def version() -> int:
        return db.session.scalar(select(User.access_version).where(User.id == tree.volunteer_a.id))

    person = db.session.get(User, tree.volunteer_a.id)
    start = version()
    person.public_consent = not person.public_consent  # not held by a principal: the version stays
    db.session.flush()
    assert version() == start
    person.name = "志愿者丁"
    db.session.flush()
    assert version() == start + 1
    principal = callers.load_principal(person.id)
    assert principal.name == "志愿者丁" and principal.stamp[1] == start + 1
    assert {(g.role.value, g.area_id) for g in principal.grants} == {("volunteer", tree.a.community.id)}
    assert principal.household.unit.path == tree.a.unit.path


def test_a_worker_keeps_a_bounded_number_of_principals(dbs, tree):
    kept = callers.Principals(size=2)
    people = [callers.load_principal(p.id) for p in (tree.staff_a, tree.volunteer_a, tree.head_a)]
    for principal in people:
        kept.put(principal)
    assert kept.get(people[0].id, people[0].stamp) is None
    assert all(kept.get(p.id, p.stamp) is p for p in people[1:])


def test_a_worker_forgets_the_principal_used_longest_ago_and_reads_it_afresh_when_it_calls_again(dbs, tree):
    kept = callers.Principals(size=2)
    staff, volunteer, head = (callers.load_principal(p.id) for p in (tree.staff_a, tree.volunteer_a, tree.head_a))
    kept.put(staff)
    kept.put(volunteer)
    assert kept.get(staff.id, staff.stamp) is staff  # used now: the volunteer is the one used longest ago
    kept.put(head)
    assert len(kept) == 2 and kept.get(volunteer.id, volunteer.stamp) is None
    assert kept.get(staff.id, staff.stamp) is staff and kept.get(head.id, head.stamp) is head
    clear, _ = accounts.issue_token(db.session.get(User, tree.volunteer_a.id))
    with sent_statements() as sent:
        found = callers.bearer(clear, kept)
    assert [s for s in sent if "grant_area" in s]  # read again, not taken from anywhere
    assert found.principal == volunteer and found.principal is not volunteer
    assert kept.get(volunteer.id, volunteer.stamp) is found.principal
    assert len(kept) == 2 and kept.get(staff.id, staff.stamp) is None


def test_a_view_needing_the_person_reads_them_with_the_token_in_one_statement(app, client, tree):
    """... and leaves the principal to the worker: the hot path that follows reads only the token's state."""
    staff = token_for(client, tree.staff_a)
    volunteer = token_for(client, tree.volunteer_a)
    code = open_event(client, staff, tree.a.community.id)
    with sent_statements(app) as sent:
        me = client.get("/api/v1/me", headers=volunteer)
    assert me.status_code == 200 and me.json["name"] == "志愿者乙"
    assert len([s for s in sent if "api_token" in s]) == 1
    assert not [s for s in sent if re.search(r'FROM "?(user|role_grant)\b', s)]
    with sent_statements(app) as sent:
        assert check_in(client, volunteer, code).status_code == 201
    assert not [s for s in sent if "grant_area" in s]
