"""Who answers for a need and until when (小事不出网格、大事不出社区): the tiers of heads above its area (unit,
building, grid; tiers nobody heads are skipped), the community's staff above them, and the time a need may wait
at one tier, a community's rule per category."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from domain import org, rules
from models import Area, HeadPost, Role, RoleGrant, User, db
from models.tasks import Task

__all__ = ["responsible_ids", "responsible_people", "tier_title", "time_limit"]


def tier_title(community: Area | None, tier: int) -> str:
    """网格长 / 楼栋长 / 单元长 (or the community's own titles), and community staff above them."""
    return org.head_title(community, tier) if tier else str(_l("Community staff"))


def _heads_by_tier(area: Area) -> dict[int, HeadPost]:
    """Current heads of the area and the areas above it, by tier."""
    return {post.tier: post for post in org.current_heads(area.ancestor_ids).values()}


def _responsible_tier(area: Area, highest: int, resident_id: int | None) -> int:
    """The first tier from `highest` upwards whose area has a head (other than the resident who asked); 0: staff."""
    heads = _heads_by_tier(area)
    for tier in range(highest, 0, -1):
        post = heads.get(tier)
        if post is not None and post.user_id != resident_id:
            return tier
    return 0


def _staff_ids(community_id: int) -> list[int]:
    return list(db.session.scalars(select(RoleGrant.user_id).where(RoleGrant.area_id == community_id,
                                                                   RoleGrant.role == Role.staff)))


def responsible_ids(task: Task, tier: int | None = None) -> list[int]:
    """Who answers for the task at `tier` (default: its tier now): that tier's head, or the community's staff."""
    tier = task.tier if tier is None else tier
    if tier:
        post = _heads_by_tier(task.area).get(tier)
        if post is not None:
            return [post.user_id]
    return _staff_ids(task.community_id)


def responsible_people(task: Task) -> list[User]:
    """The people who answer for the task now, for its page."""
    return [person for person in (db.session.get(User, i) for i in responsible_ids(task)) if person]


def time_limit(community: Area, category: str, at: datetime) -> timedelta | None:
    """How long a need may wait at one tier: the rule "task.escalate_hours[.<category>]"; 0 hours: no limit."""
    hours = rules.rule_value(community, f"task.escalate_hours.{category}", at)
    return timedelta(hours=hours) if hours > 0 else None


def _deadline(task_or_community, category: str, tier: int, start: datetime) -> datetime | None:
    community = task_or_community.community if isinstance(task_or_community, Task) else task_or_community
    if tier == 0:
        return None
    limit = time_limit(community, category, start)
    return start + limit if limit is not None else None
