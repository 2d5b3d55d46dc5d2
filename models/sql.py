"""Everything that differs between SQLite and PostgreSQL, behind a few names, so that the domain reads as plain
SQLAlchemy 2 on one database.

- `upsert(model)`: an INSERT that takes ON CONFLICT clauses (`.on_conflict_do_nothing/do_update`, the same words
  on both databases).
- `per_database(build)`, `inserted(...)` and `loaded(...)`: the hot paths' prebuilt statements (bench/README.md says
  which pay) and their returned rows as ORM objects.
- `lock_rows(...)` and `lock_keys(...)`: the one lock order. PostgreSQL holds row and advisory locks until the
  transaction ends; every writer takes them in the same order (a community's accounts, then people, each by id), so
  no two wait on each other crosswise. On SQLite a writing transaction is already the only writer (BEGIN IMMEDIATE
  in the writers' queue, models/sqlite.py), and they do nothing.
- `reserve_ids(model, n)`, `bulk_insert(model, rows)` and `among(column, values)`: the roster import's bulk writes
  (ids taken up front from the sequence or past the highest id, rows loaded by COPY or one executemany) and its
  IN over thousands of values.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from sqlalchemy import ARRAY, any_, cast, func, inspect, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import REGCLASS
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from models.base import db


def dialect() -> str:
    """The database in use: "postgresql" or "sqlite"."""
    return db.session.get_bind().dialect.name


def upsert(model, database: str | None = None):
    """INSERT with the database's own ON CONFLICT clauses (`database`: a dialect name, else the one in use)."""
    return (postgresql.insert if (database or dialect()) == "postgresql" else sqlite.insert)(model)


def per_database(build):
    """A statement built once per database by `build(database)` and handed back, for the one in use, by calling the
    decorated name with no argument: the hot paths' upserts, whose ON CONFLICT is written differently on each."""
    built = functools.cache(build)
    return lambda: built(dialect())


@functools.cache
def _attributes(model) -> dict[str, str]:
    mapper = inspect(model)
    return {column.key: mapper.get_property_by_column(column).key for column in mapper.local_table.columns}


def inserted(model, statement, params: dict):
    """Run a prebuilt Core `INSERT … RETURNING` of every column of `model`'s table and give the row as an ORM object
    (`loaded`), or None when nothing was inserted (ON CONFLICT DO NOTHING). On the hot paths this is much cheaper than
    the ORM's own INSERT … RETURNING entity, which builds its statement and row loader on every call
    (bench/README.md)."""
    row = db.session.execute(statement, params).first()
    return loaded(model, row) if row is not None else None


def loaded(model, row):
    """A row of every column of `model`'s table (an INSERT's RETURNING) as the ORM object, persistent in the session
    with every attribute loaded (no read back). Building it is most of the cost of a check-in's INSERT: a caller that
    only reads a few columns reads them from the row and calls this only when it needs the object."""
    names = _attributes(model)
    values = {names[key]: value for key, value in row._mapping.items()}
    earlier = db.session.identity_map.get(inspect(model).identity_key_from_primary_key([row.id]))
    if earlier is not None:
        # A row of a rolled-back savepoint had this id (SQLite gives it again): load over it, as a query would.
        db.session.expire(earlier)
        for name, value in values.items():
            set_committed_value(earlier, name, value)
        return earlier
    instance = model(**values)
    make_transient_to_detached(instance)
    db.session.add(instance)
    return instance


def on_postgresql() -> bool:
    return dialect() == "postgresql"


def lock_rows(model, ids) -> None:
    """Lock the rows of `model` with these ids until the transaction ends, in id order (PostgreSQL; nothing on
    SQLite, whose writers are serialised whole)."""
    ids = sorted(set(ids))
    if ids and on_postgresql():
        db.session.execute(select(model.id).where(model.id.in_(ids)).order_by(model.id).with_for_update())


def lock_keys(namespace: int, keys) -> None:
    """Transaction-level advisory locks on (namespace, key) for each key, in key order (PostgreSQL; nothing on
    SQLite): a lock on a thing that has no row of its own to lock, such as "this person's hours"."""
    if on_postgresql():
        for key in sorted(set(keys)):
            db.session.execute(select(func.pg_advisory_xact_lock(namespace, key)))


# Roster and ledger.

def among(column, values: list):
    """`column IN (values)` for thousands of values. PostgreSQL gets them as one array parameter: psycopg
    takes a tenth of a second to prepare each statement with thousands of placeholders."""
    if on_postgresql():
        return column == any_(literal(values, ARRAY(column.type)))
    return column.in_(values)


def reserve_ids(model, count: int) -> list[int]:
    """Ids for `count` rows of `model` about to be written (by `bulk_insert`), so nothing has to be read back after
    the write.

    PostgreSQL hands them out from the table's sequence, as the insert itself would. SQLite gives a new row the
    highest id plus one; the writing transaction holds the database's write lock from its first statement
    (BEGIN IMMEDIATE, models/sqlite.py), so no one else can take those ids meanwhile.
    """
    if not count:
        return []
    table = model.__table__
    if on_postgresql():
        # The sequence's name first: inside the statement, pg_get_serial_sequence would run once per id, at ten
        # times the cost of the ids themselves.
        sequence = db.session.scalar(select(func.pg_get_serial_sequence(f'"{table.name}"', "id")))
        return list(db.session.scalars(
            select(func.nextval(cast(literal(sequence), REGCLASS))).select_from(func.generate_series(1, count))))
    first = (db.session.scalar(select(func.max(table.c.id))) or 0) + 1
    return list(range(first, first + count))


def _bound(process: Callable, values: list) -> list:
    """A column's values as its type binds them (`process`: its bind processor), converting a value once when rows
    repeat it: every row of an import has the same timestamp, and its conversion was most of a row's cost."""
    out = []
    last, bound = object(), None
    for value in values:
        if value is not last:
            last, bound = value, process(value)
        out.append(bound)
    return out


def bulk_insert(model, rows: list[dict]) -> None:
    """Insert `rows` (dicts with the same keys) in one go, on the session's connection and inside its transaction:
    COPY on PostgreSQL, one executemany on SQLite.

    A tenth of the cost of `session.execute(insert(model), rows)`, which builds and binds each row through the
    ORM: values are converted once by the columns' own types, as SQLAlchemy would bind them (enum names, UTC
    timestamps, JSON). Columns left out take their server default. The session's identity map knows nothing of
    the rows (the caller expires it afterwards). A row breaking a constraint raises SQLAlchemy's IntegrityError,
    as an ORM statement would.
    """
    if not rows:
        return
    db.session.flush()  # what the session holds goes first, as an ORM statement's autoflush would send it
    dialect = db.session.get_bind().dialect
    table = model.__table__
    names = list(rows[0])
    columns = []
    for name in names:
        process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        values = [row[name] for row in rows]
        columns.append(values if process is None else _bound(process, values))
    listed = ", ".join(f'"{name}"' for name in names)
    connection = db.session.connection().connection.driver_connection
    cursor = connection.cursor()
    try:
        if dialect.name == "postgresql":
            statement = f'COPY "{table.name}" ({listed}) FROM STDIN'
            with cursor.copy(statement) as copy:
                for row in zip(*columns, strict=True):
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(names))
            statement = f'INSERT INTO "{table.name}" ({listed}) VALUES ({marks})'  # noqa: S608
            cursor.executemany(statement, zip(*columns, strict=True))
    except dialect.loaded_dbapi.IntegrityError as error:
        raise IntegrityError(statement, None, error) from None
    finally:
        cursor.close()
