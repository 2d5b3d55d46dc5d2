"""A need's photos: the resident's (or recorder's) of the need, the claimant's of the result, at most MAX_PHOTOS
of each kind. Files are stored all or none, and deleted again when the change they belong to is refused or rolled
back, so no stray file is left."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import contextmanager
from datetime import datetime
from typing import IO

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from domain import photos as files
from domain.access import can
from domain.errors import Forbidden, Invalid, NotFound
from domain.tasks.moves import _log
from domain.tasks.reach import actions, visible
from domain.tasks.states import MAX_PHOTOS, _bad, _conflict
from models import User, db, utcnow
from models.tasks import PhotoKind, Task, TaskPhoto

__all__ = ["add_photos", "photo_of", "photos_by_task", "photos_of"]


@contextmanager
def _photos_kept(streams: Iterable[IO[bytes]], *, already: int = 0):
    """Store the uploads (all of them or none) and yield their names; if the caller then fails, delete them, so a
    refused or rolled-back change leaves no stray file. Raises Invalid(photo_invalid, photo_too_large,
    too_many_photos)."""
    streams = list(streams)
    if already + len(streams) > MAX_PHOTOS:
        message = _l("At most %(n)s photos.", n=MAX_PHOTOS)
        raise Invalid("too_many_photos", message, {"photos": [message]})
    names: list[str] = []
    try:
        for stream in streams:
            try:
                names.append(files.save(stream))
            except Invalid as refusal:
                raise Invalid(refusal.code, refusal.message, {"photos": [refusal.message]}) from None
        yield names
    except BaseException:
        for name in names:
            files.delete(name)
        raise


def _attach(task: Task, names: list[str], kind: PhotoKind, actor: User, now: datetime) -> None:
    for name in names:
        db.session.add(TaskPhoto(task_id=task.id, name=name, kind=kind, uploaded_by_id=actor.id, uploaded_at=now))
    if names:
        db.session.flush()


def _count_photos(task: Task, kind: PhotoKind) -> int:
    return db.session.scalar(select(func.count()).select_from(TaskPhoto)
                             .where(TaskPhoto.task_id == task.id, TaskPhoto.kind == kind)) or 0


def add_photos(actor: User, task: Task, photo_streams: Iterable[IO[bytes]], *, now: datetime | None = None) -> int:
    """The resident or whoever recorded the need adds photos of it while it is unresolved; the claimant adds photos
    of the result while it is claimed. Raises NotFound, Forbidden(not_allowed), Conflict, Invalid (photos)."""
    now = now or utcnow()
    if not can(actor, "task.view", task):
        raise NotFound("not_found", _l("Not found."))
    allowed = actions(actor, task)
    if "add_result_photo" in allowed:
        kind = PhotoKind.result
    elif "add_need_photo" in allowed:
        kind = PhotoKind.need
    elif actor.id in (task.resident_id, task.poster_id, task.claimant_id):
        raise _conflict(task)
    else:
        raise Forbidden("not_allowed", _l("Only the resident, whoever recorded the need and its claimant add photos."))
    with _photos_kept(photo_streams, already=_count_photos(task, kind)) as names:
        if not names:
            raise _bad("photos", "photo_required", _l("Choose a photo."))
        _attach(task, names, kind, actor, now)
        _log(task, actor, "photo", now, note=str(len(names)))
    return len(names)


def photos_of(task: Task) -> list[TaskPhoto]:
    return photos_by_task([task.id])[task.id]


def photos_by_task(task_ids: list[int]) -> dict[int, list[TaskPhoto]]:
    """The photos of several tasks in one query, oldest first."""
    found: dict[int, list[TaskPhoto]] = {task_id: [] for task_id in task_ids}
    if task_ids:
        for photo in db.session.scalars(select(TaskPhoto).where(TaskPhoto.task_id.in_(task_ids))
                                        .order_by(TaskPhoto.uploaded_at, TaskPhoto.id)):
            found[photo.task_id].append(photo)
    return found


def photo_of(user: User, task_id: int, name: str) -> str:
    """The stored name of a photo of a task the user may see. Raises NotFound."""
    task = visible(user, task_id)
    found = db.session.scalar(select(TaskPhoto.name).where(TaskPhoto.task_id == task.id, TaskPhoto.name == name))
    if found is None:
        raise NotFound("not_found", _l("There is no such photo."))
    return found
