"""honours: campaigns, nominations, votes and ballots, vote flags, objections, honours

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 07:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('campaign',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('area_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('best_head', 'good_neighbour', 'custom', name='campaignkind', native_enum=False, length=16), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('phase', sa.Enum('nomination', 'voting', 'review', 'notice', 'announced', name='phase', native_enum=False, length=16), nullable=False),
    sa.Column('phase_changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('nominate_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('nominate_until', sa.DateTime(timezone=True), nullable=False),
    sa.Column('vote_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('vote_until', sa.DateTime(timezone=True), nullable=False),
    sa.Column('review_until', sa.DateTime(timezone=True), nullable=False),
    sa.Column('notice_days', sa.Integer(), nullable=False),
    sa.Column('notice_from', sa.DateTime(timezone=True), nullable=True),
    sa.Column('notice_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('announce_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('announced_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('seats', sa.JSON(), nullable=False),
    sa.Column('votes_per_voter', sa.Integer(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('self_nomination', sa.Boolean(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('nominate_from < nominate_until AND nominate_until <= vote_from AND vote_from < vote_until AND vote_until <= review_until', name=op.f('ck_campaign_phases_in_order')),
    sa.CheckConstraint('notice_days >= 1', name=op.f('ck_campaign_notice_days_positive')),
    sa.CheckConstraint('points >= 0', name=op.f('ck_campaign_points_not_negative')),
    sa.CheckConstraint('votes_per_voter >= 1', name=op.f('ck_campaign_votes_per_voter_positive')),
    sa.ForeignKeyConstraint(['area_id'], ['area.id'], name=op.f('fk_campaign_area_id_area')),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_campaign_created_by_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign'))
    )
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaign_area_id'), ['area_id'], unique=False)

    op.create_table('ballot',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('voter_id', sa.Integer(), nullable=False),
    sa.Column('used', sa.Integer(), nullable=False),
    sa.CheckConstraint('used >= 0', name=op.f('ck_ballot_used_not_negative')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_ballot_campaign_id_campaign')),
    sa.ForeignKeyConstraint(['voter_id'], ['user.id'], name=op.f('fk_ballot_voter_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ballot')),
    sa.UniqueConstraint('campaign_id', 'voter_id', name=op.f('uq_ballot_campaign_id_voter_id'))
    )
    with op.batch_alter_table('ballot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ballot_voter_id'), ['voter_id'], unique=False)

    op.create_table('nomination',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('nominee_id', sa.Integer(), nullable=False),
    sa.Column('nominator_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('photos', sa.JSON(), nullable=False),
    sa.Column('tier', sa.Integer(), nullable=False),
    sa.Column('head_area_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('pending', 'confirmed', 'declined', 'withdrawn', 'lapsed', 'shortlisted', 'passed_over', 'removed', 'honoured', name='nominationstatus', native_enum=False, length=16), nullable=False),
    sa.Column('votes', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=True),
    sa.CheckConstraint('votes >= 0', name=op.f('ck_nomination_votes_not_negative')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_nomination_campaign_id_campaign')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['user.id'], name=op.f('fk_nomination_decided_by_id_user')),
    sa.ForeignKeyConstraint(['head_area_id'], ['area.id'], name=op.f('fk_nomination_head_area_id_area')),
    sa.ForeignKeyConstraint(['nominator_id'], ['user.id'], name=op.f('fk_nomination_nominator_id_user')),
    sa.ForeignKeyConstraint(['nominee_id'], ['user.id'], name=op.f('fk_nomination_nominee_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_nomination')),
    sa.UniqueConstraint('campaign_id', 'nominee_id', name=op.f('uq_nomination_campaign_id_nominee_id'))
    )
    with op.batch_alter_table('nomination', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_nomination_nominee_id'), ['nominee_id'], unique=False)

    op.create_table('honour',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('nomination_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('tier', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('transaction_id', sa.Integer(), nullable=True),
    sa.Column('awarded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_honour_campaign_id_campaign')),
    sa.ForeignKeyConstraint(['community_id'], ['area.id'], name=op.f('fk_honour_community_id_area')),
    sa.ForeignKeyConstraint(['nomination_id'], ['nomination.id'], name=op.f('fk_honour_nomination_id_nomination')),
    sa.ForeignKeyConstraint(['person_id'], ['user.id'], name=op.f('fk_honour_person_id_user')),
    sa.ForeignKeyConstraint(['transaction_id'], ['ledger_transaction.id'], name=op.f('fk_honour_transaction_id_ledger_transaction')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_honour')),
    sa.UniqueConstraint('nomination_id', name=op.f('uq_honour_nomination_id')),
    sa.UniqueConstraint('number', name=op.f('uq_honour_number'))
    )
    with op.batch_alter_table('honour', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_honour_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_honour_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_honour_person_id'), ['person_id'], unique=False)

    op.create_table('objection',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('nomination_id', sa.Integer(), nullable=False),
    sa.Column('objector_id', sa.Integer(), nullable=False),
    sa.Column('real_name', sa.String(length=50), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('open', 'upheld', 'dismissed', name='objectionstatus', native_enum=False, length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('handled_by_id', sa.Integer(), nullable=True),
    sa.Column('handled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('handling_note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_objection_campaign_id_campaign')),
    sa.ForeignKeyConstraint(['handled_by_id'], ['user.id'], name=op.f('fk_objection_handled_by_id_user')),
    sa.ForeignKeyConstraint(['nomination_id'], ['nomination.id'], name=op.f('fk_objection_nomination_id_nomination')),
    sa.ForeignKeyConstraint(['objector_id'], ['user.id'], name=op.f('fk_objection_objector_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_objection')),
    sa.UniqueConstraint('nomination_id', 'objector_id', name=op.f('uq_objection_nomination_id_objector_id'))
    )
    with op.batch_alter_table('objection', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_objection_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_objection_objector_id'), ['objector_id'], unique=False)

    op.create_table('vote_flag',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('nomination_id', sa.Integer(), nullable=False),
    sa.Column('pattern', sa.String(length=32), nullable=False),
    sa.Column('status', sa.Enum('open', 'kept', 'discounted', name='flagstatus', native_enum=False, length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_vote_flag_campaign_id_campaign')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['user.id'], name=op.f('fk_vote_flag_decided_by_id_user')),
    sa.ForeignKeyConstraint(['nomination_id'], ['nomination.id'], name=op.f('fk_vote_flag_nomination_id_nomination')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vote_flag'))
    )
    with op.batch_alter_table('vote_flag', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vote_flag_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_vote_flag_nomination_id'), ['nomination_id'], unique=False)

    op.create_table('vote',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('nomination_id', sa.Integer(), nullable=False),
    sa.Column('voter_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('flag_id', sa.Integer(), nullable=True),
    sa.Column('discounted', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_vote_campaign_id_campaign')),
    sa.ForeignKeyConstraint(['flag_id'], ['vote_flag.id'], name=op.f('fk_vote_flag_id_vote_flag')),
    sa.ForeignKeyConstraint(['nomination_id'], ['nomination.id'], name=op.f('fk_vote_nomination_id_nomination')),
    sa.ForeignKeyConstraint(['voter_id'], ['user.id'], name=op.f('fk_vote_voter_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vote')),
    sa.UniqueConstraint('campaign_id', 'voter_id', 'nomination_id', name=op.f('uq_vote_campaign_id_voter_id_nomination_id'))
    )
    with op.batch_alter_table('vote', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vote_flag_id'), ['flag_id'], unique=False)
        batch_op.create_index('ix_vote_nomination_created', ['nomination_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_vote_voter_id'), ['voter_id'], unique=False)


def downgrade():
    with op.batch_alter_table('vote', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vote_voter_id'))
        batch_op.drop_index('ix_vote_nomination_created')
        batch_op.drop_index(batch_op.f('ix_vote_flag_id'))

    op.drop_table('vote')
    with op.batch_alter_table('vote_flag', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vote_flag_nomination_id'))
        batch_op.drop_index(batch_op.f('ix_vote_flag_campaign_id'))

    op.drop_table('vote_flag')
    with op.batch_alter_table('objection', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_objection_objector_id'))
        batch_op.drop_index(batch_op.f('ix_objection_campaign_id'))

    op.drop_table('objection')
    with op.batch_alter_table('honour', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_honour_person_id'))
        batch_op.drop_index(batch_op.f('ix_honour_community_id'))
        batch_op.drop_index(batch_op.f('ix_honour_campaign_id'))

    op.drop_table('honour')
    with op.batch_alter_table('nomination', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_nomination_nominee_id'))

    op.drop_table('nomination')
    with op.batch_alter_table('ballot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ballot_voter_id'))

    op.drop_table('ballot')
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaign_area_id'))

    op.drop_table('campaign')
