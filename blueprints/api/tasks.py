"""Needs and tasks for other clients: post a need, claim it, mark it done, confirm, approve, reopen; photos; and the
caller's notifications (the bell)."""

from __future__ import annotations

from collections.abc import Callable

from flask import request, url_for
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from blueprints import bounds
from blueprints import photos as photo_files
from blueprints.api.core import Blueprint, api_user
from blueprints.api.schemas import Id, In, PageArgs, page_of
from blueprints.ext import limited, photos_limited
from domain import notifications, tasks
from domain.errors import Invalid, NotFound
from domain.paging import paginate
from models import Area, Channel, Task, TaskStatus, User
from models.base import load

blp = Blueprint("api_tasks", __name__, description="Needs and tasks (点单/接单), and notifications")

_TEXT = validate.Length(min=1, max=tasks.TEXT_MAX)


class NeedIn(In):
    area_id = Id(required=True, metadata={"description": "normally the resident's unit"})
    title = bounds.Name(required=True, validate=validate.Length(min=1, max=tasks.TITLE_MAX))
    description = bounds.Text(required=True, validate=_TEXT)
    category = bounds.Line(required=True, validate=validate.Length(min=1, max=32),
                             metadata={"description": "a need category code: GET /categories?kind=need"})
    channel = fields.String(load_default=Channel.online.value, validate=validate.OneOf([c.value for c in Channel]),
                            metadata={"description": "online for one's own need; heads and staff recording for "
                                                     "someone: door_to_door, online or consultation"})
    resident_id = Id(load_default=None, allow_none=True,
                                 metadata={"description": "recording for a resident with an account"})
    resident_name = bounds.Name(load_default=None, allow_none=True, validate=validate.Length(max=tasks.NAME_MAX),
                                  metadata={"description": "recording for a resident without an account"})


class NeedArgs(PageArgs):
    status = fields.String(load_default="active", validate=validate.OneOf(list(tasks.STATUS_FILTERS)))
    category = bounds.Line(load_default=None, validate=validate.Length(max=32))
    older_than_days = bounds.Integer(strict=False, load_default=None, validate=validate.Range(min=1, max=3650))


class TaskNoteIn(In):
    note = bounds.Text(required=True, validate=_TEXT, metadata={"description": "what was done"})


class TaskConfirmIn(In):
    resolved = fields.Boolean(required=True)
    note = bounds.Text(load_default=None, allow_none=True, validate=validate.Length(max=tasks.TEXT_MAX),
                         metadata={"description": "required when not resolved: what is still wrong"})


class TaskReasonIn(In):
    reason = bounds.Text(required=True, validate=_TEXT)


class TaskOptionalReasonIn(In):
    reason = bounds.Text(load_default=None, allow_none=True, validate=validate.Length(max=tasks.TEXT_MAX))


class TaskPersonRef(Schema):
    id = fields.Integer()
    name = fields.String()


class TaskPhotoOut(Schema):
    name = fields.String()
    kind = fields.String(metadata={"description": "need or result"})
    url = fields.String()


class TaskHistoryOut(Schema):
    at = fields.DateTime()
    action = fields.String(metadata={"description": "posted, recorded, claimed, done, confirmed, not_resolved, "
                                                    "approved, reopened, escalated, withdrawn, photo"})
    actor = fields.Nested(TaskPersonRef, allow_none=True)
    status_from = fields.String(allow_none=True)
    status_to = fields.String(allow_none=True)
    tier_from = fields.Integer(allow_none=True)
    tier_to = fields.Integer(allow_none=True)
    note = fields.String(allow_none=True)


