"""uploads bounded: roster imports too large for one request, run in the background

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 03:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'roster_import',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('area_id', sa.Integer(), nullable=False),
        sa.Column('actor_id', sa.Integer(), nullable=False),
        sa.Column('filename', sa.String(length=255), nullable=False),
        sa.Column('stored_as', sa.String(length=64), nullable=False),
        sa.Column('status', sa.Enum('queued', 'running', 'done', 'failed', name='importstatus', native_enum=False,
                                    length=16), nullable=False),
        sa.Column('rows_total', sa.Integer(), nullable=False),
        sa.Column('rows_done', sa.Integer(), nullable=False),
        sa.Column('result', sa.JSON(), nullable=True),
        sa.Column('errors', sa.JSON(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['actor_id'], ['user.id'], name=op.f('fk_roster_import_actor_id_user')),
        sa.ForeignKeyConstraint(['area_id'], ['area.id'], name=op.f('fk_roster_import_area_id_area')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_roster_import')),
    )
    with op.batch_alter_table('roster_import', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_roster_import_area_id'), ['area_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_roster_import_status'), ['status'], unique=False)


def downgrade():
    with op.batch_alter_table('roster_import', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_roster_import_status'))
        batch_op.drop_index(batch_op.f('ix_roster_import_area_id'))
    op.drop_table('roster_import')
