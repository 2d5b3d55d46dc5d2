"""Service certificates: issued over approved records, fixed when issued, revocable once, verifiable by number."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from flask_babel import gettext
from markupsafe import escape
from openpyxl import load_workbook
from sqlalchemy import func, select

from domain import certificates, service
from domain.errors import Conflict, Invalid, NotFound, Refused
from domain.ledger import SHANGHAI
from models import Area, AuditEvent, Certificate, ServiceRecord, User, db, mask_name, utcnow
from tests.conftest import login, run_concurrently

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # 20:00 on 20 November in Beijing
NUMBER = re.compile(r"^\d{4}-[0-9A-F]{10}$")


def occasion(start: datetime, minutes: int, activity: str = "敬老助餐") -> service.Occasion:
    return service.Occasion(started_at=start, ended_at=start + timedelta(minutes=minutes), category="elderly_care",
                            activity=activity, place="社区食堂", content="为独居老人送餐")


def beijing(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI)


def serve(person: User, community: Area, staff: User, day: date, minutes: int, *, decide: str | None = "approve",
          now: datetime = NOW, activity: str = "敬老助餐") -> ServiceRecord:
    """One record of the person's own service, decided by staff as asked."""
    start = beijing(day)
    [record] = service.submit_records(person, community, [person], occasion(start, minutes, activity),
                                      late=start < now - timedelta(days=6), now=now)
    if decide in ("approve", "revoke"):
        service.approve_record(staff, record, now=now)
    if decide == "revoke":
        service.revoke_record(staff, record, reason="重复登记", now=now)
    if decide == "reject":
        service.reject_record(staff, record, reason="不实", now=now)
    return record


@pytest.fixture
def ctx(ctx):
    """The volunteer of community A with service in every state, on days given in Beijing time."""
    c = ctx
    c.r1 = serve(c.volunteer, c.community, c.staff, date(2026, 11, 18), 120)           # 2 h
    c.r2 = serve(c.volunteer, c.community, c.staff, date(2026, 11, 10), 95)            # 1.5 h credited
    c.early = serve(c.volunteer, c.community, c.staff, date(2026, 6, 1), 60)           # before the period
    c.pending = serve(c.volunteer, c.community, c.staff, date(2026, 11, 19), 60, decide=None)
    c.rejected = serve(c.volunteer, c.community, c.staff, date(2026, 11, 17), 60, decide="reject")
    c.revoked = serve(c.volunteer, c.community, c.staff, date(2026, 11, 16), 60, decide="revoke")
    return c


def issue(ctx, actor=None, person=None, community=None, start=date(2026, 11, 1), end=date(2026, 11, 20), now=NOW):
    return certificates.issue_certificate(actor or ctx.volunteer, person or ctx.volunteer, community or ctx.community,
                                          period_from=start, period_to=end, now=now)


# --- issuing ------------------------------------------------------------------------------------------------------


def test_a_volunteer_issues_their_own_certificate_over_approved_records(ctx):
    certificate = issue(ctx)
    assert NUMBER.match(certificate.number) and certificate.number.startswith("2026-")
    assert certificate.total_minutes == 120 + 90
    assert certificate.record_ids == [ctx.r2.id, ctx.r1.id]  # in the order the service happened
    assert (certificate.person_id, certificate.community_id, certificate.issued_by_id) == (
        ctx.volunteer.id, ctx.community.id, ctx.volunteer.id)
    assert (certificate.period_from, certificate.period_to, certificate.issued_at) == (
        date(2026, 11, 1), date(2026, 11, 20), NOW)
    # Nobody of the community was named to handle certificates: its first staff member does.
    assert (certificate.handler_id, certificate.handler_name, certificate.contact) == (
        ctx.staff.id, ctx.staff.name, ctx.staff.phone)
    assert certificate.revoked_at is None
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "certificate.issue")).all()
    assert event.object_id == certificate.id and event.after["minutes"] == 210