class TaskOut(Schema):
    id = fields.Integer()
    community_id = fields.Integer()
    area_id = fields.Integer()
    title = fields.String()
    description = fields.String()
    category = fields.String()
    channel = fields.String()
    status = fields.String(validate=validate.OneOf([s.value for s in TaskStatus]))
    tier = fields.Integer(metadata={"description": "answerable now: 3 unit head, 2 building head, 1 grid head, "
                                                   "0 community staff"})
    tier_title = fields.String()
    escalated = fields.Boolean()
    due_at = fields.DateTime(allow_none=True, metadata={"description": "when it moves up if still waiting"})
    posted_at = fields.DateTime()
    asked_by = fields.String()
    resident_id = fields.Integer(allow_none=True)
    poster_id = fields.Integer()
    claimant = fields.Nested(TaskPersonRef, allow_none=True)
    claimed_at = fields.DateTime(allow_none=True)
    done_at = fields.DateTime(allow_none=True)
    done_note = fields.String(allow_none=True)
    resolved_at = fields.DateTime(allow_none=True)
    points = fields.Integer(allow_none=True)
    photos = fields.List(fields.Nested(TaskPhotoOut))
    actions = fields.List(fields.String(), metadata={"description": "what the caller may do now"})


class TaskItemOut(TaskOut):
    history = fields.List(fields.Nested(TaskHistoryOut))


class TaskPhotosOut(Schema):
    photos = fields.List(fields.Nested(TaskPhotoOut))


class NotificationOut(Schema):
    id = fields.Integer()
    kind = fields.String()
    text = fields.String()
    url = fields.String(allow_none=True)
    created_at = fields.DateTime()
    read = fields.Boolean()


class NotificationPage(Schema):
    items = fields.List(fields.Nested(NotificationOut))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
    unread = fields.Integer()


class NotificationsUnreadOut(Schema):
    unread = fields.Integer()


TaskPage = page_of(TaskOut)


def _person(user: User | None) -> dict | None:
    return {"id": user.id, "name": user.name} if user is not None else None


def task_dict(viewer: User, task: Task, *, with_history: bool = False, reach: tasks.Reach | None = None,
              stored: list | None = None) -> dict:
    """A task as the API shows it to `viewer`. For a list, pass what was read once for all: the viewer's reach
    and the task's photos."""
    out = {name: getattr(task, name) for name in (
        "id", "community_id", "area_id", "title", "description", "category", "tier", "escalated", "due_at",
        "posted_at", "resident_id", "poster_id", "claimed_at", "done_at", "done_note", "resolved_at", "points")}
    out |= {"channel": task.channel.value, "status": task.status.value, "asked_by": task.asker_name,
            "tier_title": tasks.tier_title(task.community, task.tier), "claimant": _person(task.claimant),
            "actions": sorted(tasks.actions(viewer, task, reach)),
            "photos": [{"name": p.name, "kind": p.kind.value,
                        "url": url_for("api_tasks.TaskPhotoFile", task_id=task.id, name=p.name)}
                       for p in (stored if stored is not None else tasks.photos_of(task))]}
    if with_history:
        out["history"] = [{"at": e.at, "action": e.action, "actor": _person(e.actor), "status_from": e.status_from,
                           "status_to": e.status_to, "tier_from": e.tier_from, "tier_to": e.tier_to, "note": e.note}
                          for e in tasks.history(task)]
    return out


def _moved(task_id: int, move: Callable[..., Task], *args, **options) -> dict:
    """One move (claim, done, ...) by the caller on a need they see: the need after it, with its full history."""
    user = api_user()
    return task_dict(user, move(user, tasks.visible(user, task_id), *args, **options), with_history=True)


