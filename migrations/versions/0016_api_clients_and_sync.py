"""api clients and sync links: machine credentials scoped to an area, and the roster sync's external ids

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 12:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'api_client',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('area_id', sa.Integer(), nullable=False),
        sa.Column('key_hash', sa.String(length=64), nullable=False),
        sa.Column('key_prefix', sa.String(length=16), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['area_id'], ['area.id'], name=op.f('fk_api_client_area_id_area')),
        sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_api_client_created_by_id_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_api_client')),
        sa.UniqueConstraint('key_hash', name=op.f('uq_api_client_key_hash')),
    )
    with op.batch_alter_table('api_client', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_client_area_id'), ['area_id'], unique=False)
    op.create_table(
        'sync_link',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('client_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.Enum('area', 'household', 'person', name='synckind', native_enum=False, length=16),
                  nullable=False),
        sa.Column('external_id', sa.String(length=64), nullable=False),
        sa.Column('local_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['client_id'], ['api_client.id'], name=op.f('fk_sync_link_client_id_api_client')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_link')),
        sa.UniqueConstraint('client_id', 'kind', 'external_id', name=op.f('uq_sync_link_client_id_kind_external_id')),
    )
    with op.batch_alter_table('sync_link', schema=None) as batch_op:
        batch_op.create_index('ix_sync_link_local', ['kind', 'local_id'], unique=False)


def downgrade():
    with op.batch_alter_table('sync_link', schema=None) as batch_op:
        batch_op.drop_index('ix_sync_link_local')
    op.drop_table('sync_link')
    with op.batch_alter_table('api_client', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_client_area_id'))
    op.drop_table('api_client')
