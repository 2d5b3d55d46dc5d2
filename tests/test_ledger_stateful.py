"""Random postings, debits, reversals and expiries: after every step every ledger invariant holds."""

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import func, select

from domain import ledger
from domain.errors import Conflict, Refused
from models import Account, Area, Level, Lot, Transaction, TxnKind, User, db

KINDS = [TxnKind.service, TxnKind.task, TxnKind.event, TxnKind.honour]


def test_ledger_invariants_hold_under_random_operations(app, tree):
    serial = itertools.count()

    class LedgerMachine(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.ctx = app.app_context()
            self.ctx.push()
            n = next(serial)
            community = Area(level=Level.community, name=f"随机社区{n}", parent_id=tree.street.id)
            db.session.add(community)
            db.session.flush()
            community.path = f"{tree.street.path}{community.id}/"
            self.community = community
            self.people = [User(name=f"志愿者{n}-{i}", phone=f"150{n:04d}{i:04d}") for i in range(3)]
            db.session.add_all(self.people)
            db.session.commit()
            self.clock = datetime(2025, 1, 1, tzinfo=UTC)
            self.balances = [0, 0, 0]
            self.credits: list[tuple[int, int]] = []  # (transaction id, person index)
            self.debits: list[tuple[int, int]] = []
            self.keys = itertools.count()

        def teardown(self):
            db.session.rollback()
            db.session.remove()
            self.ctx.pop()

        def _key(self) -> str:
            return f"{self.community.id}:{next(self.keys)}"

        @rule(who=st.integers(0, 2), amount=st.integers(1, 200), kind=st.sampled_from(KINDS))
        def credit(self, who, amount, kind):
            txn = ledger.credit(self.people[who], self.community, amount, kind=kind, key=self._key(), now=self.clock)
            db.session.commit()
            self.balances[who] += amount
            self.credits.append((txn.id, who))

        @rule(who=st.integers(0, 2), amount=st.integers(1, 300))
        def debit(self, who, amount):
            try:
                txn = ledger.debit(self.people[who], self.community, amount, kind=TxnKind.redemption,
                                   key=self._key(), now=self.clock)
            except Refused:
                db.session.rollback()
                assert amount > self.balances[who]
                return
            db.session.commit()
            assert amount <= self.balances[who]
            self.balances[who] -= amount
            self.debits.append((txn.id, who))

        @rule(data=st.data())
        def replay_a_key(self, data):
            """Posting an existing key again changes nothing."""
            if not self.credits:
                return
            txn_id, who = data.draw(st.sampled_from(self.credits))
            txn = db.session.get(Transaction, txn_id)
            again = ledger.credit(self.people[who], self.community, 999, kind=TxnKind.service,
                                  key=txn.idempotency_key, now=self.clock)
            db.session.commit()
            assert again.id == txn_id

        @precondition(lambda self: self.credits or self.debits)
        @rule(data=st.data())
        def reverse(self, data):
            txn_id, who = data.draw(st.sampled_from(self.credits + self.debits))
            original = db.session.get(Transaction, txn_id)
            account = ledger.person_account(self.people[who], self.community)
            amount = next(e.amount for e in original.entries if e.account_id == account.id)
            try:
                ledger.reverse_transaction(original, actor=None, reason="test", now=self.clock)
            except (Refused, Conflict) as refusal:
                db.session.rollback()
                assert refusal.code in ("insufficient_points", "already_reversed")
                return
            db.session.commit()
            self.balances[who] -= amount

        @rule(days=st.integers(1, 400))
        def time_passes_and_points_expire(self, days):
            self.clock += timedelta(days=days)
            before = self._db_balances()
            ledger.expire_points(self.clock)
            db.session.commit()
            after = self._db_balances()
            for who in range(3):
                assert after[who] <= before[who]
                self.balances[who] -= before[who] - after[who]
            overdue = db.session.scalar(select(func.count()).select_from(Lot).join(Account).where(
                Account.community_id == self.community.id, Lot.expires_at <= self.clock, Lot.remaining > 0))
            assert overdue == 0

        def _db_balances(self) -> list[int]:
            return [ledger.person_account(p, self.community).balance for p in self.people]

        @invariant()
        def model_and_ledger_agree(self):
            assert self._db_balances() == self.balances
            assert ledger.verify() == []

    run_state_machine_as_test(LedgerMachine, settings=settings(
        max_examples=15, stateful_step_count=25, deadline=None, derandomize=True,
        suppress_health_check=list(HealthCheck)))
