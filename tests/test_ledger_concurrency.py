"""The ledger under real concurrency: threads with their own connections, on SQLite and PostgreSQL."""

import time
from collections import Counter

from sqlalchemy import func, select

from domain import ledger
from domain.errors import DomainError
from models import Account, Area, Transaction, TxnKind, User, db
from tests.conftest import run_concurrently


def _setup_balance(app, tree, amount):
    with app.app_context():
        ledger.credit(db.session.get(User, tree.volunteer_a.id), db.session.get(Area, tree.a.community.id), amount,
                      kind=TxnKind.service, key="service:seed")
        db.session.commit()


def _outcomes(results) -> Counter:
    return Counter("ok" if isinstance(r, Transaction) else getattr(r, "code", repr(r)) for r in results)


def test_200_concurrent_debits_of_30_from_100_exactly_3_succeed(app, threaded_app, tree):
    _setup_balance(app, tree, 100)

    def spend(i):
        person, community = db.session.get(User, tree.volunteer_a.id), db.session.get(Area, tree.a.community.id)
        return ledger.debit(person, community, 30, kind=TxnKind.redemption, key=f"redemption:{i}")

    outcomes = _outcomes(run_concurrently(threaded_app, spend, 200))
    assert outcomes == {"ok": 3, "insufficient_points": 197}
    with app.app_context():
        account = ledger.person_account(db.session.get(User, tree.volunteer_a.id),
                                        db.session.get(Area, tree.a.community.id))
        assert account.balance == 10
        assert ledger.verify() == []


def test_same_idempotency_key_200_times_at_once_posts_one_transaction(app, threaded_app, tree):
    def post(_i):
        person, community = db.session.get(User, tree.volunteer_a.id), db.session.get(Area, tree.a.community.id)
        return ledger.credit(person, community, 10, kind=TxnKind.service, key="service:same")

    results = run_concurrently(threaded_app, post, 200)
    assert all(isinstance(r, Transaction) for r in results), _outcomes(results)
    assert len({r.id for r in results}) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Transaction)) == 1
        assert ledger.person_account(db.session.get(User, tree.volunteer_a.id),
                                     db.session.get(Area, tree.a.community.id)).balance == 10
        assert ledger.verify() == []


def test_concurrent_reversals_of_one_transaction_reverse_it_once(app, threaded_app, tree):
    _setup_balance(app, tree, 50)
    with app.app_context():
        original_id = db.session.scalar(select(Transaction.id))

    def reverse(_i):
        return ledger.reverse_transaction(db.session.get(Transaction, original_id), actor=None, reason="dup")

    outcomes = _outcomes(run_concurrently(threaded_app, reverse, 20))
    assert outcomes == {"ok": 1, "already_reversed": 19}
    with app.app_context():
        assert ledger.verify() == []


def test_first_postings_of_many_people_open_one_account_each(app, threaded_app, tree, make_user):
    people = [make_user(f"新人{i}", household=tree.a.household).id for i in range(10)]

    def post(i):
        person = db.session.get(User, people[i % 10])
        return ledger.credit(person, db.session.get(Area, tree.a.community.id), 1, kind=TxnKind.event,
                             key=f"event:{i}")

    results = run_concurrently(threaded_app, post, 40)
    assert not [r for r in results if isinstance(r, DomainError | Exception)], _outcomes(results)
    with app.app_context():
        assert ledger.verify() == []
        assert db.session.scalar(select(func.count()).select_from(Account).where(Account.owner_id.in_(people))) == 10


def test_a_job_posting_several_credits_in_one_transaction_and_a_single_credit_do_not_deadlock(app, threaded_app,
                                                                                               tree, make_user):
    """A bulk approval credits A, then B, in one transaction (holding the community's issued account in between);
    meanwhile B is credited alone. Both must go through: every posting locks the community's account before a
    person's, so the single credit waits for it without holding B's row (the other way round PostgreSQL found a
    deadlock and aborted one of them)."""
    import threading

    second = make_user("乙", household=tree.a.household)
    people, community_id = {"a": tree.volunteer_a.id, "b": second.id}, tree.a.community.id
    with app.app_context():  # both accounts and the issued account exist before the race
        for name, person_id in people.items():
            ledger.credit(db.session.get(User, person_id), db.session.get(Area, community_id), 1,
                          kind=TxnKind.service, key=f"service:open-{name}")
        db.session.commit()
    batch_started, single_sent = threading.Event(), threading.Event()

    def credit(name: str, key: str) -> None:
        ledger.credit(db.session.get(User, people[name]), db.session.get(Area, community_id), 5,
                      kind=TxnKind.service, key=key)

    def work(i: int):
        if i == 0:  # the job
            credit("a", "service:batch-a")
            batch_started.set()
            single_sent.wait(10)
            time.sleep(0.5)  # the single credit is now waiting on a row lock (PostgreSQL) or the write lock
            credit("b", "service:batch-b")
        else:
            batch_started.wait(10)
            single_sent.set()
            credit("b", "service:single-b")
        return "ok"

    assert run_concurrently(threaded_app, work, 2) == ["ok", "ok"]
    with app.app_context():
        b = ledger.person_account(db.session.get(User, people["b"]), db.session.get(Area, community_id))
        assert b.balance == 1 + 5 + 5
        assert ledger.verify() == []