@blp.route("/needs")
class Needs(MethodView):
    decorators = [limited("needs", "NEED_RATE_LIMIT", methods=["POST"])]

    @blp.arguments(NeedArgs, location="query")
    @blp.response(200, TaskPage)
    def get(self, args):
        """The needs the caller sees (their own, their area's as a head, their teams', their community's as staff),
        newest first."""
        user = api_user()
        query = tasks.board(user, status=args["status"], category=args["category"],
                            older_than_days=args["older_than_days"])
        found = paginate(query, args["page"], args["per_page"])
        reach, stored = tasks.reach_of(user), tasks.photos_by_task([t.id for t in found.items])
        return {"items": [task_dict(user, t, reach=reach, stored=stored[t.id]) for t in found.items],
                "page": args["page"], "per_page": args["per_page"], "total": found.total}

    @blp.arguments(NeedIn)
    @blp.response(201, TaskItemOut)
    @blp.fails(400, "category_invalid", "channel_invalid", "photo_invalid", "photo_too_large", "resident_invalid",
               "too_many_photos")
    @blp.fails(403, "not_your_area")
    def post(self, body):
        """A resident posts a need about their home; a head or staff member records one for a resident of their area
        (resident_id or resident_name) with the channel it came through. → `status: open`."""
        user = api_user()
        area = load(Area, body["area_id"])
        if area is None:
            raise NotFound("not_found", "Not found.")
        resident = None
        if body["resident_id"] is not None:
            resident = load(User, body["resident_id"])
            if resident is None:
                raise Invalid("resident_invalid", "No such resident.", {"resident_id": ["No such resident."]})
        form = tasks.NeedForm(title=body["title"], description=body["description"], category=body["category"],
                              channel=body["channel"], resident=resident, resident_name=body["resident_name"])
        task = tasks.post_need(user, area, form)
        return task_dict(user, task, with_history=True), 201


@blp.route("/tasks/<int:task_id>")
class TaskItem(MethodView):
    @blp.response(200, TaskItemOut)
    def get(self, task_id):
        """One need with its photos and full history. 404 outside the caller's reach."""
        user = api_user()
        return task_dict(user, tasks.visible(user, task_id), with_history=True)


@blp.route("/tasks/<int:task_id>/claim")
class Claim(MethodView):
    @blp.response(200, TaskItemOut)
    @blp.fails(403, "not_allowed_to_claim")
    @blp.fails(409, "already_claimed", "already_done", "already_confirmed", "already_decided", "need_withdrawn")
    def post(self, task_id):
        """Take the need on (head of its area, a fitting team's member, staff) → `claimed`. 409 `already_claimed`."""
        return _moved(task_id, tasks.claim_task)


@blp.route("/tasks/<int:task_id>/done")
class Done(MethodView):
    @blp.arguments(TaskNoteIn)
    @blp.response(200, TaskItemOut)
    @blp.fails(400, "note_required", "text_too_long", "photo_invalid", "photo_too_large", "too_many_photos")
    @blp.fails(403, "not_claimant")
    @blp.fails(409, "not_claimed", "already_done", "already_confirmed", "already_decided", "need_withdrawn")
    def post(self, body, task_id):
        """The claimant marks it done with a note → `done` (photos: POST /tasks/{id}/photos first).
        403 `not_claimant`."""
        return _moved(task_id, tasks.mark_done, body["note"])


@blp.route("/tasks/<int:task_id>/confirm")
class Confirm(MethodView):
    @blp.arguments(TaskConfirmIn)
    @blp.response(200, TaskItemOut)
    @blp.fails(400, "note_required", "text_too_long")
    @blp.fails(403, "not_asker")
    @blp.fails(409, "not_done", "already_confirmed", "already_decided", "need_withdrawn")
    def post(self, body, task_id):
        """The resident who asked: resolved → `confirmed`; not resolved (with a note) → `reopened`. 403 `not_asker`."""
        return _moved(task_id, tasks.confirm_task, resolved=body["resolved"], note=body["note"])


@blp.route("/tasks/<int:task_id>/approve")
class Approve(MethodView):
    @blp.arguments(TaskOptionalReasonIn)
    @blp.response(200, TaskItemOut)
    @blp.fails(403, "not_staff", "own_task")
    @blp.fails(409, "awaiting_confirmation", "already_decided", "not_done", "need_withdrawn")
    def post(self, _body, task_id):
        """Staff of the area approve a confirmed task: the claimant is credited the category's points once.
        409 `already_decided`, `awaiting_confirmation`; 403 `own_task`."""
        return _moved(task_id, tasks.approve_task)


