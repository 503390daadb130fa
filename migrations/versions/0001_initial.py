"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 13:19:35.093958
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=100), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('previous_password_hash', sa.String(length=255), nullable=True),
    sa.Column('previous_password_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('credential_version', sa.Integer(), nullable=False),
    sa.Column('password_changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('establishment_name', sa.String(length=200), nullable=False),
    sa.Column('buyer_duns', sa.String(length=9), nullable=False),
    sa.Column('supplier_duns', sa.String(length=9), nullable=False),
    sa.Column('account_number', sa.String(length=100), nullable=True),
    sa.Column('language', sa.String(length=10), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account')),
    sa.UniqueConstraint('username', name=op.f('uq_account_username'))
    )
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.create_index('ix_account_duns', ['buyer_duns', 'supplier_duns'], unique=False)

    op.create_table('document',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('doc_id', sa.String(length=100), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('doc_type', sa.String(length=16), nullable=False),
    sa.Column('xml', sa.LargeBinary(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('document_number', sa.String(length=100), nullable=True),
    sa.Column('document_date', sa.String(length=40), nullable=True),
    sa.Column('buyer_duns', sa.String(length=9), nullable=True),
    sa.Column('supplier_duns', sa.String(length=9), nullable=True),
    sa.Column('line_count', sa.Integer(), nullable=True),
    sa.Column('total_value', sa.Numeric(precision=18, scale=4), nullable=True),
    sa.Column('report_json', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('processed', sa.Boolean(), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('first_collected_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_collected_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('collect_count', sa.Integer(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_document_account_id_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_document')),
    sa.UniqueConstraint('doc_id', name=op.f('uq_document_doc_id'))
    )
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.create_index('ix_document_account_created', ['account_id', 'created_at'], unique=False)
        batch_op.create_index('ix_document_account_unprocessed', ['account_id', 'processed', 'created_at'], unique=False)
        batch_op.create_index('ix_document_expires_at', ['expires_at'], unique=False)

    op.create_table('event',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('subject', sa.String(length=200), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_event_account_id_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event'))
    )
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.create_index('ix_event_account_at', ['account_id', 'at'], unique=False)

    op.create_table('received_order',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('xml', sa.LargeBinary(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('order_number', sa.String(length=100), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('report_json', sa.Text(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_received_order_account_id_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_received_order')),
    sa.UniqueConstraint('account_id', 'order_number', 'revision', name=op.f('uq_received_order_account_id_order_number_revision')),
    sa.UniqueConstraint('account_id', 'order_number', 'sha256', name=op.f('uq_received_order_account_id_order_number_sha256'))
    )


def downgrade() -> None:
    op.drop_table('received_order')
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.drop_index('ix_event_account_at')

    op.drop_table('event')
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.drop_index('ix_document_expires_at')
        batch_op.drop_index('ix_document_account_unprocessed')
        batch_op.drop_index('ix_document_account_created')

    op.drop_table('document')
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_index('ix_account_duns')

    op.drop_table('account')