def test_what_a_certificate_says_is_fixed_when_it_is_issued(ctx):
    certificate = issue(ctx)
    service.revoke_record(ctx.staff, ctx.r1, reason="核实为重复", now=NOW)
    db.session.expire_all()
    certificate = certificates.by_number(certificate.number)
    assert certificate.total_minutes == 210
    assert certificates.verification(certificate)["hours"] == "3.5"
    assert [r.id for r in certificates.records_of(certificate)] == [ctx.r2.id, ctx.r1.id]
    # A record approved later does not slip into it either.
    service.approve_record(ctx.staff, ctx.pending, now=NOW)
    assert certificates.by_number(certificate.number).total_minutes == 210
    # A new certificate over the same period says what is true now.
    assert issue(ctx).total_minutes == 90 + 60


def test_records_outside_the_period_or_community_do_not_count(ctx, tree, make_user):
    both = db.session.merge(make_user("两社区志愿者", roles=[("volunteer", tree.a.community),
                                                                ("volunteer", tree.b.community)]))
    serve(both, ctx.community, ctx.staff, date(2026, 11, 12), 60)
    serve(both, ctx.community_b, ctx.staff_b, date(2026, 11, 13), 180)
    serve(both, ctx.community, ctx.staff, date(2026, 10, 31), 120)  # the day before the period
    assert issue(ctx, both, both).total_minutes == 60
    assert issue(ctx, both, both, community=ctx.community_b).total_minutes == 180
    # The period's ends are whole Beijing days, both included.
    assert issue(ctx, start=date(2026, 11, 10), end=date(2026, 11, 10)).total_minutes == 90
    assert issue(ctx, start=date(2026, 6, 1), end=date(2026, 11, 18)).total_minutes == 60 + 90 + 120


@pytest.mark.parametrize(("start", "end"), [
    (date(2026, 1, 1), date(2026, 5, 31)),   # nothing then
    (date(2026, 11, 19), date(2026, 11, 19)),  # only a record still waiting for approval
    (date(2026, 11, 16), date(2026, 11, 17)),  # only a revoked and a rejected record
])
def test_no_approved_service_in_the_period_is_refused(ctx, start, end):
    with pytest.raises(Refused) as refused:
        issue(ctx, start=start, end=end)
    assert refused.value.code == "no_service_in_period"
    assert db.session.scalar(select(func.count()).select_from(Certificate)) == 0


@pytest.mark.parametrize(("start", "end"), [
    (date(2026, 11, 20), date(2026, 11, 1)),   # ends before it starts
    (date(2026, 11, 1), date(2026, 11, 21)),   # ends in the future
    (date(2016, 1, 1), date(2026, 11, 20)),    # more than ten years: a typing mistake
    (None, date(2026, 11, 20)),
    (date(2026, 11, 1), None),
])
def test_a_period_that_cannot_be_is_refused(ctx, start, end):
    with pytest.raises(Invalid) as refused:
        issue(ctx, start=start, end=end)
    assert refused.value.code == "period_invalid" and refused.value.fields
    assert db.session.scalar(select(func.count()).select_from(Certificate)) == 0


def test_today_is_the_beijing_day(ctx):
    early = datetime(2026, 11, 19, 17, 0, tzinfo=UTC)  # already 01:00 on 20 November in Beijing
    assert issue(ctx, end=date(2026, 11, 20), now=early).number


def test_staff_issue_for_a_person_of_their_community_and_handle_it(ctx):
    certificate = issue(ctx, actor=ctx.street_staff)
    assert (certificate.issued_by_id, certificate.handler_id, certificate.handler_name) == (
        ctx.street_staff.id, ctx.street_staff.id, ctx.street_staff.name)
    certificate = issue(ctx, actor=ctx.staff)
    assert (certificate.person_id, certificate.handler_id) == (ctx.volunteer.id, ctx.staff.id)


