"""The points ledger: balanced, idempotent, never negative, append-only, expiring, verifiable."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from domain import ledger, rules
from domain.errors import Conflict, Invalid, NotFound, Refused
from domain.ledger import Posting
from models import (
    Account,
    AccountKind,
    AppendOnlyError,
    AuditEvent,
    Entry,
    Lot,
    MonthlyTotal,
    Transaction,
    TxnKind,
    db,
)

NOW = datetime(2026, 6, 15, 4, 0, tzinfo=UTC)


@pytest.fixture
def ctx(ctx):
    """conftest's ctx, with the ledger tests' names: the person whose points move, and another one."""
    ctx.person, ctx.other = ctx.volunteer, ctx.head
    return ctx


def valid_through(expiring) -> dict[str, int]:
    return {day.isoformat(): n for day, n in expiring}


def credit(ctx, amount, key, now=NOW, person=None):
    return ledger.credit(person or ctx.person, ctx.community, amount, kind=TxnKind.service, key=key, now=now)


def test_credit_balances_and_caches(ctx):
    txn = credit(ctx, 30, "service:1")
    assert sum(e.amount for e in txn.entries) == 0
    account = ledger.person_account(ctx.person, ctx.community)
    assert account.balance == 30
    issued = ledger.system_account(ctx.community, AccountKind.issued)
    assert issued.balance == -30
    assert [e.balance_after for e in txn.entries if e.account_id == account.id] == [30]
    assert ledger.verify() == []


def test_unbalanced_transaction_writes_nothing(ctx):
    account = ledger.person_account(ctx.person, ctx.community)
    issued = ledger.system_account(ctx.community, AccountKind.issued)
    with pytest.raises(Invalid):
        ledger.post_transaction(community=ctx.community, kind=TxnKind.service, key="bad",
                                postings=[Posting(account, 10), Posting(issued, -9)])
    with pytest.raises(Invalid):
        ledger.post_transaction(community=ctx.community, kind=TxnKind.service, key="zero",
                                postings=[Posting(account, 0), Posting(issued, 0)])
    assert db.session.scalar(select(func.count()).select_from(Transaction)) == 0


def test_debit_beyond_the_balance_is_refused_and_writes_nothing(ctx):
    credit(ctx, 20, "service:1")
    with pytest.raises(Refused) as refused:
        ledger.debit(ctx.person, ctx.community, 21, kind=TxnKind.redemption, key="redemption:1")
    assert refused.value.code == "insufficient_points"
    assert ledger.person_account(ctx.person, ctx.community).balance == 20
    assert db.session.scalar(select(func.count()).select_from(Transaction)) == 1
    assert ledger.verify() == []


def test_same_key_posts_once_and_returns_the_first(ctx):
    first = credit(ctx, 10, "service:7")
    again = credit(ctx, 10, "service:7")
    assert again.id == first.id
    assert ledger.person_account(ctx.person, ctx.community).balance == 10


def test_reversal_points_at_the_original_and_happens_once(ctx):
    original = credit(ctx, 40, "service:1")
    reversal = ledger.reverse_transaction(original, actor=ctx.staff, reason="重复登记", now=NOW)
    assert reversal.reverses_id == original.id and reversal.kind == TxnKind.reversal
    assert ledger.person_account(ctx.person, ctx.community).balance == 0
    with pytest.raises(Conflict) as conflict:
        ledger.reverse_transaction(original, actor=ctx.staff, reason="again")
    assert conflict.value.code == "already_reversed"
    with pytest.raises(Refused):
        ledger.reverse_transaction(reversal, actor=ctx.staff, reason="undo the undo")
    assert ledger.verify() == []


def test_reversing_spent_points_is_refused(ctx):
    original = credit(ctx, 40, "service:1")
    ledger.debit(ctx.person, ctx.community, 30, kind=TxnKind.redemption, key="redemption:1")
    with pytest.raises(Refused) as refused:
        ledger.reverse_transaction(original, actor=ctx.staff, reason="late")
    assert refused.value.code == "insufficient_points"


def test_refund_gives_back_the_same_lots_with_their_expiry(ctx):
    credit(ctx, 10, "service:2025", now=datetime(2025, 3, 1, tzinfo=UTC))
    credit(ctx, 10, "service:2026", now=NOW)
    spend = ledger.debit(ctx.person, ctx.community, 15, kind=TxnKind.redemption, key="redemption:1", now=NOW)
    assert valid_through(ledger.expiring(ctx.person)) == {"2027-12-31": 5}
    ledger.reverse_transaction(spend, actor=None, reason="cancelled", now=NOW)
    assert valid_through(ledger.expiring(ctx.person)) == {"2026-12-31": 10, "2027-12-31": 10}
    assert ledger.verify() == []


def test_orm_refuses_to_change_or_delete_entries(ctx):
    txn = credit(ctx, 10, "service:1")
    db.session.commit()
    txn.entries[0].amount = 999
    with pytest.raises(AppendOnlyError):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.get(Transaction, txn.id))
    with pytest.raises(AppendOnlyError):
        db.session.flush()
    db.session.rollback()


def test_raw_sql_cannot_change_the_ledger(ctx):
    credit(ctx, 10, "service:1")
    db.session.commit()
    for statement in ("UPDATE ledger_entry SET amount = amount + 1", "DELETE FROM ledger_entry",
                      "UPDATE ledger_transaction SET memo = 'x'", "DELETE FROM ledger_transaction"):
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(text(statement))
        db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Entry)) == 2


def test_points_expire_at_the_end_of_the_next_year_oldest_first(ctx):
    credit(ctx, 10, "service:a", now=datetime(2025, 1, 5, tzinfo=UTC))
    credit(ctx, 7, "service:b", now=datetime(2025, 12, 31, 16, 30, tzinfo=UTC))  # 1 Jan 2026 in Shanghai
    credit(ctx, 5, "service:c", now=datetime(2026, 2, 1, tzinfo=UTC))
    ledger.debit(ctx.person, ctx.community, 4, kind=TxnKind.redemption, key="r1", now=datetime(2026, 3, 1,
                                                                                                 tzinfo=UTC))
    # Still valid on 31 Dec 2026, Beijing time.
    assert ledger.expire_points(datetime(2026, 12, 31, 15, 59, tzinfo=UTC)) == 0
    assert ledger.expire_points(datetime(2026, 12, 31, 16, 0, tzinfo=UTC)) == 1
    account = ledger.person_account(ctx.person, ctx.community)
    assert account.balance == 12  # 10 - 4 spent from the oldest lot = 6 expired
    assert ledger.expire_points(datetime(2027, 1, 2, tzinfo=UTC)) == 0  # idempotent
    assert ledger.expire_points(datetime(2028, 1, 1, tzinfo=UTC)) == 1
    assert ledger.person_account(ctx.person, ctx.community).balance == 0
    expired = db.session.scalars(select(Transaction).where(Transaction.kind == TxnKind.expiry)
                                 .order_by(Transaction.id)).all()
    assert [sum(e.amount for e in t.entries if e.amount < 0) for t in expired] == [-6, -12]
    assert ledger.verify() == []


def test_expiry_can_be_turned_off(ctx):
    rules.set_rule(ctx.staff, ctx.community, "points.expiry_years", 0, now=NOW - timedelta(days=400),
                   effective_from=NOW - timedelta(days=400))
    credit(ctx, 10, "service:1", now=NOW - timedelta(days=300))
    assert ledger.expire_points(datetime(2040, 1, 1, tzinfo=UTC)) == 0
    assert ledger.expiring(ctx.person) == []


def test_monthly_totals_follow_shanghai_months(ctx):
    credit(ctx, 10, "s1", now=datetime(2026, 10, 31, 15, 59, tzinfo=UTC))  # 23:59 on 31 Oct in Beijing
    credit(ctx, 20, "s2", now=datetime(2026, 10, 31, 16, 0, tzinfo=UTC))   # 00:00 on 1 Nov
    ledger.debit(ctx.person, ctx.community, 5, kind=TxnKind.redemption, key="r", now=datetime(2026, 11, 2,
                                                                                                tzinfo=UTC))
    totals = {t.month: (t.earned, t.spent, t.net) for t in db.session.scalars(select(MonthlyTotal))}
    assert totals == {202610: (10, 0, 10), 202611: (20, 5, 15)}
    assert ledger.verify() == []


def test_verify_finds_drift(ctx, runner):
    credit(ctx, 10, "service:1")
    db.session.execute(text("UPDATE ledger_account SET balance = balance + 5 WHERE owner_id IS NOT NULL"))
    db.session.execute(text("UPDATE monthly_total SET earned = 99"))
    problems = ledger.verify()
    assert any("cached balance 15 but entries sum to 10" in p for p in problems)
    assert any("open lots hold 10" in p for p in problems)
    assert any("monthly total" in p for p in problems)


def test_adjustment_needs_a_reason_is_audited_and_stays_in_scope(ctx):
    with pytest.raises(Invalid):
        ledger.adjust(ctx.staff, ctx.person, ctx.community, 5, reason=" ")
    txn = ledger.adjust(ctx.staff, ctx.person, ctx.community, 5, reason="补录服务", now=NOW)
    assert ledger.person_account(ctx.person, ctx.community).balance == 5
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "points.adjust"))
    assert event.reason == "补录服务" and event.object_id == txn.id and event.actor_id == ctx.staff.id
    with pytest.raises(Refused):
        ledger.adjust(ctx.staff, ctx.person, ctx.community, -6, reason="扣减")
    with pytest.raises(NotFound):
        ledger.adjust(ctx.staff_b, ctx.person, ctx.community, 5, reason="越权")


def test_rules_apply_from_their_date_never_backwards(ctx):
    assert rules.rule_value(ctx.community, "service.per_hour.elderly_care", NOW) == 10
    rules.set_rule(ctx.staff, ctx.community, "service.per_hour", 12, effective_from=NOW + timedelta(days=1), now=NOW)
    rules.set_rule(ctx.staff, ctx.community, "service.per_hour.elderly_care", 15, now=NOW)
    assert rules.rule_value(ctx.community, "service.per_hour", NOW) == 10
    assert rules.rule_value(ctx.community, "service.per_hour", NOW + timedelta(days=2)) == 12
    assert rules.rule_value(ctx.community, "service.per_hour.elderly_care", NOW + timedelta(days=2)) == 15
    assert rules.rule_value(ctx.community, "service.per_hour.repairs", NOW + timedelta(days=2)) == 12
    with pytest.raises(Refused) as refused:
        rules.set_rule(ctx.staff, ctx.community, "service.per_hour", 20, effective_from=NOW - timedelta(days=1),
                       now=NOW)
    assert refused.value.code == "rule_not_retroactive"
    with pytest.raises(Invalid):
        rules.set_rule(ctx.staff, ctx.community, "no.such.rule", 1, now=NOW)
    with pytest.raises(NotFound):
        rules.set_rule(ctx.staff_b, ctx.community, "service.per_hour", 1, now=NOW)


def test_ledger_cli(app, runner, tree):
    with app.app_context():
        community = db.session.merge(tree.a.community)
        ledger.credit(db.session.merge(tree.volunteer_a), community, 10, kind=TxnKind.service, key="s",
                      now=datetime(2020, 1, 1, tzinfo=UTC))
        db.session.commit()
    result = runner.invoke(args=["ledger", "verify"])
    assert result.exit_code == 0 and "verified" in result.output
    expired = runner.invoke(args=["points", "expire"])
    assert expired.exit_code == 0 and "1 expiry" in expired.output
    assert "0 expiry" in runner.invoke(args=["points", "expire"]).output
    with app.app_context():
        db.session.execute(text("UPDATE ledger_account SET balance = 3 WHERE owner_id IS NOT NULL"))
        db.session.commit()
    failed = runner.invoke(args=["ledger", "verify"])
    assert failed.exit_code == 1 and "FAILED" in failed.output


def test_lots_cover_the_balance(ctx):
    credit(ctx, 10, "a")
    credit(ctx, 10, "b", person=ctx.other)
    ledger.debit(ctx.person, ctx.community, 3, kind=TxnKind.redemption, key="r")
    open_points = db.session.scalar(select(func.sum(Lot.remaining)).join(Account)
                                    .where(Account.owner_id == ctx.person.id))
    assert open_points == 7
