"""Category lists (service, need, reward, team): defaults every community has, plus its own edits."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from domain import audit
from domain.access import require
from domain.errors import Invalid
from models import Area, User, db
from models.service import Category

KINDS = ("service", "need", "reward", "team")

_SERVICE = [
    ("elderly_care", _l("Elderly care")), ("health", _l("Health")), ("repairs", _l("Repairs")),
    ("patrol", _l("Patrols")), ("employment", _l("Employment help")), ("environment", _l("Environment")),
    ("culture", _l("Culture")), ("safety", _l("Safety")), ("other", _l("Other")),
]

DEFAULTS: dict[str, list[tuple[str, object]]] = {
    "service": _SERVICE,
    "team": _SERVICE,
    "need": [
        ("plumbing", _l("Plumbing")), ("repairs", _l("Repairs")), ("elderly_help", _l("Help for the elderly")),
        ("dispute", _l("Dispute")), ("safety_hazard", _l("Safety hazard")), ("environment", _l("Environment")),
        ("policy", _l("Policy question")), ("other", _l("Other")),
    ],
    "reward": [("goods", _l("Goods")), ("service", _l("Services")), ("privilege", _l("Privileges"))],
}


@dataclass(frozen=True)
class Choice:
    code: str
    name: str


def categories(community: Area | None, kind: str, *, include_hidden: bool = False) -> list[Choice]:
    """The community's list: defaults (renamed or hidden by its rows), then its own additions."""
    if kind not in KINDS:
        raise Invalid("category_kind_invalid", _l("Unknown kind of category."))
    rows = {} if community is None else {c.code: c for c in db.session.scalars(
        select(Category).where(Category.community_id == community.id, Category.kind == kind).order_by(Category.id))}
    out = []
    for code, name in DEFAULTS[kind]:
        row = rows.pop(code, None)
        if row is None:
            out.append(Choice(code, str(name)))
        elif row.active or include_hidden:
            out.append(Choice(code, row.name))
    out += [Choice(row.code, row.name) for row in rows.values() if row.active or include_hidden]
    return out


def require_category(community: Area, kind: str, code: str) -> str:
    """Raise Invalid(category_invalid) unless `code` is an active category of the community."""
    if code not in {c.code for c in categories(community, kind)}:
        raise Invalid("category_invalid", _l("Choose a category from the list."),
                      {"category": [_l("Choose a category from the list.")]})
    return code


def set_category(actor: User, community: Area, kind: str, code: str, name: str, *, active: bool = True) -> Category:
    """Add, rename or hide a category of the community. Raises Invalid, NotFound (scope)."""
    require(actor, "area.manage", community)
    code, name = (code or "").strip().lower(), (name or "").strip()
    if kind not in KINDS or not code.replace("_", "").isalnum() or len(code) > 32 or not name or len(name) > 50:
        raise Invalid("category_invalid", _l("A category needs a short code (letters, digits, _) and a name."))
    row = db.session.scalar(select(Category).where(Category.community_id == community.id, Category.kind == kind,
                                                   Category.code == code))
    before = {"name": row.name, "active": row.active} if row else None
    if row is None:
        row = Category(community_id=community.id, kind=kind, code=code, name=name, active=active)
        db.session.add(row)
    else:
        row.name, row.active = name, active
    db.session.flush()
    audit.record(actor, "category.set", row, area_id=community.id, before=before,
                 after={"kind": kind, "code": code, "name": name, "active": active})
    return row
