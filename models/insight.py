"""Published monthly leaderboards (月度排行榜): a community's ranking for a month, kept as it was published.

Live leaderboards are computed from the monthly totals whenever asked. Communities also publish a ranking
for each month once it is over; `flask leaderboards snapshot` keeps that ranking here so it reads the same
later, whatever late approvals or reversals change the totals afterwards.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.area import Area
from models.base import UTCDateTime, db, utcnow
from models.user import User


class Metric(enum.StrEnum):
    #: Points earned (service, tasks, events, honours, adjustments, net of reversals); spending never lowers it.
    points = "points"
    #: Approved service minutes, shown in hours.
    hours = "hours"


class LeaderboardSnapshot(db.Model):
    """One community's published ranking of one metric for one month: taken once, never changed."""

    __tablename__ = "leaderboard_snapshot"
    __table_args__ = (UniqueConstraint("community_id", "month", "metric"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("area.id"), nullable=False)
    #: 202611 for November 2026, Beijing time, as the monthly totals count it.
    month: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    metric: Mapped[Metric] = mapped_column(Enum(Metric, native_enum=False, length=16, validate_strings=True),
                                           nullable=False)
    #: How many people had anything to rank that month (the lines keep only the top of them).
    ranked: Mapped[int] = mapped_column(Integer, nullable=False)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    community: Mapped[Area] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<LeaderboardSnapshot {self.community_id} {self.month} {self.metric}>"


class LeaderboardLine(db.Model):
    """One person's place in a published ranking. Names are not copied: consent is read when it is shown."""

    __tablename__ = "leaderboard_line"
    __table_args__ = (
        UniqueConstraint("snapshot_id", "person_id"),
        Index("ix_leaderboard_line_snapshot_rank", "snapshot_id", "rank"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("leaderboard_snapshot.id"), nullable=False)
    person_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False, index=True)
    #: Competition ranking: equal values share a rank and the next rank is skipped (1, 2, 2, 4).
    rank: Mapped[int] = mapped_column(Integer, nullable=False)
    #: Points, or minutes for the hours metric.
    value: Mapped[int] = mapped_column(Integer, nullable=False)

    person: Mapped[User] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<LeaderboardLine {self.snapshot_id} #{self.rank} person={self.person_id}>"
