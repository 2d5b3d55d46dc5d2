"""The community tree: district → street → community → (estate) → grid → building → unit, and households."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import UTCDateTime, db, utcnow


class Level(enum.StrEnum):
    district = "district"
    street = "street"
    community = "community"
    estate = "estate"
    grid = "grid"
    building = "building"
    unit = "unit"


#: Which levels may sit directly under which. An estate is optional, so grids and buildings may
#: hang from a community or an estate alike.
ALLOWED_PARENTS: dict[Level, set[Level | None]] = {
    Level.district: {None},
    Level.street: {Level.district},
    Level.community: {Level.street},
    Level.estate: {Level.community},
    Level.grid: {Level.community, Level.estate},
    Level.building: {Level.grid},
    Level.unit: {Level.building},
}

#: Head tier of each level that has a head: 1 grid head, 2 building head, 3 unit head.
HEAD_TIERS: dict[Level, int] = {Level.grid: 1, Level.building: 2, Level.unit: 3}


class Area(db.Model):
    __tablename__ = "area"
    __table_args__ = (
        UniqueConstraint("parent_id", "name"),
        # text_pattern_ops lets PostgreSQL use the index for `path LIKE '/1/5/%'` whatever the collation.
        Index("ix_area_path", "path", postgresql_ops={"path": "text_pattern_ops"}),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("area.id"), nullable=True, index=True)
    level: Mapped[Level] = mapped_column(
        db.Enum(Level, native_enum=False, length=16, validate_strings=True), nullable=False
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    #: Optional external code, e.g. the city's grid code, for syncing with other systems.
    code: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    #: Materialised path of ids, "/1/5/23/": everything under X is `path LIKE X.path || '%'`.
    path: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    #: Community settings (head titles, later points and market rules); empty on other levels.
    settings: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    parent: Mapped[Area | None] = relationship(remote_side=[id], lazy="joined", innerjoin=False)

    def __repr__(self) -> str:
        return f"<Area {self.id} {self.level} {self.name}>"

    @property
    def ancestor_ids(self) -> list[int]:
        """Ids from the root down to and including this area."""
        return [int(part) for part in self.path.strip("/").split("/") if part]

    @property
    def head_tier(self) -> int | None:
        return HEAD_TIERS.get(self.level)

    def contains(self, other: Area) -> bool:
        return other.path.startswith(self.path)


class Household(db.Model):
    __tablename__ = "household"
    __table_args__ = (UniqueConstraint("unit_id", "label"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("area.id"), nullable=False, index=True)
    #: The door number inside the unit, e.g. "201".
    label: Mapped[str] = mapped_column(String(32), nullable=False)
    size: Mapped[int | None] = mapped_column(Integer, nullable=True)

    unit: Mapped[Area] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<Household {self.id} {self.label}>"
