"""A person's own data (PIPL art. 45: the right to access and copy): everything held about them, as JSON and .xlsx.

The export is a list of sections, each a table about the person: profile, roles, head posts, teams, service
records and hours, certificates, points (accounts, every entry, monthly totals), events, published rankings,
the audit trail of decisions by or about them, and API tokens (never their secrets). Other capabilities add
their own section with `add_section(ExportSection(...))` from their own module (needs and tasks, redemptions,
honours), and both downloads pick it up.

Only the person's own data: other people appear by id or not at all (a head post's appointer is staff by id).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, or_, select

from domain import reports
from domain.certificates import volunteer_number
from domain.labels import level_name, metric_name, role_name, service_status_name, txn_kind_name
from domain.leaderboards import month_text
from domain.reports import write_sheets
from domain.service import hours_text
from models import (
    Account,
    ApiToken,
    Area,
    Attendance,
    AuditEvent,
    Certificate,
    Entry,
    Event,
    HeadPost,
    HoursMonthly,
    LeaderboardLine,
    LeaderboardSnapshot,
    MonthlyTotal,
    Registration,
    ServiceRecord,
    Team,
    TeamMember,
    Transaction,
    User,
    db,
    utcnow,
)


@dataclass(frozen=True)
class ExportSection:
    key: str
    title: str
    #: (key in the JSON, column header in the .xlsx), in column order.
    columns: list[tuple[str, str]]
    #: The person's rows as dicts keyed like `columns` (values: text, numbers, dates, enums, None).
    rows: Callable[[User], Iterable[dict]]
    #: Place in the export: lower first. Built-in sections use 10–120; needs 130, market 140, honours 150.
    order: int = 200


_SECTIONS: dict[str, ExportSection] = {}


def add_section(section: ExportSection) -> ExportSection:
    """Add (or replace, by key) a section of the personal export. Call it once from the capability's own module."""
    _SECTIONS[section.key] = section
    return section


def sections() -> list[ExportSection]:
    return sorted(_SECTIONS.values(), key=lambda s: (s.order, s.key))


# --- values ----------------------------------------------------------------------------------------------------