@pytest.mark.parametrize(("actor", "person", "community"), [
    ("staff_b", "volunteer", "community"),    # staff of B, in A
    ("staff_b", "volunteer", "community_b"),  # staff of B, for a person of A who never served in B
    ("head", "volunteer", "community"),       # a head is no staff
    ("resident_b", "resident_b", "community"),  # oneself, in a community one has nothing to do with
    ("staff", "resident_b", "community"),     # staff of A, for a person of B
])
def test_nobody_issues_outside_their_reach(ctx, actor, person, community):
    with pytest.raises(NotFound):
        issue(ctx, actor=getattr(ctx, actor), person=getattr(ctx, person), community=getattr(ctx, community))
    assert db.session.scalar(select(func.count()).select_from(Certificate)) == 0


def test_only_a_community_certifies(ctx, tree):
    with pytest.raises(NotFound):
        issue(ctx, community=db.session.merge(tree.a.grid))


def test_the_community_may_name_its_handler_and_contact(ctx):
    ctx.community.settings = {"certificate_handler": "李主任", "contact_phone": "0431-85551234"}
    db.session.flush()
    certificate = issue(ctx)
    assert (certificate.handler_id, certificate.handler_name, certificate.contact) == (None, "李主任",
                                                                                       "0431-85551234")
    ctx.community.settings = {"certificate_handler": ctx.staff.id}
    db.session.flush()
    assert issue(ctx).handler_id == ctx.staff.id


def test_a_community_without_staff_has_nobody_to_handle_certificates(ctx, tree, make_area, make_user):
    community = db.session.merge(make_area("community", tree.street, name="新建社区"))
    person = db.session.merge(make_user("新社区志愿者", roles=[("volunteer", community)]))
    serve(person, community, ctx.street_staff, date(2026, 11, 18), 60)
    with pytest.raises(Refused) as refused:
        issue(ctx, actor=person, person=person, community=community)
    assert refused.value.code == "no_handler"


def test_numbers_are_unique_and_a_clash_is_retried(ctx, monkeypatch):
    first = issue(ctx)
    fresh = iter([first.number, first.number, "2026-00000000AB"])
    monkeypatch.setattr(certificates, "new_number", lambda now: next(fresh))
    second = issue(ctx)
    assert second.number == "2026-00000000AB" and second.total_minutes == 210
    assert db.session.scalar(select(func.count()).select_from(Certificate)) == 2


def test_numbers_are_not_in_sequence(ctx):
    numbers = {issue(ctx).number for _ in range(5)}
    assert len(numbers) == 5 and all(NUMBER.match(n) for n in numbers)


# --- revoking -------------------------------------------------------------------------------------------------------


def test_staff_revoke_once_with_a_reason(ctx):
    certificate = issue(ctx)
    for reason in ("", "   ", None):
        with pytest.raises(Invalid) as refused:
            certificates.revoke_certificate(ctx.staff, certificate, reason=reason, now=NOW)
        assert refused.value.code == "reason_required"
    assert certificate.revoked_at is None
    certificates.revoke_certificate(ctx.staff, certificate, reason=" 服务记录有误 ", now=NOW + timedelta(days=1))
    assert (certificate.revoked_at, certificate.revoke_reason) == (NOW + timedelta(days=1), "服务记录有误")
    assert certificates.verification(certificate)["valid"] is False
    with pytest.raises(Conflict) as twice:
        certificates.revoke_certificate(ctx.staff, certificate, reason="再次", now=NOW + timedelta(days=2))
    assert twice.value.code == "already_revoked" and certificate.revoke_reason == "服务记录有误"
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "certificate.revoke")).all()
    assert [(e.actor_id, e.reason) for e in events] == [(ctx.staff.id, "服务记录有误")]


def test_staff_revoking_at_once_revoke_once(app, threaded_app, tree, make_user, number):
    staff = [make_user(f"干部{i}", roles=[("staff", tree.a.community)]).id for i in range(6)]

    def revoke(i):
        certificate = db.session.scalar(select(Certificate).where(Certificate.number == number))
        return certificates.revoke_certificate(db.session.get(User, staff[i]), certificate, reason=f"理由{i}")

    results = run_concurrently(threaded_app, revoke, len(staff))
    codes = sorted("ok" if isinstance(r, Certificate) else getattr(r, "code", repr(r)) for r in results)
    assert codes == ["already_revoked"] * (len(staff) - 1) + ["ok"]
    winner = next(i for i, r in enumerate(results) if isinstance(r, Certificate))
    with app.app_context():
        assert _certificate(app, number).revoke_reason == f"理由{winner}"
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.action == "certificate.revoke")) == 1


