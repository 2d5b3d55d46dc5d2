"""Page forms submitted once: the one-time key each creating form carries, and where its submission led."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import UTCDateTime, db, utcnow


class FormSubmission(db.Model):
    """A page form's submission key, claimed by the person in the same transaction as the form's writes: a second
    POST with the key (Back and submit again, a double tap) finds it and is shown the first one's result. A
    submission that was refused rolls its claim back with everything else, so the key stays usable."""

    __tablename__ = "form_submission"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False)
    #: The random key the form page was rendered with (blueprints/once.py), 16 to 64 of [A-Za-z0-9_-].
    key: Mapped[str] = mapped_column(String(64), nullable=False)
    #: The view that handled it ("service.record"): for reading the table, not for matching.
    endpoint: Mapped[str] = mapped_column(String(100), nullable=False)
    #: Where the submission led (the redirect after it), written just after its commit; "" when it led nowhere
    #: in particular (a page rendered in place); NULL while not yet written.
    result_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, index=True)

    def __repr__(self) -> str:
        return f"<FormSubmission {self.endpoint} by {self.user_id}>"
