"""needs, tasks and notifications

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 07:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('notification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('link_endpoint', sa.String(length=64), nullable=True),
    sa.Column('link_values', sa.JSON(), nullable=True),
    sa.Column('dedupe_key', sa.String(length=128), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_notification_user_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification')),
    sa.UniqueConstraint('user_id', 'dedupe_key', name=op.f('uq_notification_user_id_dedupe_key'))
    )

    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.create_index('ix_notification_unread', ['user_id'], unique=False, postgresql_where=sa.text('read_at IS NULL'), sqlite_where=sa.text('read_at IS NULL'))
        batch_op.create_index('ix_notification_user', ['user_id', 'created_at'], unique=False)

    op.create_table('task',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('area_id', sa.Integer(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=True),
    sa.Column('resident_name', sa.String(length=50), nullable=True),
    sa.Column('poster_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.Enum('door_to_door', 'online', 'consultation', name='channel', native_enum=False, length=16), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('open', 'claimed', 'done', 'confirmed', 'approved', 'reopened', 'withdrawn', name='taskstatus', native_enum=False, length=16), nullable=False),
    sa.Column('tier', sa.Integer(), nullable=False),
    sa.Column('start_tier', sa.Integer(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('claimant_id', sa.Integer(), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('first_claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('done_note', sa.Text(), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('points', sa.Integer(), nullable=True),
    sa.Column('transaction_id', sa.Integer(), nullable=True),
    sa.Column('posted_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['area_id'], ['area.id'], name=op.f('fk_task_area_id_area')),
    sa.ForeignKeyConstraint(['claimant_id'], ['user.id'], name=op.f('fk_task_claimant_id_user')),
    sa.ForeignKeyConstraint(['community_id'], ['area.id'], name=op.f('fk_task_community_id_area')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['user.id'], name=op.f('fk_task_decided_by_id_user')),
    sa.ForeignKeyConstraint(['poster_id'], ['user.id'], name=op.f('fk_task_poster_id_user')),
    sa.ForeignKeyConstraint(['resident_id'], ['user.id'], name=op.f('fk_task_resident_id_user')),
    sa.ForeignKeyConstraint(['transaction_id'], ['ledger_transaction.id'], name=op.f('fk_task_transaction_id_ledger_transaction')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task'))
    )

    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_area_id'), ['area_id'], unique=False)
        batch_op.create_index('ix_task_board', ['community_id', 'status', 'posted_at'], unique=False)
        batch_op.create_index('ix_task_claimant', ['claimant_id', 'status'], unique=False)
        batch_op.create_index('ix_task_due', ['due_at'], unique=False, postgresql_where=sa.text('due_at IS NOT NULL'), sqlite_where=sa.text('due_at IS NOT NULL'))
        batch_op.create_index(batch_op.f('ix_task_poster_id'), ['poster_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_task_resident_id'), ['resident_id'], unique=False)

    op.create_table('task_claim',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('capacity', sa.String(length=16), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['task_id'], ['task.id'], name=op.f('fk_task_claim_task_id_task')),
    sa.ForeignKeyConstraint(['team_id'], ['team.id'], name=op.f('fk_task_claim_team_id_team')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_task_claim_user_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_claim'))
    )

    with op.batch_alter_table('task_claim', schema=None) as batch_op:
        batch_op.create_index('ix_task_claim_user', ['user_id', 'claimed_at'], unique=False)
        batch_op.create_index('uq_task_claim_open', ['task_id'], unique=True, postgresql_where=sa.text('ended_at IS NULL'), sqlite_where=sa.text('ended_at IS NULL'))

    op.create_table('task_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('status_from', sa.String(length=16), nullable=True),
    sa.Column('status_to', sa.String(length=16), nullable=True),
    sa.Column('tier_from', sa.Integer(), nullable=True),
    sa.Column('tier_to', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['user.id'], name=op.f('fk_task_event_actor_id_user')),
    sa.ForeignKeyConstraint(['task_id'], ['task.id'], name=op.f('fk_task_event_task_id_task')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_event'))
    )

    with op.batch_alter_table('task_event', schema=None) as batch_op:
        batch_op.create_index('ix_task_event_task', ['task_id', 'at'], unique=False)

    op.create_table('task_photo',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.Enum('need', 'result', name='photokind', native_enum=False, length=16), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['task.id'], name=op.f('fk_task_photo_task_id_task')),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['user.id'], name=op.f('fk_task_photo_uploaded_by_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_photo')),
    sa.UniqueConstraint('name', name=op.f('uq_task_photo_name'))
    )

    with op.batch_alter_table('task_photo', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_photo_task_id'), ['task_id'], unique=False)


def downgrade():
    with op.batch_alter_table('task_photo', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_photo_task_id'))

    op.drop_table('task_photo')

    with op.batch_alter_table('task_event', schema=None) as batch_op:
        batch_op.drop_index('ix_task_event_task')

    op.drop_table('task_event')

    with op.batch_alter_table('task_claim', schema=None) as batch_op:
        batch_op.drop_index('uq_task_claim_open', postgresql_where=sa.text('ended_at IS NULL'), sqlite_where=sa.text('ended_at IS NULL'))
        batch_op.drop_index('ix_task_claim_user')

    op.drop_table('task_claim')

    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_resident_id'))
        batch_op.drop_index(batch_op.f('ix_task_poster_id'))
        batch_op.drop_index('ix_task_due', postgresql_where=sa.text('due_at IS NOT NULL'), sqlite_where=sa.text('due_at IS NOT NULL'))
        batch_op.drop_index('ix_task_claimant')
        batch_op.drop_index('ix_task_board')
        batch_op.drop_index(batch_op.f('ix_task_area_id'))

    op.drop_table('task')

    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index('ix_notification_user')
        batch_op.drop_index('ix_notification_unread', postgresql_where=sa.text('read_at IS NULL'), sqlite_where=sa.text('read_at IS NULL'))

    op.drop_table('notification')
