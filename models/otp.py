"""One-time sign-in codes: by SMS (6 digits, minutes) or printed by staff (8 digits, days); only their HMAC is kept."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import UTCDateTime, db, utcnow


class CodeKind(enum.StrEnum):
    #: Sent by SMS to the person's phone: sign-in and password reset.
    sms = "sms"
    #: Issued by staff and handed over on paper, for a resident without a phone of their own.
    staff = "staff"


class SignInCode(db.Model):
    """A one-time code a person signs in with. At most one of a kind works per person: a new one ends the old one.
    It ends when used, when superseded, after its last allowed try, or at `expires_at`."""

    __tablename__ = "sign_in_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False, index=True)
    kind: Mapped[CodeKind] = mapped_column(
        db.Enum(CodeKind, native_enum=False, length=8, validate_strings=True), nullable=False)
    #: HMAC-SHA256 of "<user id>:<code>" keyed by the app's secret (domain/otp.py): never the code itself.
    code_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    #: Wrong or right codes tried against it; the try that reaches the limit ends it.
    tries: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    #: When it stopped working before expiring: used, superseded by a newer code, or out of tries.
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: When the person signed in with it (then `ended_at` is the same time).
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: The staff member who issued a printed code; NULL for codes sent by SMS.
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)

    def __repr__(self) -> str:
        return f"<SignInCode {self.id} {self.kind} of user {self.user_id}>"
