"""People, their scoped roles, their head posts, and API tokens."""

from __future__ import annotations

import enum
from datetime import date, datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.area import Area, Household
from models.base import UTCDateTime, db, utcnow


class Role(enum.StrEnum):
    resident = "resident"
    volunteer = "volunteer"
    head = "head"
    team_leader = "team_leader"
    staff = "staff"
    admin = "admin"


class User(UserMixin, db.Model):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), nullable=False)
    phone: Mapped[str] = mapped_column(String(20), nullable=False, unique=True)
    #: Argon2id hash; NULL for people imported from a roster who have not been given a password yet.
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("household.id"), nullable=True, index=True)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    #: Moved on to end every page session of the person at once (sign out everywhere, disabled): a session
    #: signed in under another version is refused.
    session_version: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    #: Moved on by the database (triggers of migration 0018) whenever the person's roles, name, household, active
    #: flag or session version change, however they are written: workers cache a bearer token's caller under it
    #: (domain/callers.py). Never written by the application; deferred, since only that cache reads it.
    access_version: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0", deferred=True)
    #: Consent to appear (masked) on public lists: leaderboards, notices, honour rolls.
    public_consent: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    #: Consent to be named (masked) in honour notices: a nomination of this person counts as consented.
    honour_consent: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default="0")
    #: Only to tell whether the person is under 14; NULL when not recorded (adults need not give it).
    birth_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    #: The adult who consents for a person under 14 (PIPL art. 31) and acts for them.
    guardian_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True, index=True)
    #: Set when staff anonymised the person after they left: name and phone are placeholders from then on.
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: 长辈版 (elder mode: larger text, larger targets) as the person last chose it, on any device; NULL while
    #: they never chose, and then the browser's own cookie decides (blueprints/display.py).
    elder_mode: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    #: The text step chosen in elder mode (domain.display.TEXT_SIZES); NULL while never chosen.
    text_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    household: Mapped[Household | None] = relationship(lazy="joined")
    guardian: Mapped[User | None] = relationship(remote_side=[id], lazy="select")
    grants: Mapped[list[RoleGrant]] = relationship(
        back_populates="user", lazy="selectin", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<User {self.id} {self.name}>"

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def masked_phone(self) -> str:
        # An anonymised person's phone is a placeholder, not a number: nothing to show.
        return "—" if self.anonymised_at is not None else mask_phone(self.phone)

    @property
    def masked_name(self) -> str:
        return mask_name(self.name)

    def has_role(self, *roles: Role) -> bool:
        return any(g.role in roles for g in self.grants)


def mask_name(name: str) -> str:
    """王小明 → 王**: the first character, then one star for each other one (public lists, notices)."""
    name = (name or "").strip()
    return name[:1] + "*" * (len(name) - 1)


def mask_phone(phone: str) -> str:
    """138****1234: the first three and the last four digits."""
    if len(phone) < 8:
        return "*" * len(phone)
    return f"{phone[:3]}****{phone[-4:]}"


class RoleGrant(db.Model):
    """A role held over an area subtree: staff of a community act on everything under it."""

    __tablename__ = "role_grant"
    __table_args__ = (UniqueConstraint("user_id", "role", "area_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False, index=True)
    role: Mapped[Role] = mapped_column(
        db.Enum(Role, native_enum=False, length=16, validate_strings=True), nullable=False
    )
    #: NULL only for administrators: the whole installation.
    area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id"), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    user: Mapped[User] = relationship(back_populates="grants")
    area: Mapped[Area | None] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<RoleGrant {self.user_id} {self.role}@{self.area_id}>"


class HeadPost(db.Model):
    """Who heads a grid (tier 1), building (2) or unit (3), and since when; ended posts are history."""

    __tablename__ = "head_post"
    __table_args__ = (
        Index("ix_head_post_area_id", "area_id"),
        Index("ix_head_post_user_id", "user_id"),
        # One current head per area, whatever the concurrency: the database decides, not a check.
        Index("uq_head_post_current", "area_id", unique=True,
              sqlite_where=text("until IS NULL"), postgresql_where=text("until IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False)
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id"), nullable=False)
    tier: Mapped[int] = mapped_column(Integer, nullable=False)
    since: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    #: NULL while the post is held.
    until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    appointed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    end_reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")
    area: Mapped[Area] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<HeadPost {self.user_id} tier {self.tier}@{self.area_id}>"

    @property
    def is_current(self) -> bool:
        return self.until is None


class ApiToken(db.Model):
    """A bearer token for API clients. Only its SHA-256 is stored."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False, index=True)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    user: Mapped[User] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<ApiToken {self.id} user {self.user_id}>"

    def is_valid(self, now: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now
