"""the person's access version: moved on by the database whenever what a bearer token's caller may do changes

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 15:30:00

Each worker keeps the people behind bearer tokens (their roles and household) in memory, keyed by this version
(domain/callers.py), and reads it with the token on every request: triggers move it on with every change of a role
grant and of the person's name, household, active flag or session version, whatever writes it (the ORM, the
roster import's COPY, the sync's bulk deletes, SQL by hand), in the same transaction.

On SQLite, a later migration that copies "user" (batch_alter_table) drops its trigger: create it again there.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

#: The columns of "user" a cached caller holds (domain/callers.py): a change of any of them moves the version on.
WATCHED = ("name", "active", "household_id", "session_version")


def upgrade():
    # A plain ADD COLUMN on both engines: SQLite needs no copy of "user" (which would drop its triggers).
    op.add_column('user', sa.Column('access_version', sa.Integer(), server_default='0', nullable=False))
    if op.get_bind().dialect.name == "postgresql":
        changed = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in WATCHED)
        op.execute(f"""CREATE FUNCTION user_access_moved() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF {changed} THEN
                    NEW.access_version := OLD.access_version + 1;
                END IF;
                RETURN NEW;
            END $$""")
        op.execute('CREATE TRIGGER user_access_moved BEFORE UPDATE ON "user" '
                   "FOR EACH ROW EXECUTE FUNCTION user_access_moved()")
        # Once per statement, over its rows at once: a roster import's COPY of 20,000 grants is one UPDATE.
        op.execute("""CREATE FUNCTION role_grant_access_moved() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP <> 'DELETE' THEN
                    UPDATE "user" SET access_version = access_version + 1
                    WHERE id IN (SELECT user_id FROM added);
                END IF;
                IF TG_OP <> 'INSERT' THEN
                    UPDATE "user" SET access_version = access_version + 1
                    WHERE id IN (SELECT user_id FROM removed);
                END IF;
                RETURN NULL;
            END $$""")
        for operation, tables in (("INSERT", "NEW TABLE AS added"), ("DELETE", "OLD TABLE AS removed"),
                                  ("UPDATE", "OLD TABLE AS removed NEW TABLE AS added")):
            op.execute(f"CREATE TRIGGER role_grant_access_{operation.lower()} AFTER {operation} ON role_grant "
                       f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION role_grant_access_moved()")
    else:
        changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in WATCHED)
        op.execute(f'CREATE TRIGGER user_access_moved AFTER UPDATE OF {", ".join(WATCHED)} ON "user" '
                   f'WHEN {changed} BEGIN '
                   'UPDATE "user" SET access_version = access_version + 1 WHERE id = NEW.id; END')
        for operation, whose in (("INSERT", "NEW.user_id"), ("DELETE", "OLD.user_id"),
                                 ("UPDATE", "OLD.user_id, NEW.user_id")):
            op.execute(f"CREATE TRIGGER role_grant_access_{operation.lower()} AFTER {operation} ON role_grant BEGIN "
                       f'UPDATE "user" SET access_version = access_version + 1 WHERE id IN ({whose}); END')


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for operation in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS role_grant_access_{operation} ON role_grant")
        op.execute('DROP TRIGGER IF EXISTS user_access_moved ON "user"')
        op.execute("DROP FUNCTION IF EXISTS role_grant_access_moved()")
        op.execute("DROP FUNCTION IF EXISTS user_access_moved()")
    else:
        for operation in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS role_grant_access_{operation}")
        op.execute("DROP TRIGGER IF EXISTS user_access_moved")
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('access_version')
