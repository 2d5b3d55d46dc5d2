"""The wipe between tests (conftest's `_wipe`): every table emptied and the ids restarted, as on a fresh database,
while the ledger's append-only triggers still hold afterwards (PostgreSQL's wipe turns triggers off for its own
transaction only)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from domain import ledger
from models import Area, Level, TxnKind, User, db
from tests.conftest import _wipe


def _rows() -> dict[str, int]:
    return {table.name: db.session.scalar(select(func.count()).select_from(table))
            for table in db.metadata.sorted_tables}


def test_the_wipe_empties_every_table_restarts_the_ids_and_leaves_the_ledger_append_only(app, tree):
    with app.app_context():
        ledger.credit(db.session.merge(tree.volunteer_a), db.session.merge(tree.a.community), 10,
                      kind=TxnKind.service, key="service:1")
        db.session.commit()
        assert {"area", "user", "role_grant", "ledger_entry", "ledger_transaction"} <= {
            name for name, count in _rows().items() if count}

        _wipe()
        assert set(_rows().values()) == {0}

        district = Area(level=Level.district, name="示范区", path="/1/")
        db.session.add(district)
        db.session.flush()
        assert district.id == 1
        community = Area(level=Level.community, name="银融社区", parent=district, path="/1/2/")
        db.session.add(community)
        db.session.commit()
        person = User(name="志愿者", phone="13900000001")
        db.session.add(person)
        db.session.flush()
        assert person.id == 1
        ledger.credit(person, community, 10, kind=TxnKind.service, key="service:1")
        db.session.commit()
        for statement in ("DELETE FROM ledger_entry", "DELETE FROM ledger_transaction"):
            with pytest.raises(DBAPIError, match="append-only"):
                db.session.execute(text(statement))
            db.session.rollback()
        db.session.remove()
