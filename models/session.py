"""Page sessions that were signed out before they expired."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import UTCDateTime, db


class RevokedSession(db.Model):
    """A signed-out page session. Sessions are signed cookies kept by the browser, so signing out can only
    work by the server remembering which session ids it refuses; a row is needed only until the session
    would have reached its absolute time-out anyway, then it can go."""

    __tablename__ = "revoked_session"

    #: The random id carried in the signed session cookie (useless without the cookie's signature).
    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False, index=True)
    #: The session's absolute time-out: after it the cookie is refused whatever this table says.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)

    def __repr__(self) -> str:
        return f"<RevokedSession user {self.user_id} until {self.expires_at}>"
