"""The demo district: team hours this month, balances that read in time order, events to try at once."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from domain import demo, events, ledger, teams
from domain.ledger import SHANGHAI
from models import (
    Account,
    AccountKind,
    Area,
    Attendance,
    CheckMethod,
    Entry,
    Event,
    EventKind,
    Registration,
    Role,
    RoleGrant,
    ServiceRecord,
    ServiceSource,
    ServiceStatus,
    Team,
    Transaction,
    TxnKind,
    User,
    db,
)

#: Mid-month, mid-morning in Beijing: 2026-11-18 10:00.
MID_MONTH = datetime(2026, 11, 18, 2, 0, tzinfo=UTC)
#: Half an hour into a new year in Beijing: the points of the year before last have just expired.
NEW_YEAR = datetime(2027, 1, 1, 0, 30, tzinfo=SHANGHAI)

COUNTED = (Area, User, Team, ServiceRecord, Transaction, Entry, Event, Registration, Attendance)


def counts() -> list[int]:
    return [db.session.scalar(select(func.count()).select_from(model)) for model in COUNTED]


def balances_out_of_order() -> list[tuple[int, int, int]]:
    """(account, running sum, balance after) wherever a person's entries, read oldest first by their
    transaction's time, do not add up to the balance each says it left behind."""
    rows = db.session.execute(
        select(Entry.account_id, Entry.amount, Entry.balance_after)
        .join(Transaction, Entry.transaction_id == Transaction.id).join(Account, Entry.account_id == Account.id)
        .where(Account.kind == AccountKind.person).order_by(Entry.account_id, Transaction.created_at, Entry.id)).all()
    running: dict[int, int] = {}
    wrong = []
    for account_id, amount, balance_after in rows:
        running[account_id] = running.get(account_id, 0) + amount
        if running[account_id] != balance_after:
            wrong.append((account_id, running[account_id], balance_after))
    return wrong


def person(phone: str) -> User:
    return db.session.scalar(select(User).where(User.phone == phone))


def test_demo_has_team_hours_events_to_try_and_balances_in_time_order_and_loads_once(dbs):
    assert demo.seed(now=MID_MONTH)
    assert ledger.verify() == []
    assert balances_out_of_order() == []
    assert db.session.scalar(select(func.count()).select_from(Transaction).where(
        Transaction.kind == TxnKind.redemption)) > 20

    # Every team shows hours this month and this year; much of the service is the teams'.
    team_ids = list(db.session.scalars(select(Team.id)))
    assert len(team_ids) == 6
    hours = teams.hours_by_team(team_ids, now=MID_MONTH)
    assert all(h.month > 0 and h.year > h.month for h in hours.values()), hours
    approved = dict(db.session.execute(select(ServiceRecord.source, func.count())
                                       .where(ServiceRecord.status == ServiceStatus.approved)
                                       .group_by(ServiceRecord.source)).all())
    assert approved[ServiceSource.team] * 3 > sum(approved.values())
    assert approved[ServiceSource.event] > 0

    # Past events are closed: every attendance became an approved, paid record (or says why not).
    past = db.session.scalars(select(Event).where(Event.ends_at < MID_MONTH)).all()
    assert {e.kind for e in past} == {EventKind.activity, EventKind.training, EventKind.meeting}
    assert all(e.closed_at is not None for e in past)
    attended = db.session.scalars(select(Attendance).join(Event).where(Event.ends_at < MID_MONTH)).all()
    assert len(attended) > 30 and all(a.processed_at is not None for a in attended)
    assert all(a.service_record_id or a.note for a in attended)
    assert {a.checked_in_method for a in attended} == {CheckMethod.event_code, CheckMethod.scan, CheckMethod.manual}
    assert CheckMethod.auto in {a.checked_out_method for a in attended}
    records = [db.session.get(ServiceRecord, a.service_record_id) for a in attended if a.service_record_id]
    assert len(records) > 30
    assert all(r.status == ServiceStatus.approved and r.points > 0 for r in records)

    # One event is on now (besides 南湖社区's, which ends SOON), a few already in: its code checks the demo volunteer
    # in, and staff can scan someone's own code.
    (on_now,) = db.session.scalars(select(Event).where(Event.starts_at <= MID_MONTH,
                                                       Event.ends_at > MID_MONTH + demo.SOON))
    assert events.counts(on_now).checked_in > 0
    token = events.event_code(on_now, now=MID_MONTH).token
    assert events.check_in_with_code(person("13700000001"), token, now=MID_MONTH).status == "checked_in"
    community_people = db.session.scalars(
        select(User).join(RoleGrant, RoleGrant.user_id == User.id)
        .where(RoleGrant.area_id == on_now.community_id, RoleGrant.role == Role.volunteer).order_by(User.id)).all()
    present = {a.person_id for a in events.attendances(on_now)}
    newcomer = next(p for p in community_people if p.id not in present)
    scanned = events.scan(person("13800000101"), on_now, events.personal_code(newcomer, now=MID_MONTH).token,
                          now=MID_MONTH)
    assert scanned.status == "checked_in"

    # One coming event takes registrations up to a capacity, and the demo volunteer has a place.
    (limited,) = db.session.scalars(select(Event).where(Event.starts_at > MID_MONTH, Event.registration))
    assert limited.capacity is not None and 0 < limited.registered < limited.capacity
    assert events.is_registered(limited, person("13700000001"))

    before = counts()
    assert not demo.seed(now=MID_MONTH)
    assert counts() == before