@pytest.mark.parametrize("who", ["volunteer", "staff_b", "head"])
def test_only_staff_of_the_issuing_community_revoke(ctx, who):
    certificate = issue(ctx)
    with pytest.raises(NotFound):
        certificates.revoke_certificate(getattr(ctx, who), certificate, reason="想撤销", now=NOW)
    assert certificate.revoked_at is None


# --- reading ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "masked"), [("王小明", "王**"), ("欧阳娜娜", "欧***"), ("李雷", "李*"), ("李", "李"),
                                              (" 张三 ", "张*"), ("", "")])
def test_names_are_masked(name, masked):
    assert mask_name(name) == masked


def test_verification_shows_no_personal_data_beyond_a_masked_name(ctx):
    certificate = issue(ctx)
    assert certificates.verification(certificate) == {
        "number": certificate.number, "valid": True, "name": "志***", "hours": "3.5",
        "period_from": date(2026, 11, 1), "period_to": date(2026, 11, 20), "issuer": "银融社区", "issued_at": NOW}


def test_numbers_are_found_however_they_are_typed(ctx):
    certificate = issue(ctx)
    assert certificates.by_number(f"  {certificate.number.lower()} ") is certificate
    for wrong in ("2026-0000000000", "", "x" * 40, None):
        with pytest.raises(NotFound):
            certificates.by_number(wrong)


@pytest.mark.parametrize(("who", "readable"), [("volunteer", True), ("staff", True), ("street_staff", True),
                                                ("head", False), ("staff_b", False), ("resident_b", False)])
def test_the_whole_certificate_is_for_its_person_and_the_issuing_staff(ctx, who, readable):
    certificate = issue(ctx)
    if readable:
        assert certificates.readable(getattr(ctx, who), certificate.number) is certificate
    else:
        with pytest.raises(NotFound):
            certificates.readable(getattr(ctx, who), certificate.number)


def test_the_register_finds_by_name_volunteer_number_or_certificate_number(ctx, tree, make_user):
    mine = issue(ctx)
    other = db.session.merge(make_user("王小明", roles=[("volunteer", tree.a.community)]))
    serve(other, ctx.community, ctx.staff, date(2026, 11, 12), 60)
    theirs = issue(ctx, other, other)

    def found(text):
        return [c.id for c in db.session.scalars(certificates.register(ctx.community, text))]

    assert found(None) == [theirs.id, mine.id] and certificates.count(certificates.register(ctx.community)) == 2
    assert found("小明") == [theirs.id]
    assert found(certificates.volunteer_number(ctx.volunteer)) == [mine.id]
    assert found(certificates.volunteer_number(ctx.volunteer).lower()) == [mine.id]
    assert found(mine.number.lower()) == [mine.id]
    assert found("%") == [] and found("_") == []
    assert found("无此人") == []
    assert [c.id for c in db.session.scalars(certificates.register(ctx.community_b))] == []
    # Whatever is typed into the search box, the register answers rather than failing.
    for odd in ("²", "ZY²", "9" * 30, "ZY" + "9" * 30, "١٢"):
        assert found(odd) == []


def test_of_person_lists_newest_first(ctx):
    first = issue(ctx, now=NOW)
    second = issue(ctx, now=NOW + timedelta(hours=1))
    assert [c.id for c in certificates.of_person(ctx.volunteer)] == [second.id, first.id]
    assert certificates.of_person(ctx.staff) == []


def test_issuing_communities_are_where_one_belongs_or_served(ctx):
    assert [c.id for c in certificates.issuing_communities(ctx.volunteer)] == [ctx.community.id]
    assert [c.id for c in certificates.issuing_communities(ctx.resident_b)] == [ctx.community_b.id]


