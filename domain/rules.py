"""Per-community points rules: values that change from an effective date on, never retroactively."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, select

from domain import audit
from domain.access import require
from domain.categories import categories
from domain.errors import Invalid, Refused
from models import Area, User, db, utcnow
from models.ledger import PointsRule

#: key → (default, label). "service.per_hour.<category>" and "task.<category>" fall back to their base key.
DEFAULTS: dict[str, tuple[int, object]] = {
    "service.per_hour": (10, _l("Points per service hour")),
    "task.default": (5, _l("Points per finished task")),
    "task.escalate_hours": (48, _l("Hours a need may wait at one tier before it moves up (0: never)")),
    "event.per_hour": (10, _l("Points per hour of event attendance")),
    "honour.award": (100, _l("Points for an honour")),
    "hours.rounding_minutes": (30, _l("Service time is rounded down to (minutes)")),
    "hours.daily_cap_minutes": (480, _l("Most service minutes counted per person per day")),
    "points.expiry_years": (1, _l("Points expire on 31 Dec this many years after the year earned (0: never)")),
    "market.fen_per_point": (50, _l("Money value of one point in the market (fen; 100 fen = 1 yuan)")),
    "market.pickup_days": (14, _l("Days to pick up a redeemed reward before it is cancelled and refunded")),
}

#: A change may take effect a little before "now", so a form submitted at 10:00:00 for 10:00 is not refused.
GRACE = timedelta(minutes=5)


def base_key(key: str) -> str:
    """'service.per_hour.elderly_care' → 'service.per_hour'; 'task.plumbing' → 'task.default'."""
    if key in DEFAULTS:
        return key
    head, _, _rest = key.rpartition(".")
    if head in DEFAULTS:
        return head
    prefix = key.split(".", 1)[0]
    if f"{prefix}.default" in DEFAULTS:
        return f"{prefix}.default"
    raise Invalid("rule_unknown", _l("Unknown rule."), {"key": [_l("Unknown rule.")]})


_RULES = PointsRule.__table__
#: The rules of some keys set for a community up to a moment, the latest first; built once (every check-out,
#: approval and redemption asks).
_IN_FORCE = (select(_RULES.c.key, _RULES.c.value)
             .where(_RULES.c.community_id == bindparam("community_id"),
                    _RULES.c.key.in_(bindparam("keys", expanding=True)), _RULES.c.effective_from <= bindparam("at"))
             .order_by(_RULES.c.effective_from.desc(), _RULES.c.id.desc()))


def rule_value(community: Area, key: str, at: datetime | None = None) -> int:
    """The value in force at `at` for `key`, else for its base key, else the default."""
    at = at or utcnow()
    base = base_key(key)
    candidates = [key] if key == base else [key, base]
    rows = db.session.execute(_IN_FORCE, {"community_id": community.id, "keys": candidates, "at": at}).all()
    for wanted in candidates:
        for found_key, value in rows:
            if found_key == wanted:
                return value
    return DEFAULTS[base][0]


def set_rule(actor: User, community: Area, key: str, value: int, *, effective_from: datetime | None = None,
             reason: str | None = None, now: datetime | None = None) -> PointsRule:
    """Staff set a rule's value from `effective_from` (default: now) on.

    Raises Invalid(rule_unknown, rule_value_invalid), Refused(rule_not_retroactive), NotFound (scope).
    """
    now = now or utcnow()
    require(actor, "area.manage", community)
    base_key(key)
    if not isinstance(value, int) or value < 0 or value > 100_000:
        raise Invalid("rule_value_invalid", _l("Enter a whole number from 0 to 100000."),
                      {"value": [_l("Enter a whole number from 0 to 100000.")]})
    effective_from = effective_from or now
    if effective_from < now - GRACE:
        raise Refused("rule_not_retroactive", _l("A rule can only change from now on, never for the past."),
                      {"effective_from": [_l("Choose now or a later time.")]})
    rule = PointsRule(community_id=community.id, key=key, value=value, effective_from=effective_from,
                      created_by_id=actor.id, reason=reason, created_at=now)
    db.session.add(rule)
    db.session.flush()
    audit.record(actor, "rule.set", rule, area_id=community.id, reason=reason, now=now,
                 before={"value": rule_value(community, key, effective_from - timedelta(microseconds=1))},
                 after={"key": key, "value": value, "effective_from": effective_from.isoformat()})
    return rule


def category_keys(community: Area) -> dict[str, str]:
    """Per-category rule keys of the community, with the category's name: a service hour or a finished task
    can be worth more in one category than another."""
    keys = {f"service.per_hour.{c.code}": c.name for c in categories(community, "service")}
    keys |= {f"task.{c.code}": c.name for c in categories(community, "need")}
    keys |= {f"task.escalate_hours.{c.code}": c.name for c in categories(community, "need")}
    return keys


def rules_table(community: Area, now: datetime | None = None) -> list[dict]:
    """Every rule with its value now, its default and what is scheduled, for the rules page."""
    now = now or utcnow()
    rows = db.session.scalars(select(PointsRule).where(PointsRule.community_id == community.id)
                              .order_by(PointsRule.key, PointsRule.effective_from)).all()
    per_category = category_keys(community)
    keys = list(DEFAULTS) + list(per_category) + sorted({r.key for r in rows} - set(DEFAULTS) - set(per_category))
    table = []
    for key in keys:
        default, label = DEFAULTS[base_key(key)]
        table.append({
            "key": key, "label": f"{label} · {per_category[key]}" if key in per_category else str(label),
            "default": default, "value": rule_value(community, key, now), "by_category": key in per_category,
            "scheduled": [r for r in rows if r.key == key and r.effective_from > now],
            "history": [r for r in rows if r.key == key and r.effective_from <= now],
        })
    return table
