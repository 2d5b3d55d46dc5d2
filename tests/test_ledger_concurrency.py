"""The ledger under real concurrency: threads with their own connections, on SQLite and PostgreSQL."""

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
