"""Turning models into the plain dicts the API schemas dump, with masking decided per viewer."""

from __future__ import annotations

from domain import org
from domain.access import can
from models import Area, HeadPost, User


def person(viewer: User, p: User) -> dict:
    return {
        "id": p.id,
        "name": p.name,
        "phone": p.phone if can(viewer, "person.see_phone", p) else p.masked_phone,
        "household_id": p.household_id,
        "roles": [{"role": g.role.value, "area": g.area} for g in p.grants],
    }


def head(viewer: User, post: HeadPost, community: Area | None) -> dict:
    return {
        "id": post.id,
        "area_id": post.area_id,
        "tier": post.tier,
        "title": org.head_title(community, post.tier),
        "user": {"id": post.user.id, "name": post.user.name,
                 "phone": post.user.phone if can(viewer, "person.see_phone", post.user)
                 else post.user.masked_phone},
        "since": post.since,
        "until": post.until,
    }


def areas(viewer: User, items: list[Area]) -> list[dict]:
    """Areas with their current heads, in two queries whatever the number of areas."""
    heads = org.current_heads([a.id for a in items])
    community = org.community_of(items[0]) if items else None
    out = []
    for area in items:
        post = heads.get(area.id)
        out.append({
            "id": area.id, "parent_id": area.parent_id, "level": area.level.value, "name": area.name,
            "code": area.code, "path": area.path,
            "heads": [head(viewer, post, community)] if post else [],
        })
    return out


def page(found, items: list) -> dict:
    """A domain.paging.Page as the list envelope of the API, its rows turned into `items`."""
    return {"items": items, "page": found.page, "per_page": found.per_page, "total": found.total}
