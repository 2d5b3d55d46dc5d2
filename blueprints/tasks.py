"""Needs and tasks: pages. The needs board of my area (filters: status, category, age), posting a need from a phone
or recording one for a resident, a need's page with its photos, actions and full history, my claims, the register
(收集问题台账, .xlsx), and the bell's notifications.

Every rule lives in domain/tasks/ and domain/notifications.py; these views parse a form, load what it names (404
outside the caller's reach), make one domain call behind `attempt` and redirect or render. Notifications' links are
made into URLs here (`link_url`), when shown.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import format_timedelta
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf.file import MultipleFileField
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.routing import BuildError
from wtforms import BooleanField, RadioField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from blueprints import photos as photo_files
from blueprints.bounds import Form, Visible
from blueprints.ext import limited, photos_limited
from blueprints.forms import attempt, page_arg, xlsx_response
from domain import categories, notifications, org, tasks
from domain.errors import NotFound
from domain.membership import communities_of
from domain.paging import paginate
from models import Area, Channel, Task, transaction, utcnow
from models.base import load

bp = Blueprint("tasks", __name__)
PER_PAGE = 30

#: The board's age filter: waiting at least this many days.
AGES = (1, 3, 7, 30)


@bp.app_template_filter()
def task_status_name(status) -> str:
    return tasks.status_name(status)


@bp.app_template_filter()
def need_channel_name(channel) -> str:
    return tasks.channel_name(channel)


@bp.app_template_filter()
def task_action_name(action) -> str:
    return tasks.action_name(action)


@bp.app_template_filter()
def task_age(moment, now) -> str:
    """How long ago, in words ("3 days"): a board is read by how long things have waited."""
    return _("%(time)s ago", time=format_timedelta(now - moment, granularity="minute", threshold=1))


@bp.app_template_filter()
def claim_outcome_name(outcome) -> str:
    return tasks.claim_outcome_name(outcome)


def _unread() -> int:
    try:
        return notifications.unread_count(current_user)
    except SQLAlchemyError:  # an error page drawn while the database is away still draws
        transaction.abandon()
        return 0


@bp.app_context_processor
def bell():
    """The bell's count, as a function: only pages that draw the top bar ask, with one query on a small index."""
    return {"unread_notifications": _unread}


def link_url(endpoint: str, values: dict) -> str | None:
    """A notification's link as a URL, or None when that page no longer exists."""
    try:
        return url_for(endpoint, **values)
    except BuildError:
        return None


@bp.record_once
def _build_links(_state) -> None:
    notifications.build_links_with(link_url)


# --- forms ---------------------------------------------------------------------------------------------------------


class NeedPageForm(Form):
    #: Named like the domain's error fields (title, description, category, channel, resident_phone, photos).
    title = StringField(_l("What is wrong, in a few words"),
                        validators=[DataRequired(), Visible(), Length(max=tasks.TITLE_MAX)])
    description = TextAreaField(_l("Describe the problem"), validators=[DataRequired(), Length(max=tasks.TEXT_MAX)])
    category = SelectField(_l("Category"), validators=[DataRequired()])
    photos = MultipleFileField(_l("Photos (optional, up to %(n)s)", n=tasks.MAX_PHOTOS))
    # Recording for a resident:
    area_id = SelectField(_l("Where"), coerce=int, validate_choice=False)
    channel = RadioField(_l("How did the need reach you?"), default=Channel.door_to_door.value, choices=[
        SelectChoice(c.value, tasks.CHANNEL_NAMES[c]) for c in Channel])
    resident_phone = StringField(_l("Resident's phone (if they use this app)"), validators=[Optional(), Length(max=20)])
    resident_name = StringField(_l("Resident's name (if they do not)"),
                                validators=[Optional(), Visible(), Length(max=tasks.NAME_MAX)])


class DoneForm(Form):
    note = TextAreaField(_l("How it was resolved"), validators=[DataRequired(), Length(max=tasks.TEXT_MAX)])
    photos = MultipleFileField(_l("Photos of the result (optional)"))