def test_the_pdf_is_a_real_pdf_with_the_number(ctx, app):
    certificate = issue(ctx)
    with app.test_request_context():
        data = certificates.certificate_pdf(certificate, f"http://localhost/certificates/{certificate.number}")
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert certificate.number.encode() in data and b"STSong-Light" in data


def test_a_long_list_of_records_continues_on_more_pages(ctx, app):
    day = date(2026, 1, 1)
    for i in range(40):
        serve(ctx.volunteer, ctx.community, ctx.staff, day + timedelta(days=i), 60, activity=f"长期服务{i}" * 8)
    certificate = issue(ctx, start=date(2026, 1, 1), end=date(2026, 11, 20))
    with app.test_request_context():
        data = certificates.certificate_pdf(certificate, "http://localhost/x")
    assert data.startswith(b"%PDF-") and len(re.findall(rb"/Type /Page\b", data)) >= 2


# --- pages and API ------------------------------------------------------------------------------------------------


def _today() -> date:
    return utcnow().astimezone(SHANGHAI).date()


def _flash(page: str, kind: str = "error") -> str:
    return " ".join(re.findall(rf'<p class="flash flash-{kind}"[^>]*>(.*?)</p>', page, re.S))


def _message(app, msgid: str, **kw) -> str:
    with app.test_request_context():
        return str(escape(gettext(msgid, **kw)))


@pytest.fixture
def served(app, tree):
    """The volunteer of A has 2 h yesterday and 1.5 h three days ago approved, and 1 h waiting (Beijing days)."""
    with app.app_context():
        person, staff = db.session.get(User, tree.volunteer_a.id), db.session.get(User, tree.staff_a.id)
        community = db.session.get(Area, tree.a.community.id)
        now = utcnow()
        serve(person, community, staff, _today() - timedelta(days=1), 120, now=now)
        serve(person, community, staff, _today() - timedelta(days=3), 90, now=now)
        serve(person, community, staff, _today() - timedelta(days=2), 60, now=now, decide=None)
        db.session.commit()


@pytest.fixture
def number(app, tree, served) -> str:
    """A certificate of the volunteer's last month, issued by themself."""
    with app.app_context():
        person = db.session.get(User, tree.volunteer_a.id)
        certificate = certificates.issue_certificate(person, person, db.session.get(Area, tree.a.community.id),
                                                     period_from=_today() - timedelta(days=30), period_to=_today())
        db.session.commit()
        return certificate.number


def _certificate(app, number: str) -> Certificate:
    with app.app_context():
        found = db.session.scalar(select(Certificate).where(Certificate.number == number))
        _ = found and (found.person, found.community)
        return found


def _certificates(app) -> list[Certificate]:
    with app.app_context():
        return list(db.session.scalars(select(Certificate).order_by(Certificate.id)))


def test_a_volunteer_gets_a_certificate_on_their_page(app, client, tree, served):
    login(client, tree.volunteer_a)
    page = client.get("/me/certificates")
    assert page.status_code == 200 and f'value="{tree.a.community.id}"' in page.text
    response = client.post("/me/certificates", data={
        "community_id": str(tree.a.community.id), "period_from": (_today() - timedelta(days=30)).isoformat(),
        "period_to": _today().isoformat()})
    [certificate] = _certificates(app)
    assert response.status_code == 302 and response.location.endswith(f"/certificates/{certificate.number}/document")
    assert certificate.total_minutes == 210 and certificate.issued_by_id == tree.volunteer_a.id
    document = client.get(response.location).text
    assert certificate.number in document and "志愿者乙" in document
    assert certificates.volunteer_number(tree.volunteer_a) in document
    assert re.search(r'data-testid="hours">[^<]*3\.5', document)
    assert f"/certificates/{certificate.number}/pdf" in document and "<svg" in document
    assert "Revoke" not in document and f"/certificates/{certificate.number}/revoke" not in document
    listed = client.get("/me/certificates").text
    assert certificate.number in listed


