"""sessions: a per-user session version (sign out everywhere) and token revocation on disable

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 10:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), server_default='0', nullable=False))

    op.create_table('revoked_session',
    sa.Column('session_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_revoked_session_user_id_user')),
    sa.PrimaryKeyConstraint('session_id', name=op.f('pk_revoked_session'))
    )
    with op.batch_alter_table('revoked_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_revoked_session_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_revoked_session_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('revoked_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_revoked_session_user_id'))
        batch_op.drop_index(batch_op.f('ix_revoked_session_expires_at'))

    op.drop_table('revoked_session')
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('session_version')
