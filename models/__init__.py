"""SQLAlchemy models, one module per aggregate. Importing this package registers every table."""

from models.area import ALLOWED_PARENTS, HEAD_TIERS, Area, Household, Level
from models.audit import AuditEvent
from models.base import db, utcnow
from models.ledger import (
    Account,
    AccountKind,
    AppendOnlyError,
    Entry,
    Lot,
    LotUse,
    MonthlyTotal,
    PointsRule,
    Transaction,
    TxnKind,
)
from models.service import (
    Category,
    Certificate,
    DailyMinutes,
    HoursMonthly,
    MemberStatus,
    ServiceRecord,
    ServiceSource,
    ServiceStatus,
    Team,
    TeamMember,
)
from models.user import ApiToken, HeadPost, Role, RoleGrant, User, mask_phone

__all__ = [
    "ALLOWED_PARENTS",
    "HEAD_TIERS",
    "Account",
    "AccountKind",
    "ApiToken",
    "Category",
    "Certificate",
    "DailyMinutes",
    "HoursMonthly",
    "MemberStatus",
    "ServiceRecord",
    "ServiceSource",
    "ServiceStatus",
    "Team",
    "TeamMember",
    "AppendOnlyError",
    "Area",
    "AuditEvent",
    "Entry",
    "HeadPost",
    "Household",
    "Level",
    "Lot",
    "LotUse",
    "MonthlyTotal",
    "PointsRule",
    "Role",
    "RoleGrant",
    "Transaction",
    "TxnKind",
    "User",
    "db",
    "mask_phone",
    "utcnow",
]