class ConfirmForm(Form):
    note = TextAreaField(_l("What is still wrong?"), validators=[Optional(), Length(max=tasks.TEXT_MAX)])


class ReasonForm(Form):
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=tasks.TEXT_MAX)])


class PhotoForm(Form):
    photos = MultipleFileField(_l("Add photos"))


class ButtonForm(Form):
    """A button that posts: only the CSRF token."""


class BoardFilter(Form):
    class Meta:
        csrf = False

    status = SelectField(_l("Status"), default="active", choices=[
        SelectChoice("active", _l("In progress")), SelectChoice("waiting", _l("Waiting to be taken on")),
        SelectChoice("claimed", _l("Taken on")), SelectChoice("done", _l("Done, waiting for the resident")),
        SelectChoice("confirmed", _l("Confirmed, waiting for approval")),
        SelectChoice("to_approve", _l("For staff to approve")), SelectChoice("approved", _l("Resolved")),
        SelectChoice("withdrawn", _l("Withdrawn")), SelectChoice("all", _l("All"))])
    category = SelectField(_l("Category"), validators=[Optional()])
    age = SelectField(_l("Waiting"), coerce=str, validators=[Optional()], choices=[
        SelectChoice("", _l("Any time")), *[SelectChoice(str(d), _l("%(n)s days or more", n=d)) for d in AGES]])
    escalated = BooleanField(_l("Moved up only"))


# --- helpers -------------------------------------------------------------------------------------------------------


def _streams(files) -> list:
    """The files a form really sent: an empty file input still sends one nameless part."""
    return [f.stream for f in (files or []) if f and f.filename]


def _category_choices(communities: list[Area | None]) -> list[SelectChoice]:
    seen: dict[str, str] = {}
    for community in communities:
        for choice in categories.categories(community, "need"):
            seen.setdefault(choice.code, choice.name)
    return [SelectChoice(code, name) for code, name in seen.items()]


def _labels(items: list[Task]) -> dict[int, dict[str, str]]:
    """For each task of a list: its category's name and where it is ("银融社区 第一网格 / 1号楼 / 1单元")."""
    names = tasks.area_names([t.area for t in items])
    categories_by_community = {c.id: tasks.category_names(c) for c in {t.community_id: t.community for t in items}
                               .values()}
    out = {}
    for t in items:
        where = tasks.area_label(t.area, names, t.community)
        out[t.id] = {"category": categories_by_community[t.community_id].get(t.category, t.category),
                     "area": t.community.name if t.area_id == t.community_id else f"{t.community.name} {where}"}
    return out


def _board_communities() -> list[Area | None]:
    """The communities whose categories the board's filter offers: those of the caller's roles and home (above
    communities, the default list)."""
    return communities_of(current_user) or [None]


def _filtered_board(form: BoardFilter):
    age = int(form.age.data) if form.age.data in {str(days) for days in AGES} else None
    return tasks.board(current_user, status=form.status.data or "active", category=form.category.data or None,
                       older_than_days=age, escalated=bool(form.escalated.data))


def _list_page(template: str, query, **context):
    page = page_arg()
    found = paginate(query, page, PER_PAGE)
    labels = _labels(found.items if template != "claims" else [c.task for c in found.items])
    return render_template(f"tasks/{template}.html", items=found.items, total=found.total, page=page,
                           per_page=PER_PAGE, labels=labels, now=utcnow(),
                           recordable=bool(tasks.recordable_areas(current_user, limit=1)), **context)


# --- lists ---------------------------------------------------------------------------------------------------------


@bp.route("/needs")
@login_required
def board():
    form = BoardFilter(request.args)
    form.category.choices = [SelectChoice("", _l("All categories")), *_category_choices(_board_communities())]
    return _list_page("board", _filtered_board(form), form=form, tab="board")


@bp.route("/needs/mine")
@login_required
def mine():
    return _list_page("board", tasks.mine(current_user), form=None, tab="mine")


@bp.route("/needs/claims")
@login_required
def claims():
    return _list_page("claims", tasks.claims_of(current_user), tab="claims")