@pytest.mark.parametrize(("start", "end", "message"), [
    (0, 30, "Choose a period that starts before it ends and does not end in the future."),
    (30, -1, "Choose a period that starts before it ends and does not end in the future."),
    (200, 100, "There is no approved service in this period to certify."),
])
def test_the_page_refuses_a_period_that_cannot_be_certified(app, client, tree, served, start, end, message):
    login(client, tree.volunteer_a)
    page = client.post("/me/certificates", data={
        "community_id": str(tree.a.community.id), "period_from": (_today() - timedelta(days=start)).isoformat(),
        "period_to": (_today() - timedelta(days=end)).isoformat()})
    assert page.status_code == 200 and _message(app, message) in _flash(page.text)
    assert _certificates(app) == []


def test_a_community_one_has_nothing_to_do_with_cannot_be_chosen(app, client, tree, served):
    login(client, tree.volunteer_a)
    page = client.post("/me/certificates", data={
        "community_id": str(tree.b.community.id), "period_from": (_today() - timedelta(days=30)).isoformat(),
        "period_to": _today().isoformat()})
    assert page.status_code == 200 and _certificates(app) == []


def test_anyone_verifies_a_certificate_by_its_number_without_signing_in(app, client, tree, number):
    page = client.get(f"/certificates/{number}")
    assert page.status_code == 200
    assert 'data-testid="valid"' in page.text and 'data-testid="invalid"' not in page.text
    assert re.search(r'data-testid="name">志\*\*\*<', page.text)  # 志愿者乙: one star for each hidden character
    assert re.search(r'data-testid="hours">[^<]*3\.5', page.text) and "银融社区" in page.text
    for private in ("志愿者乙", tree.volunteer_a.phone, tree.volunteer_a.phone[-4:],
                    certificates.volunteer_number(tree.volunteer_a)):
        assert private not in page.text
    assert client.get(f"/certificates/{number.lower()}").status_code == 200


def test_a_revoked_certificate_verifies_as_invalid(app, client, tree, number):
    login(client, tree.staff_a)
    response = client.post(f"/certificates/{number}/revoke", data={"reason": "服务记录有误"})
    assert response.status_code == 302
    client.post("/logout")
    page = client.get(f"/certificates/{number}").text
    assert 'data-testid="invalid"' in page and 'data-testid="valid"' not in page
    assert "服务记录有误" not in page  # the reason is for the register, not for strangers


def test_an_unknown_number_is_not_found(client, tree):
    assert client.get("/certificates/2026-0000000000").status_code == 404
    assert client.get("/certificates/" + "9" * 100).status_code == 404


class TestApi:
    def test_verify_by_number_without_a_token(self, app, client, tree, number):
        response = client.get(f"/api/v1/certificates/{number}")
        assert response.status_code == 200, response.text
        body = response.json
        assert set(body) == {"number", "valid", "name", "hours", "period_from", "period_to", "issuer", "issued_at"}
        assert (body["number"], body["valid"], body["name"], body["hours"], body["issuer"]) == (
            number, True, "志***", "3.5", "银融社区")
        assert body["period_from"] == (_today() - timedelta(days=30)).isoformat()
        assert body["period_to"] == _today().isoformat()
        issued_at = datetime.fromisoformat(body["issued_at"])
        assert issued_at.utcoffset() is not None and abs(issued_at - utcnow()) < timedelta(minutes=5)
        assert "志愿者乙" not in response.text and tree.volunteer_a.phone not in response.text

    def test_a_revoked_certificate_is_not_valid(self, app, client, tree, number):
        with app.app_context():
            certificate = db.session.scalar(select(Certificate).where(Certificate.number == number))
            certificates.revoke_certificate(db.session.get(User, tree.staff_a.id), certificate, reason="有误")
            db.session.commit()
        body = client.get(f"/api/v1/certificates/{number.lower()}").json
        assert body["valid"] is False and body["hours"] == "3.5"

    @pytest.mark.parametrize("unknown", ["2026-0000000000", "x", "9" * 100])
    def test_an_unknown_number_is_404_in_the_error_shape(self, client, tree, unknown):
        response = client.get(f"/api/v1/certificates/{unknown}")
        assert response.status_code == 404 and response.is_json
        assert set(response.json) == {"error"} and response.json["error"]["code"] == "not_found"
        assert response.json["error"]["message"]

    def test_it_is_in_the_openapi_description_without_security(self, client):
        spec = client.get("/api/v1/openapi.json").json
        operation = spec["paths"]["/api/v1/certificates/{number}"]["get"]
        assert operation.get("security") == [] and "200" in operation["responses"]


