"""SQLAlchemy models, one module per aggregate. Importing this package registers every table."""

from models.area import ALLOWED_PARENTS, HEAD_TIERS, Area, Household, Level
from models.audit import AuditEvent
from models.base import db, utcnow
from models.user import ApiToken, HeadPost, Role, RoleGrant, User, mask_phone

__all__ = [
    "ALLOWED_PARENTS",
    "HEAD_TIERS",
    "ApiToken",
    "Area",
    "AuditEvent",
    "HeadPost",
    "Household",
    "Level",
    "Role",
    "RoleGrant",
    "User",
    "db",
    "mask_phone",
    "utcnow",
]