@bp.route("/needs/register.xlsx")
@login_required
def register():
    """收集问题台账: what the board shows with the same filters, every row, with hours to claim and to resolve."""
    form = BoardFilter(request.args)
    form.category.choices = [SelectChoice("", ""), *_category_choices(_board_communities())]
    now = utcnow()
    book = tasks.register_xlsx(_filtered_board(form), now)
    return xlsx_response(book, f"needs-register-{now:%Y%m%d}.xlsx")


# --- posting -------------------------------------------------------------------------------------------------------


@bp.route("/needs/new", methods=["GET", "POST"])
@limited("needs", "NEED_RATE_LIMIT", methods=["POST"])
@photos_limited()
@login_required
def new():
    """Post a need about one's home (a resident, online), or record one for a resident (`?mode=record`: heads and
    staff)."""
    recordable = tasks.recordable_areas(current_user)
    household = current_user.household
    mode = "record" if request.args.get("mode") == "record" and recordable else "own"
    if mode == "own" and household is None and recordable:
        mode = "record"
    form = NeedPageForm()
    place = ""
    if mode == "record":
        community = org.community_of(recordable[0])
        names = tasks.area_names(recordable)
        form.area_id.choices = [SelectChoice(a.id, tasks.area_label(a, names, org.community_of(a)))
                                for a in recordable]
        communities = list({c.id: c for c in (org.community_of(a) for a in recordable) if c}.values())
    else:
        community = org.community_of(household.unit) if household else None
        communities = [community] if community else []
        place = f"{community.name} {tasks.area_label(household.unit, tasks.area_names([household.unit]), community)} " \
            f"{household.label}" if community else ""
    form.category.choices = _category_choices(communities)
    if form.validate_on_submit():
        task = attempt(form, lambda: _post(form, mode, household), _("Your need is posted. You will be told "
                                                                     "who takes it on.") if mode == "own"
                       else _("The need is recorded."))
        if task is not None:
            return redirect(url_for("tasks.show", task_id=task.id))
    return render_template("tasks/new.html", form=form, mode=mode, community=community, household=household,
                           recordable=bool(recordable), max_photos=tasks.MAX_PHOTOS, place=place)


def _post(form: NeedPageForm, mode: str, household) -> Task:
    if mode == "own":
        area, need = household.unit, tasks.NeedForm(title=form.title.data, description=form.description.data,
                                                    category=form.category.data)
    else:
        area = load(Area, form.area_id.data)
        if area is None:
            raise NotFound("not_found", _("Not found."))
        resident = tasks.find_resident(area, form.resident_phone.data) if form.resident_phone.data else None
        need = tasks.NeedForm(title=form.title.data, description=form.description.data, category=form.category.data,
                              channel=form.channel.data, resident=resident, resident_name=form.resident_name.data)
    return tasks.post_need(current_user, area, need, photo_streams=_streams(form.photos.data))


# --- a need --------------------------------------------------------------------------------------------------------


@bp.route("/needs/<int:task_id>")
@login_required
def show(task_id: int):
    task = tasks.visible(current_user, task_id)
    allowed = tasks.actions(current_user, task)
    names = tasks.area_names([task.area])
    stored = tasks.photos_of(task)
    now = utcnow()
    return render_template(
        "tasks/show.html", task=task, allowed=allowed, history=tasks.history(task), now=now,
        area_label=tasks.area_label(task.area, names, task.community),
        category=tasks.category_names(task.community).get(task.category, task.category),
        need_photos=[p for p in stored if p.kind.value == "need"],
        result_photos=[p for p in stored if p.kind.value == "result"],
        tier_title=tasks.tier_title(task.community, task.tier),
        tier_titles={tier: tasks.tier_title(task.community, tier) for tier in range(4)},
        responsible=tasks.responsible_people(task) if task.status in tasks.ACTIVE else [],
        contact=tasks.resident_contact(current_user, task),
        points_due=tasks.points_due(task, now),
        done_form=DoneForm(), confirm_form=ConfirmForm(), reason_form=ReasonForm(), photo_form=PhotoForm(),
        button=ButtonForm(), max_photos=tasks.MAX_PHOTOS)


