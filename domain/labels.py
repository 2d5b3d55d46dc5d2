"""Display names of codes (levels, roles, transaction kinds, record states), translated, for pages and registers."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from models import Level, Role, ServiceStatus, TxnKind

LEVEL_NAMES = {
    Level.district: _l("District"),
    Level.street: _l("Street"),
    Level.community: _l("Community"),
    Level.estate: _l("Estate"),
    Level.grid: _l("Grid"),
    Level.building: _l("Building"),
    Level.unit: _l("Unit"),
}

ROLE_NAMES = {
    Role.resident: _l("Resident"),
    Role.volunteer: _l("Volunteer"),
    Role.head: _l("Head"),
    Role.team_leader: _l("Team leader"),
    Role.staff: _l("Community staff"),
    Role.admin: _l("Administrator"),
}

TXN_KIND_NAMES = {
    TxnKind.service: _l("Volunteer service"),
    TxnKind.task: _l("Task finished"),
    TxnKind.event: _l("Event attendance"),
    TxnKind.honour: _l("Honour"),
    TxnKind.redemption: _l("Redemption"),
    TxnKind.adjustment: _l("Adjustment by staff"),
    TxnKind.expiry: _l("Expired"),
    TxnKind.reversal: _l("Reversal"),
}


SERVICE_STATUS_NAMES = {
    ServiceStatus.submitted: _l("Waiting for approval"),
    ServiceStatus.approved: _l("Approved"),
    ServiceStatus.rejected: _l("Rejected"),
    ServiceStatus.revoked: _l("Revoked"),
}


def level_name(level) -> str:
    return str(LEVEL_NAMES[Level(level)])


def role_name(role) -> str:
    return str(ROLE_NAMES[Role(role)])


def txn_kind_name(kind) -> str:
    return str(TXN_KIND_NAMES[TxnKind(kind)])


def service_status_name(status) -> str:
    return str(SERVICE_STATUS_NAMES[ServiceStatus(status)])