@pytest.mark.parametrize(("who", "status"), [
    ("volunteer_a", 200), ("staff_a", 200), ("street_staff", 200), ("admin", 200),
    ("head_a", 404), ("staff_b", 404), ("resident_b", 404),
])
def test_the_document_and_pdf_are_for_the_person_and_the_issuing_staff(app, client, tree, number, who, status):
    login(client, getattr(tree, who))
    document = client.get(f"/certificates/{number}/document")
    assert document.status_code == status
    pdf = client.get(f"/certificates/{number}/pdf")
    assert pdf.status_code == status
    if status == 200:
        assert pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF-")
        assert number.encode() in pdf.data
        assert f"certificate-{number}.pdf" in pdf.headers["Content-Disposition"]
    else:
        assert "志愿者乙" not in document.text and not pdf.data.startswith(b"%PDF")


def test_the_document_needs_signing_in(client, tree, number):
    for url in (f"/certificates/{number}/document", f"/certificates/{number}/pdf"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.location


def test_staff_issue_a_certificate_for_a_person_of_their_community(app, client, tree, served):
    login(client, tree.staff_a)
    url = f"/areas/{tree.a.community.id}/certificates/new"
    search = client.get(f"{url}?q=志愿者")
    assert search.status_code == 200 and f"person_id={tree.volunteer_a.id}" in search.text
    page = client.get(f"{url}?person_id={tree.volunteer_a.id}")
    assert page.status_code == 200 and "志愿者乙" in page.text
    response = client.post(url, data={"person_id": str(tree.volunteer_a.id),
                                      "period_from": (_today() - timedelta(days=30)).isoformat(),
                                      "period_to": _today().isoformat()})
    [certificate] = _certificates(app)
    assert response.status_code == 302 and response.location.endswith(f"/certificates/{certificate.number}/document")
    assert (certificate.person_id, certificate.issued_by_id, certificate.handler_id) == (
        tree.volunteer_a.id, tree.staff_a.id, tree.staff_a.id)
    assert certificate.total_minutes == 210
    document = client.get(response.location).text
    assert f"/certificates/{certificate.number}/revoke" in document


@pytest.mark.parametrize(("who", "community", "person"), [
    ("staff_b", "a", "volunteer_a"),   # another community's staff, in A
    ("staff_b", "b", "volunteer_a"),   # in their own community, for a person of A
    ("staff_a", "a", "resident_b"),    # for a person of another community
    ("volunteer_a", "a", "volunteer_a"),  # not staff
])
def test_staff_issue_only_inside_their_community(app, client, tree, served, who, community, person):
    login(client, getattr(tree, who))
    url = f"/areas/{getattr(tree, community).community.id}/certificates/new"
    person_id = getattr(tree, person).id
    assert client.get(f"{url}?person_id={person_id}").status_code == 404
    response = client.post(url, data={"person_id": str(person_id),
                                      "period_from": (_today() - timedelta(days=30)).isoformat(),
                                      "period_to": _today().isoformat()})
    assert response.status_code == 404 and _certificates(app) == []


@pytest.mark.parametrize("person_id", ["²", "99999999999999999999999", "-1", "abc", "999999"])
def test_an_odd_person_id_is_not_found_rather_than_a_server_error(app, client, tree, served, person_id):
    login(client, tree.staff_a)
    url = f"/areas/{tree.a.community.id}/certificates/new"
    assert client.get(url, query_string={"person_id": person_id}).status_code == 404
    response = client.post(url, data={"person_id": person_id, "period_from": _today().isoformat(),
                                      "period_to": _today().isoformat()})
    assert response.status_code == 404 and _certificates(app) == []


def test_staff_revoke_with_a_reason_once_through_the_page(app, client, tree, number):
    login(client, tree.staff_a)
    page = client.post(f"/certificates/{number}/revoke", data={"reason": ""}, follow_redirects=True)
    assert _message(app, "Say why the certificate is revoked.") in _flash(page.text)
    assert _certificate(app, number).revoked_at is None
    page = client.post(f"/certificates/{number}/revoke", data={"reason": "服务记录有误"}, follow_redirects=True)
    assert page.status_code == 200 and _flash(page.text, "success")
    assert "服务记录有误" in page.text and 'role="alert"' in page.text
    assert f"/certificates/{number}/revoke" not in page.text  # no second revoke button
    revoked_at = _certificate(app, number).revoked_at
    assert revoked_at is not None
    page = client.post(f"/certificates/{number}/revoke", data={"reason": "再次撤销"}, follow_redirects=True)
    assert _message(app, "This certificate has already been revoked.") in _flash(page.text)
    assert (_certificate(app, number).revoked_at, _certificate(app, number).revoke_reason) == (revoked_at,
                                                                                               "服务记录有误")


@pytest.mark.parametrize("who", ["volunteer_a", "head_a", "staff_b"])
def test_only_the_issuing_staff_revoke_through_the_page(app, client, tree, number, who):
    login(client, getattr(tree, who))
    response = client.post(f"/certificates/{number}/revoke", data={"reason": "我不想要了"})
    assert response.status_code == 404
    assert _certificate(app, number).revoked_at is None


@pytest.mark.parametrize(("who", "status"), [("staff_a", 200), ("street_staff", 200), ("admin", 200),
                                              ("staff_b", 404), ("volunteer_a", 404), ("head_a", 404)])
def test_the_register_is_for_staff_of_the_community(client, tree, number, who, status):
    login(client, getattr(tree, who))
    page = client.get(f"/areas/{tree.a.community.id}/certificates")
    assert page.status_code == status
    export = client.get(f"/areas/{tree.a.community.id}/certificates.xlsx")
    export.close()
    assert export.status_code == status
    if status == 200:
        assert number in page.text and "志愿者乙" in page.text
    else:
        assert number not in page.text


def test_the_register_searches_and_never_fails_on_what_is_typed(client, tree, number):
    login(client, tree.staff_a)
    url = f"/areas/{tree.a.community.id}/certificates"
    assert number in client.get(url, query_string={"q": "志愿者"}).text
    assert number in client.get(url, query_string={"q": certificates.volunteer_number(tree.volunteer_a)}).text
    assert number in client.get(url, query_string={"q": number.lower()}).text
    assert number not in client.get(url, query_string={"q": "王小明"}).text
    for odd in ("²", "ZY" + "9" * 30, "%_"):
        assert client.get(url, query_string={"q": odd}).status_code == 200
        export = client.get(f"{url}.xlsx", query_string={"q": odd})
        export.close()
        assert export.status_code == 200
    assert client.get(f"/areas/{tree.a.grid.id}/certificates").status_code == 404
    for page in ("2", "0", "-3", "x", "9" * 25):  # past the end, nonsense, or too big for the database
        response = client.get(url, query_string={"page": page})
        assert response.status_code == 200 and number in response.text


def test_the_register_exports_as_xlsx(app, client, tree, number):
    with app.app_context():
        certificate = db.session.scalar(select(Certificate).where(Certificate.number == number))
        certificates.revoke_certificate(db.session.get(User, tree.staff_a.id), certificate, reason="重复开具")
        db.session.commit()
    login(client, tree.staff_a)
    response = client.get(f"/areas/{tree.a.community.id}/certificates.xlsx")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert f"certificates-{tree.a.community.id}-" in response.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.data)).active
    response.close()
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    [row] = [r for r in rows if r[0] == number]
    assert row[1:4] == ["志愿者乙", certificates.volunteer_number(tree.volunteer_a),
                        (_today() - timedelta(days=30)).isoformat()]
    assert row[4] == _today().isoformat() and row[5] == 3.5 and row[6] == 2
    assert row[7] == "银融干部" and row[-1] == "重复开具"
    assert len(rows) == 3  # title, headers, the one certificate
