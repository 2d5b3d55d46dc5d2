"""elder mode (长辈版): the person's saved choice of display and text size

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 09:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMNs on both engines (nullable, no default): SQLite needs no copy of "user" for them.
    op.add_column('user', sa.Column('elder_mode', sa.Boolean(), nullable=True))
    op.add_column('user', sa.Column('text_size', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('text_size')
        batch_op.drop_column('elder_mode')