@blp.route("/tasks/<int:task_id>/reopen")
class Reopen(MethodView):
    @blp.arguments(TaskReasonIn)
    @blp.response(200, TaskItemOut)
    @blp.fails(400, "reason_required", "text_too_long")
    @blp.fails(403, "not_staff")
    @blp.fails(409, "already_decided", "not_claimed", "need_withdrawn")
    def post(self, body, task_id):
        """Staff of the area send a claimed, done or confirmed task back in line → `reopened`. 409 `already_decided`."""
        return _moved(task_id, tasks.reopen_task, reason=body["reason"])


@blp.route("/tasks/<int:task_id>/withdraw")
class Withdraw(MethodView):
    @blp.arguments(TaskOptionalReasonIn)
    @blp.response(200, TaskItemOut)
    @blp.fails(400, "reason_required", "text_too_long")
    @blp.fails(403, "not_allowed")
    @blp.fails(409, "already_decided", "need_withdrawn")
    def post(self, body, task_id):
        """The resident who asked (before it is done), or staff with a reason → `withdrawn`."""
        return _moved(task_id, tasks.withdraw_task, reason=body["reason"])


@blp.route("/tasks/<int:task_id>/photos")
class TaskPhotos(MethodView):
    decorators = [photos_limited()]

    @blp.response(201, TaskPhotosOut)
    @blp.fails(400, "photo_invalid", "photo_required", "photo_too_large", "too_many_photos")
    @blp.fails(403, "not_allowed")
    def post(self, task_id):
        """Add photos: the resident or recorder photos of the need, the claimant photos of the result.

        multipart/form-data, field `photos` (one or more JPEG, PNG, WebP or GIF pictures, 8 MB each, 4 per need and
        4 of the result).
        400 `photo_invalid`, `photo_too_large` (over 8 MB or 40 megapixels), `too_many_photos`; 429 past the
        caller's photo budget (PHOTO_RATE_LIMIT, shared with the pages). Stored at most 2,048 px long."""
        user = api_user()
        task = tasks.visible(user, task_id)
        uploads = [f.stream for f in request.files.getlist("photos")]
        if not uploads:
            raise Invalid("photo_required", "Send the pictures as multipart field `photos`.",
                          {"photos": ["Required."]})
        tasks.add_photos(user, task, uploads)
        return {"photos": task_dict(user, task)["photos"]}, 201


@blp.route("/tasks/<int:task_id>/photos/<name>")
class TaskPhotoFile(MethodView):
    @blp.response(200, description="the picture (image/jpeg), as an attachment")
    def get(self, task_id, name):
        """A photo of a need the caller sees."""
        return photo_files.send(tasks.photo_of(api_user(), task_id, name))


@blp.route("/notifications")
class Notifications(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, NotificationPage)
    def get(self, args):
        """The caller's notifications (the bell), newest first, with the unread count."""
        user = api_user()
        found = notifications.inbox(user, page=args["page"], per_page=args["per_page"])
        return {"items": [notifications.shown(n) for n in found.items], "page": args["page"],
                "per_page": args["per_page"], "total": found.total, "unread": notifications.unread_count(user)}


@blp.route("/notifications/read")
class ReadAll(MethodView):
    @blp.response(200, NotificationsUnreadOut)
    def post(self):
        """Mark all the caller's notifications read."""
        user = api_user()
        notifications.mark_read(user)
        return {"unread": notifications.unread_count(user)}


@blp.route("/notifications/<int:notification_id>/read")
class ReadOne(MethodView):
    @blp.response(200, NotificationOut)
    def post(self, notification_id):
        """Mark one of the caller's notifications read. 404 for anyone else's."""
        user = api_user()
        found = notifications.mark_read(user, notification_id)
        return notifications.shown(found)
