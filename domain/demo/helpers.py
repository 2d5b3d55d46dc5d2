"""What the demo's loaders share: deterministic people, the timeline of point changes run in the order of their time,
Beijing wall-clock times, and who the volunteers and heads of a community are.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from sqlalchemy import select

from domain.demo.data import GIVEN, SURNAMES
from domain.ledger import SHANGHAI
from models import (
    Area,
    HeadPost,
    Household,
    Role,
    RoleGrant,
    User,
    db,
)
from models.area import path_under


class _People:
    """Hands out deterministic names and phone numbers, all sharing one password hash."""

    def __init__(self, password_hash: str):
        self.password_hash = password_hash
        self.count = 0

    def make(self, phone: str, household: Household | None = None, name: str | None = None) -> User:
        self.count += 1
        n = self.count
        user = User(name=name or SURNAMES[n % len(SURNAMES)] + GIVEN[(n * 7) % len(GIVEN)], phone=phone,
                    household=household, password_hash=self.password_hash, public_consent=n % 3 != 0)
        db.session.add(user)
        return user



class _Timeline:
    """Changes of points, kept and run at the end in the order of their time.

    The ledger writes each entry's balance-after in the order it posts, and a points history is read by
    time: posting out of time order would make the balances there jump about.
    """

    def __init__(self):
        self._items: list[tuple[datetime, int, Callable[[], object]]] = []

    def at(self, when: datetime, action: Callable[[], object]) -> None:
        self._items.append((when, len(self._items), action))

    def run(self) -> None:
        for _when, _order, action in sorted(self._items, key=lambda item: (item[0], item[1])):
            action()


def _local(moment: datetime) -> datetime:
    return moment.astimezone(SHANGHAI)


def _at(day: date, clock: time) -> datetime:
    """A Beijing wall-clock time on a day, as an aware datetime."""
    return datetime.combine(day, clock, tzinfo=SHANGHAI)


def _working_day_after(moment: datetime, rng: random.Random) -> datetime:
    """When staff get to it: office hours of the next day, Beijing time."""
    day = _local(moment).date() + timedelta(days=1)
    return _at(day, time(rng.randint(9, 16), rng.choice((0, 15, 30, 45))))



def _volunteers(community: Area) -> list[User]:
    return list(db.session.scalars(
        select(User).join(RoleGrant, RoleGrant.user_id == User.id)
        .where(RoleGrant.area_id == community.id, RoleGrant.role == Role.volunteer).order_by(User.id)))



def _heads(community: Area) -> list[User]:
    return list(db.session.scalars(
        select(User).join(HeadPost, HeadPost.user_id == User.id).join(Area, HeadPost.area_id == Area.id)
        .where(path_under(Area.path, community.path), HeadPost.until.is_(None)).order_by(Area.path, User.id)))



def _resident(people: _People, phone: str, community: Area, household: Household | None = None) -> User:
    user = people.make(phone, household)
    user.grants.append(RoleGrant(role=Role.resident, area=community))
    user.grants.append(RoleGrant(role=Role.volunteer, area=community))
    db.session.flush()
    return user
