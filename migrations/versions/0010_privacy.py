"""privacy and audit: consent flags, guardians, anonymisation, an append-only audit trail

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 10:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMNs on both engines: a batch that recreated "user" on SQLite would have to drop a table
    # every other table points at, which foreign_keys=ON refuses once people exist.
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('honour_consent', sa.Boolean(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('birth_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('anonymised_at', sa.DateTime(timezone=True), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.add_column('user', sa.Column('guardian_id', sa.Integer(), nullable=True))
        op.create_foreign_key(op.f('fk_user_guardian_id_user'), 'user', 'user', ['guardian_id'], ['id'])
    else:
        # SQLite adds a foreign key only inline, as part of ADD COLUMN.
        op.add_column('user', sa.Column('guardian_id', sa.Integer(), sa.ForeignKey('user.id'), nullable=True),
                      inline_references=True)
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_guardian_id'), ['guardian_id'], unique=False)

    # The audit trail is append-only, not even raw SQL changes it (as the points ledger, migration 0002).
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'the audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME;
            END $$""")
        op.execute("CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event "
                   "FOR EACH ROW EXECUTE FUNCTION audit_append_only()")
    else:
        for operation in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER audit_event_append_only_{operation.lower()} BEFORE {operation} "
                       "ON audit_event BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS audit_append_only()")
    else:
        for operation in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS audit_event_append_only_{operation}")
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_guardian_id'))
        if op.get_bind().dialect.name == "postgresql":
            batch_op.drop_constraint(batch_op.f('fk_user_guardian_id_user'), type_='foreignkey')
        batch_op.drop_column('guardian_id')
        batch_op.drop_column('anonymised_at')
        batch_op.drop_column('birth_date')
        batch_op.drop_column('honour_consent')