def _act(task_id: int, form_class, call, message):
    """Load the need, run one domain call behind the form, and go back to the need's page."""
    task = tasks.visible(current_user, task_id)
    form = form_class()
    if form.validate_on_submit():
        attempt(form, lambda: call(task, form), message)
    else:
        for errors in form.errors.values():
            flash(" ".join(str(e) for e in errors), "error")
    return redirect(url_for("tasks.show", task_id=task_id))


@bp.route("/needs/<int:task_id>/claim", methods=["POST"])
@login_required
def claim(task_id: int):
    return _act(task_id, ButtonForm, lambda task, _f: tasks.claim_task(current_user, task),
                _l("You have taken this need on. Mark it done when it is resolved."))


@bp.route("/needs/<int:task_id>/done", methods=["POST"])
@photos_limited()
@login_required
def done(task_id: int):
    return _act(task_id, DoneForm, lambda task, f: tasks.mark_done(current_user, task, f.note.data,
                                                                   photo_streams=_streams(f.photos.data)),
                _l("Marked done. The resident is asked to confirm."))


@bp.route("/needs/<int:task_id>/confirm", methods=["POST"])
@login_required
def confirm(task_id: int):
    resolved = request.form.get("resolved") == "yes"
    return _act(task_id, ConfirmForm, lambda task, f: tasks.confirm_task(current_user, task, resolved=resolved,
                                                                         note=f.note.data),
                _l("Thank you: community staff will close it.") if resolved
                else _l("It is reopened, and the heads are told."))


@bp.route("/needs/<int:task_id>/approve", methods=["POST"])
@login_required
def approve(task_id: int):
    return _act(task_id, ButtonForm, lambda task, _f: tasks.approve_task(current_user, task),
                _l("Approved: the points are credited."))


@bp.route("/needs/<int:task_id>/reopen", methods=["POST"])
@login_required
def reopen(task_id: int):
    return _act(task_id, ReasonForm, lambda task, f: tasks.reopen_task(current_user, task, reason=f.reason.data),
                _l("Reopened: it is back in line."))


@bp.route("/needs/<int:task_id>/withdraw", methods=["POST"])
@login_required
def withdraw(task_id: int):
    return _act(task_id, ReasonForm, lambda task, f: tasks.withdraw_task(current_user, task, reason=f.reason.data),
                _l("Withdrawn."))


@bp.route("/needs/<int:task_id>/photos", methods=["POST"])
@photos_limited()
@login_required
def add_photos(task_id: int):
    return _act(task_id, PhotoForm, lambda task, f: tasks.add_photos(current_user, task, _streams(f.photos.data)),
                _l("Photos added."))


@bp.route("/needs/<int:task_id>/photos/<name>")
@login_required
def photo(task_id: int, name: str):
    return photo_files.send(tasks.photo_of(current_user, task_id, name))


# --- notifications -------------------------------------------------------------------------------------------------


@bp.route("/notifications")
@login_required
def inbox():
    page = page_arg()
    found = notifications.inbox(current_user, page=page, per_page=PER_PAGE)
    return render_template("tasks/notifications.html", items=[notifications.shown(n) for n in found.items],
                           total=found.total, page=page, per_page=PER_PAGE, button=ButtonForm())


@bp.route("/notifications/<int:notification_id>/read", methods=["POST"])
@login_required
def read(notification_id: int):
    """Open a notification: it is marked read and its page shown."""
    form = ButtonForm()
    if not form.validate_on_submit():
        return redirect(url_for("tasks.inbox"))
    found = notifications.mark_read(current_user, notification_id)
    return redirect(notifications.url_of(found) or url_for("tasks.inbox"))


@bp.route("/notifications/read", methods=["POST"])
@login_required
def read_all():
    form = ButtonForm()
    if form.validate_on_submit():
        attempt(form, lambda: notifications.mark_read(current_user), _l("All marked read."))
    return redirect(url_for("tasks.inbox"))
