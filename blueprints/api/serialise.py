"""Turning models into the plain dicts the API schemas dump, with masking decided per viewer."""

from __future__ import annotations

from domain import labels, org
from domain.access import can
from domain.households import member_counts
from models import Area, HeadPost, Household, User


def phone(viewer: User, p: User) -> str:
    """The person's phone as the viewer may see it: whole for staff of their area and themself, else masked."""
    return p.phone if can(viewer, "person.see_phone", p) else p.masked_phone


def person(viewer: User, p: User) -> dict:
    return {
        "id": p.id,
        "name": p.name,
        "phone": phone(viewer, p),
        "household_id": p.household_id,
        "roles": [{"role": g.role.value, "area": g.area} for g in p.grants],
    }


def head(viewer: User, post: HeadPost, community: Area | None) -> dict:
    return {
        "id": post.id,
        "area_id": post.area_id,
        "tier": post.tier,
        "title": org.head_title(community, post.tier),
        "user": {"id": post.user.id, "name": post.user.name, "phone": phone(viewer, post.user)},
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
def _unit_names(viewer: User, units: list[Area]) -> dict[int, str]:
    """The units' place names in one query, with their community's name for a viewer whose roles reach above a
    community (street staff, an administrator): their lists hold places of several communities."""
    wide = any(g.area is None for g in viewer.grants) or labels.above_communities(g.area for g in viewer.grants
                                                                                  if g.area is not None)
    return labels.place_names(units, across_communities=wide)


def households(viewer: User, items: list[Household]) -> list[dict]:
    """Households with their full names and how many live there, in two queries whatever their number."""
    units = _unit_names(viewer, list({h.unit_id: h.unit for h in items}.values()))
    counts = member_counts([h.id for h in items])
    return [{"id": h.id, "unit_id": h.unit_id, "label": h.label, "size": h.size,
             "place": f"{units[h.unit_id]} {h.label}", "members": counts.get(h.id, 0)} for h in items]


def people(viewer: User, items: list[User]) -> list[dict]:
    """People as `person` shows them to the viewer, with whether they may sign in and their household's full name."""
    units = _unit_names(viewer, list({p.household.unit_id: p.household.unit for p in items if p.household}.values()))
    return [{**person(viewer, p), "active": p.active,
             "household": f"{units[p.household.unit_id]} {p.household.label}" if p.household else None}
            for p in items]
