"""Who may do what with a task. The rules themselves are in domain/access.py ("task.view", "task.manage",
"task.record", and `capacity`: why someone may take a task on); here are the loader of a task one may see and the
buttons a page offers a person for a task now (the domain checks again when one is pressed)."""

from __future__ import annotations

from dataclasses import dataclass

from domain.access import Reach, can, capacity, get_visible
from domain.labels import place_name
from domain.tasks.states import ACTIVE, ESCALATING, WAITING
from models import User
from models.tasks import Task, TaskStatus

__all__ = ["ResidentContact", "actions", "can_see", "is_asker", "resident_contact", "visible"]


@dataclass(frozen=True)
class ResidentContact:
    """Where the resident who asked lives and how to call them, for the person holding their task."""

    name: str
    #: The community and the flat ("银融社区 第一网格 1号楼 1单元 101"), or the need's area without a known flat.
    place: str
    #: The full phone, when the resident has an account; None for a need recorded for someone without one.
    phone: str | None


def resident_contact(user: User, task: Task) -> ResidentContact | None:
    """The resident's flat and phone, only for the person holding the task now ("task.contact"); None otherwise."""
    if not can(user, "task.contact", task):
        return None
    resident = task.resident
    household = resident.household if resident is not None else None
    place = place_name(household) if household is not None else place_name(task.area)
    where = place if task.area_id == task.community_id and household is None else f"{task.community.name} {place}"
    return ResidentContact(task.asker_name, where, resident.phone if resident is not None else None)


def is_asker(user: User, task: Task) -> bool:
    return task.resident_id is not None and task.resident_id == getattr(user, "id", None)


def can_see(user: User, task: Task) -> bool:
    return can(user, "task.view", task)


def visible(user: User, task_id: int) -> Task:
    """Load a task the user may see. Raises NotFound otherwise (existence is not disclosed)."""
    return get_visible(Task, task_id, user, "task.view")


def actions(user: User, task: Task, reach: Reach | None = None) -> frozenset[str]:
    """What the user may do with the task now, for the pages' buttons (the domain checks again when done)."""
    found: set[str] = set()
    if user is None or not getattr(user, "is_authenticated", False):
        return frozenset()
    own = user.id in (task.resident_id, task.poster_id)
    manager = can(user, "task.manage", task)
    if task.status in WAITING and not is_asker(user, task) and capacity(user, task, reach) is not None:
        found.add("claim")
    if task.status == TaskStatus.claimed and task.claimant_id == user.id:
        found |= {"done", "add_result_photo"}
    if task.status == TaskStatus.done and is_asker(user, task):
        found.add("confirm")
    if manager and task.claimant_id != user.id and (
            task.status == TaskStatus.confirmed or (task.status == TaskStatus.done and task.resident_id is None)):
        found.add("approve")
    if manager and task.status in (TaskStatus.claimed, TaskStatus.done, TaskStatus.confirmed):
        found.add("reopen")
    if (own and task.status in ESCALATING) or (manager and task.status in ACTIVE):
        found.add("withdraw")
    if own and task.status in ESCALATING:
        found.add("add_need_photo")
    return frozenset(found)
