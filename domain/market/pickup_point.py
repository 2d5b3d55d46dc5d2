"""Where rewards are picked up: a community's pickup point (address, opening hours, contact phone), kept in the
community's settings (Area.settings["pickup"]), shown on the reward, the confirmation and the ticket; changed by the
community's staff, audited."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l

from domain import audit
from domain.access import require
from domain.errors import Invalid
from models import Area, User

__all__ = ["PICKUP_LIMITS", "PickupPoint", "pickup_point", "set_pickup_point"]

#: The longest each part may be, in characters.
PICKUP_LIMITS = {"address": 200, "hours": 200, "phone": 30}


@dataclass(frozen=True)
class PickupPoint:
    address: str = ""
    hours: str = ""
    phone: str = ""

    def __bool__(self) -> bool:
        return bool(self.address or self.hours or self.phone)


def pickup_point(community: Area) -> PickupPoint:
    """The community's pickup point as its staff set it (empty parts: not set)."""
    saved = (community.settings or {}).get("pickup")
    if not isinstance(saved, dict):
        return PickupPoint()
    return PickupPoint(**{name: str(saved.get(name) or "")[:most] for name, most in PICKUP_LIMITS.items()})


def _clean(name: str, value: str | None) -> str:
    value = " ".join((value or "").split())
    if len(value) > PICKUP_LIMITS[name]:
        message = _l("At most %(n)s characters.", n=PICKUP_LIMITS[name])
        raise Invalid("too_long", message, {name: [message]})
    if name == "phone" and value and not all(c.isdigit() or c in "+-() " for c in value):
        message = _l("Digits only, with - or spaces if you like.")
        raise Invalid("phone_invalid", message, {name: [message]})
    return value


def set_pickup_point(actor: User, community: Area, *, address: str | None, hours: str | None,
                     phone: str | None, now: datetime | None = None) -> PickupPoint:
    """Set the community's pickup point, audited with the values before and after.

    Raises NotFound (not the actor's community to run), Invalid(too_long, phone_invalid)."""
    require(actor, "market.manage", community)
    before = pickup_point(community)
    after = PickupPoint(address=_clean("address", address), hours=_clean("hours", hours),
                        phone=_clean("phone", phone))
    if after == before:
        return after
    # A new dict: the JSON column sees a changed value only when it is given a new object.
    community.settings = {**(community.settings or {}), "pickup": asdict(after)}
    audit.record(actor, "market.pickup_point", community, area_id=community.id, before=asdict(before),
                 after=asdict(after), now=now)
    return after
