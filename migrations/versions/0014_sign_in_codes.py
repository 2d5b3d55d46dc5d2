"""sign-in codes: one-time codes by SMS or printed by staff, kept as HMACs

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 09:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'sign_in_code',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.Enum('sms', 'staff', name='codekind', native_enum=False, length=8), nullable=False),
        sa.Column('code_hash', sa.String(length=64), nullable=False),
        sa.Column('tries', sa.Integer(), server_default='0', nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('issued_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['issued_by_id'], ['user.id'], name=op.f('fk_sign_in_code_issued_by_id_user')),
        sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_sign_in_code_user_id_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_code')),
    )
    with op.batch_alter_table('sign_in_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sign_in_code_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('sign_in_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sign_in_code_user_id'))
    op.drop_table('sign_in_code')