def test_demo_seeded_on_new_years_day_expires_last_years_points_at_midnight_in_order(dbs):
    assert demo.seed(now=NEW_YEAR)
    assert ledger.verify() == []
    assert balances_out_of_order() == []
    expiries = db.session.scalars(select(Transaction).where(Transaction.kind == TxnKind.expiry)).all()
    assert expiries
    assert {t.created_at for t in expiries} == {datetime(2027, 1, 1, tzinfo=SHANGHAI)}
    (on_now,) = db.session.scalars(select(Event).where(Event.starts_at <= NEW_YEAR,
                                                       Event.ends_at > NEW_YEAR + demo.SOON))
    assert events.window(on_now)[0] <= NEW_YEAR


def test_the_demo_moves_on_by_itself_minutes_after_seeding(dbs):
    """`make run` starts the scheduler: a few minutes after seeding, an event of 南湖社区 is closed into service and
    its good-neighbour campaign opens its voting, with no one doing anything."""
    from domain import jobs
    from models import Attendance, Campaign, Event, Phase, ServiceRecord

    assert demo.seed(now=MID_MONTH)
    dbs.commit()
    soon = dbs.scalar(select(Event).where(Event.title == "南湖社区敬老院探访"))
    campaign = dbs.scalar(select(Campaign).where(Campaign.phase == Phase.nomination))
    soon_id, campaign_id = soon.id, campaign.id
    assert "南湖社区" in campaign.title and soon.closed_at is None

    def scheduler_at(moment):
        for name in ("events close", "campaigns advance"):
            assert jobs.run(jobs.job_named(jobs.JOBS, name), now=moment).ok

    scheduler_at(MID_MONTH + demo.SOON - timedelta(minutes=1))
    assert dbs.get(Event, soon_id).closed_at is None and dbs.get(Campaign, campaign_id).phase == Phase.nomination
    scheduler_at(MID_MONTH + demo.SOON + timedelta(minutes=1))
    assert dbs.get(Event, soon_id).closed_at is not None
    assert dbs.get(Campaign, campaign_id).phase == Phase.voting
    records = dbs.scalars(select(ServiceRecord).join(Attendance, Attendance.service_record_id == ServiceRecord.id)
                          .where(Attendance.event_id == soon_id)).all()
    assert len(records) >= 3 and all(r.status.value == "approved" for r in records)
