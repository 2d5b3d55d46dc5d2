"""The periodic jobs: each item in its own transaction, so one poisoned row fails alone (named, logged) while every
other item is done and the job exits non-zero; each job's poisoned row is real corrupt data, put there with SQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text, update

from domain import events, ledger, market, tasks
from models import Area, Campaign, Event, JobRun, Outcome, Phase, Redemption, RedemptionStatus, Task, TxnKind, User, db
from tests import test_market, test_tasks
from tests.test_events import form as event_form
from tests.test_honours import World

NOW = datetime.now(UTC)


def _ran(runner, *args):
    result = runner.invoke(args=list(args))
    return result.exit_code, result.output


def _last_run(app, job: str) -> JobRun:
    with app.app_context():
        return db.session.scalars(select(JobRun).where(JobRun.job == job).order_by(JobRun.id.desc())).first()


def test_events_close_goes_past_an_event_of_year_one(app, runner, tree, caplog):
    """The reported case: an absurd date (saved through the API before dates were bounded) made `flask events
    close` die with OverflowError, and every later event of the deployment stopped turning into service."""
    with app.app_context():
        staff, volunteer = db.session.get(User, tree.staff_a.id), db.session.get(User, tree.volunteer_a.id)
        community = db.session.get(Area, tree.a.community.id)
        made = []
        for title in ("坏日期", "楼道清洁", "已是9999年"):
            start = NOW - timedelta(hours=3)
            event = events.create_event(staff, community, event_form(title=title, starts_at=start,
                                                                     ends_at=start + timedelta(hours=2)), now=start)
            events.check_in_by_hand(staff, event, volunteer, now=start + timedelta(minutes=10))
            made.append(event.id)
        db.session.commit()
        poisoned, good, far = made
        # As the API saved them: starting in year 1 (its check-in window opens before datetime.min), and in 9999.
        db.session.execute(update(Event).where(Event.id == poisoned).values(
            starts_at=datetime(1, 1, 1, tzinfo=UTC), ends_at=datetime(1, 1, 1, 2, tzinfo=UTC)))
        db.session.execute(update(Event).where(Event.id == far).values(starts_at=datetime(9999, 12, 31, tzinfo=UTC)))
        db.session.commit()
    code, output = _ran(runner, "events", "close")
    assert code == 1, output
    assert "2 event(s) closed" in output
    assert "1 of 3 failed:" in output and f"event {poisoned} (OverflowError: date value out of range)" in output
    assert f"events close: event {poisoned} failed" in caplog.text and "Traceback" in caplog.text
    with app.app_context():
        assert db.session.get(Event, good).closed_at is not None
        assert db.session.get(Event, poisoned).closed_at is None
    record = _last_run(app, "events close")
    assert (record.outcome, record.items_done, record.items_failed) == (Outcome.failed, 2, 1)
    assert f"event {poisoned} (OverflowError" in record.message


def test_points_expire_goes_past_an_account_whose_balance_drifted(app, runner, tree):
    with app.app_context():
        community = db.session.get(Area, tree.a.community.id)
        people = [db.session.get(User, u.id) for u in (tree.volunteer_a, tree.head_a, tree.staff_a)]
        for n, person in enumerate(people):
            ledger.credit(person, community, 10, kind=TxnKind.service, key=f"s{n}",
                          now=datetime(2020, 1, 1, tzinfo=UTC))
        db.session.commit()
        poisoned = db.session.scalar(text("SELECT account_id FROM point_lot ORDER BY id LIMIT 1 OFFSET 1"))
        # Its cached balance drifted below what its lots hold: the expiry's guarded debit is refused.
        db.session.execute(text("UPDATE ledger_account SET balance = 3 WHERE id = :a"), {"a": poisoned})
        db.session.commit()
    code, output = _ran(runner, "points", "expire")
    assert code == 1, output
    assert "2 expiry transaction(s) posted." in output
    assert "1 of 3 failed:" in output and f"account {poisoned} (lots of 2021-12-31" in output
    assert "insufficient_points" in output


def test_tasks_escalate_goes_past_a_need_whose_time_limit_overflows(app, runner, tree, make_user):
    with app.app_context():
        test_tasks.setup_need(app, tree, make_user)
        first = db.session.scalar(select(Task).order_by(Task.id))
        second = tasks.post_need(db.session.get(User, first.resident_id), db.session.get(Area, first.area_id),
                                 test_tasks.need(category="repairs"), now=test_tasks.T0)
        db.session.commit()
        # A rule row no form would take: a plumbing need waits 10⁹ hours at each tier, past the calendar's end.
        db.session.execute(text("INSERT INTO points_rule (community_id, key, value, effective_from, created_at) "
                                "VALUES (:c, 'task.escalate_hours.plumbing', 1000000000, :at, :at)"),
                           {"c": tree.a.community.id, "at": datetime(2000, 1, 1, tzinfo=UTC)})
        db.session.execute(update(Task).values(due_at=NOW - timedelta(hours=1)))
        db.session.commit()
        poisoned, good = first.id, second.id
    code, output = _ran(runner, "tasks", "escalate")
    assert code == 1, output
    assert output.startswith("1 need(s) moved up"), output
    assert f"task {poisoned} (OverflowError" in output
    with app.app_context():
        assert db.session.get(Task, good).tier < db.session.get(Task, poisoned).tier


def test_market_expire_goes_past_a_reservation_without_its_debit(app, runner, tree):
    with app.app_context():
        staff, volunteer = db.session.get(User, tree.staff_a.id), db.session.get(User, tree.volunteer_a.id)
        community = db.session.get(Area, tree.a.community.id)
        reward = market.create_reward(staff, community, test_market.form(price=10))
        test_market.give(volunteer, community, 100)
        made = [market.redeem(volunteer, reward, now=NOW - timedelta(days=20)).redemption.id for _ in range(3)]
        db.session.commit()
        poisoned = made[1]
        db.session.execute(update(Redemption).where(Redemption.id == poisoned).values(transaction_id=None))
        db.session.commit()
    code, output = _ran(runner, "market", "expire")
    assert code == 1, output
    assert "2 redemption(s) expired and refunded." in output
    assert "1 of 3 failed:" in output and f"redemption {poisoned} (" in output
    with app.app_context():
        statuses = {r.id: r.status for r in db.session.scalars(select(Redemption))}
        assert statuses == {made[0]: RedemptionStatus.expired, poisoned: RedemptionStatus.reserved,
                            made[2]: RedemptionStatus.expired}


def test_campaigns_advance_goes_past_a_campaign_whose_notice_ends_after_9999(app, runner, tree, make_user,
                                                                           make_area):
    with app.app_context():
        w = World(tree, make_user, make_area)
        made = []
        for _ in range(2):
            campaign = w.campaign()
            nomination = w.candidate(campaign)
            w.to(campaign, Phase.review)
            w.shortlist(campaign, nomination)
            made.append(campaign.id)
        poisoned, good = made
        # A notice of 2.1 million working days, which no form takes: it would end after the calendar does.
        db.session.execute(update(Campaign).where(Campaign.id == poisoned).values(notice_days=2_100_000))
        db.session.commit()
    code, output = _ran(runner, "campaigns", "advance")
    assert code == 1, output
    assert "1 phase change(s)." in output and f"campaign {good}: review → notice" in output
    assert f"campaign {poisoned} (OverflowError" in output
    with app.app_context():
        assert db.session.get(Campaign, good).phase == Phase.notice
        assert db.session.get(Campaign, poisoned).phase == Phase.review


def test_checks_report_every_drift_and_run_every_check(app, runner, tree, make_user, make_area):
    """A verification's items are its checks (the ledger's, the market's) or the campaigns: a drifted row is a
    failure named, and the checks after it still run."""
    with app.app_context():
        community = db.session.get(Area, tree.a.community.id)
        ledger.credit(db.session.get(User, tree.volunteer_a.id), community, 10, kind=TxnKind.service, key="s")
        w = World(tree, make_user, make_area)
        campaigns = [w.campaign().id for _ in range(3)]
        for campaign_id in campaigns:
            w.candidate(db.session.get(Campaign, campaign_id))
        db.session.commit()
        # Two drifts in two different checks: a cached balance, and the lots that no longer cover it.
        db.session.execute(text("UPDATE ledger_account SET balance = 3 WHERE owner_id IS NOT NULL"))
        db.session.execute(text("UPDATE nomination SET votes = 3 WHERE campaign_id = :c"), {"c": campaigns[1]})
        db.session.commit()
    code, output = _ran(runner, "ledger", "verify")
    assert code == 1 and "Ledger verification FAILED: 2 problem(s)" in output, output
    assert "cached balance 3 but entries sum to 10" in output and "balance 3 but open lots hold 10" in output
    code, output = _ran(runner, "campaigns", "verify")
    assert code == 1 and "Campaign verification FAILED: 1 problem(s)" in output, output
    record = _last_run(app, "campaigns verify")
    assert (record.items_done, record.items_failed) == (3, 1)
    assert _ran(runner, "market", "verify")[0] == 0


def test_a_check_that_breaks_is_named_and_the_others_still_run(app, runner, tree, monkeypatch):
    """Not a mock of the database: a check that raises (a bug, say) fails alone."""
    def broken():
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(market, "CHECKS", (market.stock_problems, broken, market.ledger_problems))
    code, output = _ran(runner, "market", "verify")
    assert code == 1 and "check broken (ZeroDivisionError: division by zero)" in output
    record = _last_run(app, "market verify")
    assert (record.items_done, record.items_failed) == (2, 1)


def test_a_job_that_cannot_list_its_items_fails_as_a_whole(app, runner):
    code, output = _ran(runner, "leaderboards", "snapshot", "--month", "2999-01")
    assert code == 1 and "listing the items (month_not_over" in output
    assert _last_run(app, "leaderboards snapshot").outcome == Outcome.failed


def test_each_run_is_recorded(app, runner):
    assert _ran(runner, "events", "close")[0] == 0
    record = _last_run(app, "events close")
    assert record.outcome == Outcome.ok and record.finished_at >= record.started_at
    assert record.message == "0 event(s) closed, 0 attendance(s) turned into service records."
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(JobRun)) == 1


def test_leaderboards_snapshot_goes_past_a_community_whose_row_is_corrupt(app, runner, tree):
    with app.app_context():
        for person, community in ((tree.volunteer_a, tree.a.community), (tree.resident_b, tree.b.community)):
            ledger.credit(db.session.get(User, person.id), db.session.get(Area, community.id), 40,
                          kind=TxnKind.service, key=f"s{person.id}", now=datetime(2025, 3, 10, tzinfo=UTC))
        db.session.commit()
        # A level no version of the code knows: the community's row cannot be read.
        db.session.execute(text("UPDATE area SET level = 'hamlet' WHERE id = :b"), {"b": tree.b.community.id})
        db.session.commit()
    code, output = _ran(runner, "leaderboards", "snapshot", "--month", "2025-03")
    assert code == 1, output
    assert "2 ranking(s) kept." in output and "2 of 4 failed:" in output
    assert f"community {tree.b.community.id} (points" in output and "LookupError" in output
    with app.app_context():
        db.session.execute(text("UPDATE area SET level = 'community' WHERE id = :b"), {"b": tree.b.community.id})
        db.session.commit()
