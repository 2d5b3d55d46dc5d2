"""Who may do what with a task. The rules themselves are in domain/access.py ("task.view", "task.manage",
"task.record", and `capacity`: why someone may take a task on); here are the loader of a task one may see and the
buttons a page offers a person for a task now (the domain checks again when one is pressed)."""

from __future__ import annotations

from domain.access import Reach, can, capacity, get_visible
from domain.tasks.states import ACTIVE, ESCALATING, WAITING
from models import User
from models.tasks import Task, TaskStatus

__all__ = ["actions", "can_see", "is_asker", "visible"]


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
