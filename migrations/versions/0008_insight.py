"""insight: published monthly leaderboards (snapshot and its lines)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 08:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('leaderboard_snapshot',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.Integer(), nullable=False),
    sa.Column('metric', sa.Enum('points', 'hours', name='metric', native_enum=False, length=16), nullable=False),
    sa.Column('ranked', sa.Integer(), nullable=False),
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['area.id'], name=op.f('fk_leaderboard_snapshot_community_id_area')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_leaderboard_snapshot')),
    sa.UniqueConstraint('community_id', 'month', 'metric',
                        name=op.f('uq_leaderboard_snapshot_community_id_month_metric'))
    )
    with op.batch_alter_table('leaderboard_snapshot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_leaderboard_snapshot_month'), ['month'], unique=False)

    op.create_table('leaderboard_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('snapshot_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['user.id'], name=op.f('fk_leaderboard_line_person_id_user')),
    sa.ForeignKeyConstraint(['snapshot_id'], ['leaderboard_snapshot.id'],
                            name=op.f('fk_leaderboard_line_snapshot_id_leaderboard_snapshot')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_leaderboard_line')),
    sa.UniqueConstraint('snapshot_id', 'person_id', name=op.f('uq_leaderboard_line_snapshot_id_person_id'))
    )
    with op.batch_alter_table('leaderboard_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_leaderboard_line_person_id'), ['person_id'], unique=False)
        batch_op.create_index('ix_leaderboard_line_snapshot_rank', ['snapshot_id', 'rank'], unique=False)


def downgrade():
    with op.batch_alter_table('leaderboard_line', schema=None) as batch_op:
        batch_op.drop_index('ix_leaderboard_line_snapshot_rank')
        batch_op.drop_index(batch_op.f('ix_leaderboard_line_person_id'))

    op.drop_table('leaderboard_line')
    with op.batch_alter_table('leaderboard_snapshot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_leaderboard_snapshot_month'))

    op.drop_table('leaderboard_snapshot')
