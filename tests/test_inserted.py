"""models.sql.inserted: a row written by a prebuilt Core INSERT … RETURNING, handed back as a loaded ORM object."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import bindparam, event, insert, inspect

from models import Transaction, TxnKind, db
from models.base import SHANGHAI
from models.sql import inserted, upsert

TABLE = Transaction.__table__
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
#: The statement `inserted` runs: every column RETURNING.
INSERT = insert(TABLE).values({name: bindparam(name) for name in (
    "community_id", "kind", "idempotency_key", "memo", "source_type", "source_id", "created_by_id", "created_at",
    "reverses_id")}).returning(*TABLE.c)


def _values(ctx, key: str) -> dict:
    # A kind given by its name and a Beijing time: what comes back is what the columns' types make of them.
    return {"community_id": ctx.community.id, "kind": "adjustment", "idempotency_key": key, "memo": "备注",
            "source_type": None, "source_id": None, "created_by_id": ctx.staff.id,
            "created_at": NOW.astimezone(SHANGHAI), "reverses_id": None}


def _statements(work) -> list[str]:
    seen = []

    def note(_conn, _cursor, statement, *_args):
        seen.append(statement)
    event.listen(db.engine, "before_cursor_execute", note)
    try:
        work()
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    return seen


def test_the_row_comes_back_persistent_and_loaded_with_one_statement(ctx):
    found = []
    sent = _statements(lambda: found.append(inserted(Transaction, INSERT, _values(ctx, "k-1"))))
    txn = found[0]
    assert len(sent) == 1 and sent[0].startswith("INSERT INTO ledger_transaction")
    state = inspect(txn)
    assert state.persistent and txn in db.session
    assert not state.unloaded & {column.key for column in TABLE.c}  # every column loaded: no lazy read
    assert _statements(lambda: (txn.id, txn.kind, txn.memo, txn.created_at, txn.reverses_id)) == []
    assert (txn.kind, txn.idempotency_key, txn.memo, txn.created_at) == (TxnKind.adjustment, "k-1", "备注", NOW)
    assert txn.kind is TxnKind.adjustment and txn.created_at.tzinfo is UTC  # read back, not the values sent
    assert txn.created_by_id == ctx.staff.id and txn.id > 0
    assert db.session.get(Transaction, txn.id) is txn  # the session's one object for the row
    assert not db.session.dirty and not db.session.new  # nothing left for a flush to write


def test_nothing_inserted_gives_none(ctx):
    statement = (upsert(TABLE).values({name: bindparam(name) for name in _values(ctx, "")})
                 .on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(*TABLE.c))
    first = inserted(Transaction, statement, _values(ctx, "same"))
    assert first is not None
    assert inserted(Transaction, statement, _values(ctx, "same")) is None


def test_an_id_given_again_after_a_rollback_loads_over_the_earlier_object(ctx, backend):
    savepoint = db.session.begin_nested()
    earlier = inserted(Transaction, INSERT, _values(ctx, "rolled-back"))
    savepoint.rollback()
    again = inserted(Transaction, INSERT, _values(ctx, "kept"))
    assert again.idempotency_key == "kept"
    assert db.session.get(Transaction, again.id) is again
    if backend == "sqlite":  # SQLite hands the rolled-back id out again; PostgreSQL's sequence moves on
        assert again.id == earlier.id and again is earlier
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Transaction, again.id).idempotency_key == "kept"