def json_value(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    return value


def cell_value(value):
    if value is None:
        return ""
    if isinstance(value, datetime):
        return reports.local(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict | list):
        return str(value)
    return value


# --- the export ------------------------------------------------------------------------------------------------

def personal_data(person: User, now: datetime | None = None) -> dict:
    """Everything held about the person, JSON-ready: {"generated_at", "person_id", "sections": {key: {...}}}."""
    now = now or utcnow()
    return {
        "generated_at": now.isoformat(),
        "person_id": person.id,
        "sections": {
            section.key: {"title": str(section.title),
                          "rows": [{key: json_value(row.get(key)) for key, _header in section.columns}
                                   for row in section.rows(person)]}
            for section in sections()},
    }


def personal_xlsx(person: User, now: datetime | None = None):
    """The same as an .xlsx, one sheet per section with Chinese headers and the generated date."""
    now = now or utcnow()

    def sheet(section: ExportSection):
        keys = [key for key, _header in section.columns]
        rows = ([cell_value(row.get(key)) for key in keys] for row in section.rows(person))
        return str(section.title), [str(header) for _key, header in section.columns], rows

    return write_sheets((sheet(section) for section in sections()), now)


# --- the built-in sections -------------------------------------------------------------------------------------

def _area_names(ids: Iterable[int]) -> dict[int, str]:
    """'示范区 / 东风街道 / 银融社区 …' for each area id, in one query."""
    areas = list(db.session.scalars(select(Area).where(Area.id.in_(set(ids)))))
    names = dict(db.session.execute(select(Area.id, Area.name).where(
        Area.id.in_({i for a in areas for i in a.ancestor_ids}))).all())
    return {a.id: " / ".join(names.get(i, "?") for i in a.ancestor_ids) for a in areas}


def _profile(person: User):
    household = person.household
    path = _area_names([household.unit_id]).get(household.unit_id, "") if household else ""
    yield {"name": person.name, "phone": person.phone, "volunteer_number": volunteer_number(person),
           "household": f"{path} {household.label}".strip() if household else None,
           "public_consent": person.public_consent, "honour_consent": person.honour_consent,
           "birth_date": person.birth_date, "guardian_id": person.guardian_id, "active": person.active,
           "created_at": person.created_at}


def _roles(person: User):
    names = _area_names(g.area_id for g in person.grants if g.area_id)
    for grant in sorted(person.grants, key=lambda g: g.id):
        yield {"role": role_name(grant.role), "area": names.get(grant.area_id, _("Whole installation")),
               "since": grant.created_at}


def _head_posts(person: User):
    posts = list(db.session.scalars(select(HeadPost).where(HeadPost.user_id == person.id)
                                     .order_by(HeadPost.since, HeadPost.id)))
    names = _area_names(p.area_id for p in posts)
    for post in posts:
        yield {"area": names.get(post.area_id), "level": level_name(post.area.level), "tier": post.tier,
               "since": post.since, "until": post.until, "reason": post.reason, "end_reason": post.end_reason}


def _teams(person: User):
    for member, team in db.session.execute(
            select(TeamMember, Team).join(Team, TeamMember.team_id == Team.id)
            .where(TeamMember.user_id == person.id).order_by(TeamMember.requested_at, TeamMember.id)):
        yield {"team": team.name, "community": team.community.name, "status": member.status,
               "requested_at": member.requested_at, "decided_at": member.decided_at}


def _service_records(person: User):
    for r in db.session.scalars(select(ServiceRecord).where(ServiceRecord.person_id == person.id)
                                .order_by(ServiceRecord.started_at, ServiceRecord.id)):
        yield {"id": r.id, "community": r.community.name, "team": r.team.name if r.team else None,
               "category": r.category, "activity": r.activity, "place": r.place, "recipients": r.recipients,
               "content": r.content, "started_at": r.started_at, "ended_at": r.ended_at, "minutes": r.minutes,
               "credited_minutes": r.credited_minutes, "status": service_status_name(r.status),
               "source": r.source, "late": r.late, "submitted_at": r.submitted_at, "decided_at": r.decided_at,
               "decision_reason": r.decision_reason, "points": r.points}


def _hours_by_month(person: User):
    for month, community, minutes in db.session.execute(
            select(HoursMonthly.month, Area.name, HoursMonthly.minutes)
            .join(Area, HoursMonthly.community_id == Area.id)
            .where(HoursMonthly.person_id == person.id).order_by(HoursMonthly.month, Area.name)):
        yield {"month": month_text(month), "community": community, "minutes": minutes,
               "hours": Decimal(hours_text(minutes))}


def _certificates(person: User):
    for c in db.session.scalars(select(Certificate).where(Certificate.person_id == person.id)
                                .order_by(Certificate.issued_at, Certificate.id)):
        yield {"number": c.number, "community": c.community.name, "period_from": c.period_from,
               "period_to": c.period_to, "hours": Decimal(hours_text(c.total_minutes)), "issued_at": c.issued_at,
               "revoked_at": c.revoked_at, "revoke_reason": c.revoke_reason}


def _accounts(person: User):
    for account, community in db.session.execute(
            select(Account, Area.name).join(Area, Account.community_id == Area.id)
            .where(Account.owner_id == person.id).order_by(Account.id)):
        yield {"community": community, "balance": account.balance, "opened_at": account.created_at}


def _entries(person: User):
    for entry, txn in db.session.execute(
            select(Entry, Transaction).join(Transaction, Entry.transaction_id == Transaction.id)
            .join(Account, Entry.account_id == Account.id).where(Account.owner_id == person.id)
            .order_by(Transaction.created_at, Entry.id).execution_options(yield_per=1000)):
        yield {"at": txn.created_at, "kind": txn_kind_name(txn.kind), "amount": entry.amount,
               "balance_after": entry.balance_after, "memo": txn.memo, "transaction": txn.id}


def _points_by_month(person: User):
    for total, community in db.session.execute(
            select(MonthlyTotal, Area.name).join(Area, MonthlyTotal.community_id == Area.id)
            .where(MonthlyTotal.person_id == person.id).order_by(MonthlyTotal.month, Area.name)):
        yield {"month": month_text(total.month), "community": community, "earned": total.earned,
               "spent": total.spent, "expired": total.expired, "net": total.net}


def _events(person: User):
    registered = set(db.session.scalars(select(Registration.event_id).where(Registration.person_id == person.id)))
    attended = {a.event_id: a for a in db.session.scalars(select(Attendance).where(Attendance.person_id == person.id))}
    for event in db.session.scalars(select(Event).where(Event.id.in_(registered | set(attended)))
                                    .order_by(Event.starts_at, Event.id)):
        a = attended.get(event.id)
        yield {"event": event.title, "starts_at": event.starts_at, "place": event.place,
               "registered": event.id in registered, "checked_in_at": a.checked_in_at if a else None,
               "checked_out_at": a.checked_out_at if a else None, "minutes": a.minutes if a else None}


def _rankings(person: User):
    for line, kept in db.session.execute(
            select(LeaderboardLine, LeaderboardSnapshot)
            .join(LeaderboardSnapshot, LeaderboardLine.snapshot_id == LeaderboardSnapshot.id)
            .where(LeaderboardLine.person_id == person.id)
            .order_by(LeaderboardSnapshot.month, LeaderboardSnapshot.metric)):
        yield {"month": month_text(kept.month), "community": kept.community.name, "metric": metric_name(kept.metric),
               "rank": line.rank, "value": line.value, "named_publicly": person.public_consent}


def _audit(person: User):
    records = select(ServiceRecord.id).where(ServiceRecord.person_id == person.id)
    posts = select(HeadPost.id).where(HeadPost.user_id == person.id)
    about_me = or_(AuditEvent.actor_id == person.id,
                   and_(AuditEvent.object_type == "user", AuditEvent.object_id == person.id),
                   and_(AuditEvent.object_type == "servicerecord", AuditEvent.object_id.in_(records)),
                   and_(AuditEvent.object_type == "headpost", AuditEvent.object_id.in_(posts)))
    for event in db.session.scalars(select(AuditEvent).where(about_me).order_by(AuditEvent.at, AuditEvent.id)
                                    .execution_options(yield_per=1000)):
        yield {"at": event.at, "action": event.action, "by_me": event.actor_id == person.id,
               "object": f"{event.object_type}:{event.object_id}", "reason": event.reason,
               "before": event.before, "after": event.after}


def _tokens(person: User):
    for token in db.session.scalars(select(ApiToken).where(ApiToken.user_id == person.id)
                                    .order_by(ApiToken.created_at, ApiToken.id)):
        yield {"created_at": token.created_at, "expires_at": token.expires_at, "revoked_at": token.revoked_at}


def _section(key: str, title, columns: list[tuple[str, object]], rows, order: int) -> None:
    add_section(ExportSection(key, title, columns, rows, order))


_section("profile", _l("Profile"), [
    ("name", _l("Full name")), ("phone", _l("Phone")), ("volunteer_number", _l("Volunteer number")),
    ("household", _l("Household")), ("public_consent", _l("Shown on public lists")),
    ("honour_consent", _l("May be named in honour notices")), ("birth_date", _l("Date of birth")),
    ("guardian_id", _l("Guardian (person number)")), ("active", _l("Active")),
    ("created_at", _l("Registered"))], _profile, 10)
_section("roles", _l("Roles"), [("role", _l("Role")), ("area", _l("Area")), ("since", _l("Since"))], _roles, 20)
_section("head_posts", _l("Head posts"), [
    ("area", _l("Area")), ("level", _l("Level")), ("tier", _l("Tier")), ("since", _l("Since")),
    ("until", _l("Until")), ("reason", _l("Note")), ("end_reason", _l("Why the post ended"))], _head_posts, 30)
_section("teams", _l("Teams"), [
    ("team", _l("Team")), ("community", _l("Community")), ("status", _l("Membership")),
    ("requested_at", _l("Asked at")), ("decided_at", _l("Decided at"))], _teams, 40)
_section("service_records", _l("Service records"), [
    ("id", _l("Number")), ("community", _l("Community")), ("team", _l("Team")), ("category", _l("Category")),
    ("activity", _l("Activity")), ("place", _l("Place")), ("recipients", _l("Served")), ("content", _l("Content")),
    ("started_at", _l("Start")), ("ended_at", _l("End")), ("minutes", _l("Minutes")),
    ("credited_minutes", _l("Minutes counted")), ("status", _l("Status")), ("source", _l("Recorded by way of")),
    ("late", _l("Late entry")), ("submitted_at", _l("Submitted")), ("decided_at", _l("Decided at")),
    ("decision_reason", _l("Reason")), ("points", _l("Points"))], _service_records, 50)
_section("hours_by_month", _l("Hours by month"), [
    ("month", _l("Month")), ("community", _l("Community")), ("minutes", _l("Minutes")), ("hours", _l("Hours"))],
    _hours_by_month, 60)
_section("certificates", _l("Certificates"), [
    ("number", _l("Certificate number")), ("community", _l("Community")), ("period_from", _l("From")),
    ("period_to", _l("To")), ("hours", _l("Hours")), ("issued_at", _l("Issued")), ("revoked_at", _l("Revoked")),
    ("revoke_reason", _l("Reason"))], _certificates, 70)
_section("points_accounts", _l("Points accounts"), [
    ("community", _l("Community")), ("balance", _l("Balance")), ("opened_at", _l("Opened"))], _accounts, 80)
_section("points_entries", _l("Points history"), [
    ("at", _l("Time")), ("kind", _l("Kind")), ("amount", _l("Points")), ("balance_after", _l("Balance after")),
    ("memo", _l("Memo")), ("transaction", _l("Transaction"))], _entries, 90)
_section("points_by_month", _l("Points by month"), [
    ("month", _l("Month")), ("community", _l("Community")), ("earned", _l("Earned")), ("spent", _l("Spent")),
    ("expired", _l("Expired")), ("net", _l("Net"))], _points_by_month, 100)
_section("events", _l("Events"), [
    ("event", _l("Event")), ("starts_at", _l("Start")), ("place", _l("Venue")), ("registered", _l("Registered")),
    ("checked_in_at", _l("Checked in at")), ("checked_out_at", _l("Checked out at")), ("minutes", _l("Minutes"))],
    _events, 110)
_section("rankings", _l("Published rankings"), [
    ("month", _l("Month")), ("community", _l("Community")), ("metric", _l("Ranked by")), ("rank", _l("Rank")),
    ("value", _l("Points or minutes")), ("named_publicly", _l("Shown with my name"))], _rankings, 115)
_section("audit", _l("Decisions by or about me"), [
    ("at", _l("Time")), ("action", _l("Action")), ("by_me", _l("By me")), ("object", _l("Object")),
    ("reason", _l("Reason")), ("before", _l("Before")), ("after", _l("After"))], _audit, 118)
_section("api_tokens", _l("App sign-ins"), [
    ("created_at", _l("Created")), ("expires_at", _l("Expires")), ("revoked_at", _l("Revoked"))], _tokens, 120)
