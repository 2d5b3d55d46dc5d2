"""The community tree: district → street → community → (estate) → grid → building → unit, and households."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, ColumnElement, ForeignKey, Index, Integer, String, UniqueConstraint, and_, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import Grouping
from sqlalchemy.sql.visitors import InternalTraversal

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
    Level.street: {Level.district, None},  # a street may be the top of an install (the first-run page offers it)
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
        # text_pattern_ops: PostgreSQL serves `path_under` (its `~>=~`/`~<~` range) from this index whatever the
        # database's collation.
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
    #: Materialised path of ids, "/1/5/23/": everything under X is `path_under(Area.path, X.path)` in SQL.
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
        return path_ids(self.path)

    @property
    def head_tier(self) -> int | None:
        return HEAD_TIERS.get(self.level)

    def contains(self, other: Area) -> bool:
        return other.path.startswith(self.path)


# --- "under this area" in SQL --------------------------------------------------------------------------------------

#: The character right after the digits and "/" a path is made of: everything under "/1/5/" sorts in
#: ["/1/5/", "/1/5/:").
def path_ids(path: str) -> list[int]:
    """The ids of a materialised path ("/1/5/23/"), from the root down."""
    return [int(part) for part in path.strip("/").split("/") if part]


PATH_END = ":"


class PathUnder(ColumnElement[bool]):
    """`path` (an area's path column) lies under `prefix` (a path, or another area's path column): the area
    itself or one of its descendants.

    Said as a range, `path >= prefix AND path < prefix || ':'`, not as `path LIKE prefix || '%'`: SQLite serves a
    LIKE from an index only in a case-sensitive mode and PostgreSQL only for a pattern known when it plans (not for
    another row's path, nor in a cached generic plan), so a LIKE reads every area of the city. The range reads only
    the area's own subtree from ix_area_path, on both. PostgreSQL compares with `~>=~` and `~<~`, the byte-order
    operators of that index's `text_pattern_ops`, whatever the database's collation."""

    type = Boolean()
    _is_implicitly_boolean = True
    inherit_cache = True
    _traverse_internals = [("path", InternalTraversal.dp_clauseelement),
                           ("low", InternalTraversal.dp_clauseelement),
                           ("high", InternalTraversal.dp_clauseelement)]

    def __init__(self, path, prefix):
        self.path = path
        if isinstance(prefix, str):
            self.low, self.high = literal(prefix, String), literal(prefix + PATH_END, String)
        else:
            # In parentheses: PostgreSQL's `~<~` would bind tighter than `||`.
            self.low, self.high = prefix, Grouping(prefix.concat(PATH_END))


def _grouped(compiler, clause, **kw) -> str:
    """In parentheses, so that NOT or a comparison around the condition takes it whole."""
    return f"({compiler.process(clause, **kw)})"


@compiles(PathUnder)
def _path_under(element: PathUnder, compiler, **kw) -> str:
    return _grouped(compiler, and_(element.path >= element.low, element.path < element.high), **kw)


@compiles(PathUnder, "postgresql")
def _path_under_postgresql(element: PathUnder, compiler, **kw) -> str:
    return _grouped(compiler, and_(element.path.op("~>=~", is_comparison=True)(element.low),
                                   element.path.op("~<~", is_comparison=True)(element.high)), **kw)


def path_under(path, prefix) -> PathUnder:
    """The SQL condition "the area of `path` is the area of `prefix` or lies under it", served by ix_area_path."""
    return PathUnder(path, prefix)


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
