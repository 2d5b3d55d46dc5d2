"""Machine credentials (API clients) and the links between a client's own ids and ours (the roster sync)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.area import Area
from models.base import UTCDateTime, db, utcnow


class ApiClient(db.Model):
    """Another system (the city's grid-management system) calling the sync API with its own key, scoped to an area.
    Only the key's SHA-256 is stored; its first characters are kept apart so people can tell keys apart."""

    __tablename__ = "api_client"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    #: The client's scope: everything it syncs lies at or under this area.
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id"), nullable=False, index=True)
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    #: The key's visible beginning ("szc_AbCd"), shown on the list to recognise a key; not enough to use it.
    key_prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    #: Set once: a revoked key is refused from then on.
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    area: Mapped[Area] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<ApiClient {self.id} {self.name}>"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class SyncKind(enum.StrEnum):
    area = "area"
    household = "household"
    person = "person"


class SyncLink(db.Model):
    """The client's external id of one of our rows: what makes sending the same roster twice change nothing."""

    __tablename__ = "sync_link"
    __table_args__ = (
        UniqueConstraint("client_id", "kind", "external_id"),
        Index("ix_sync_link_local", "kind", "local_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("api_client.id"), nullable=False)
    kind: Mapped[SyncKind] = mapped_column(
        db.Enum(SyncKind, native_enum=False, length=16, validate_strings=True), nullable=False
    )
    #: The client's own id of the row (≤ 64 characters).
    external_id: Mapped[str] = mapped_column(String(64), nullable=False)
    #: Our id of the row: an area, a household or a user, as `kind` says.
    local_id: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    def __repr__(self) -> str:
        return f"<SyncLink {self.client_id} {self.kind}:{self.external_id} → {self.local_id}>"
