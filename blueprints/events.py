"""Event pages: the list, the form, an event with its live counts, the rotating codes, the poster, the scanner
(camera, offline queue, by hand) and the attendance register; and the landing page of the event's QR code.

Every rule lives in domain/events/; these views load what they name (404 outside the caller's scope, 403 for
those who see the event but may not act on it), make one domain call and render, redirect or answer JSON.
The JSON answers (`*.json`) serve the pages' own scripts with the session cookie; their POSTs carry the CSRF
token in the X-CSRFToken header. No script is inline: the pages pass what their scripts need in data-*.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from math import ceil

from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request, url_for
from flask_babel import LazyString, format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from blueprints.bounds import Form, IdText, Visible
from blueprints.errors import json_errors
from blueprints.ext import limited, writes_on_get
from blueprints.forms import attempt, no_store, page_arg, qr_response, xlsx_response
from blueprints.schemas import BatchIn, ScanIn
from domain import categories, events
from domain.access import can, get_visible
from domain.errors import DomainError, Invalid, NotFound, Refused
from domain.ledger import SHANGHAI
from domain.org import community_of
from models import Area, Attendance, Event, EventKind, Level, PointsMode, User, transaction, utcnow

bp = Blueprint("events", __name__)
MY_PER_PAGE = 20
# The domain signs check-in codes with the secret it is given; callers that give none (the CLI, the demo, tests)
# get the application's, read at each call.
bp.record(lambda _state: events.use_secret(lambda: current_app.secret_key))

KIND_NAMES = {EventKind.activity: _l("Volunteer activity"), EventKind.training: _l("Training"),
              EventKind.meeting: _l("Meeting")}


@bp.app_template_filter()
def event_kind_name(kind) -> str:
    return str(KIND_NAMES[EventKind(kind)])


@bp.app_template_filter()
def check_method_name(method) -> str:
    return events.method_name(method)


# --- forms ------------------------------------------------------------------------------------------------------


class EventPageForm(Form):
    #: Named like the domain's error fields (starts_at, ends_at, capacity ...), so its messages land on the inputs.
    kind = SelectField(_l("Kind"), choices=[SelectChoice(k.value, KIND_NAMES[k]) for k in EventKind])
    title = StringField(_l("Name of the event"), validators=[DataRequired(), Visible(), Length(max=100)])
    place = StringField(_l("Venue (empty: the area's name)"), validators=[Optional(), Length(max=200)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=2000)])
    day = DateField(_l("Date"), validators=[DataRequired()])
    starts_at = TimeField(_l("Start"), validators=[DataRequired()])
    ends_at = TimeField(_l("End"), validators=[DataRequired()])
    category = SelectField(_l("Category"), validators=[DataRequired()])
    capacity = IntegerField(_l("Capacity (empty: no limit)"), validators=[Optional(), NumberRange(1, 100_000)])
    registration = BooleanField(_l("People register beforehand"))
    points_mode = RadioField(_l("Points"), default=PointsMode.per_hour.value, choices=[
        SelectChoice(PointsMode.per_hour.value, _l("Per hour attended, at the category's rate")),
        SelectChoice(PointsMode.fixed.value, _l("A fixed amount for attending"))])
    points_fixed = IntegerField(_l("Fixed amount of points"), validators=[Optional(), NumberRange(0, 10_000)])
    auto_approve = BooleanField(_l("Approve the hours automatically when the event closes"), default=True)
    poster = BooleanField(_l("Allow a printed poster code"), default=True)
    opens_minutes = IntegerField(_l("Check-in opens (minutes before the start)"), default=30,
                                 validators=[InputRequired(), NumberRange(0, 1440)])
    closes_minutes = IntegerField(_l("Check-in closes (minutes after the end)"), default=15,
                                  validators=[InputRequired(), NumberRange(0, 1440)])

    def event_form(self) -> events.EventForm:
        day = self.day.data
        return events.EventForm(
            kind=self.kind.data, title=self.title.data, place=self.place.data, description=self.description.data,
            starts_at=datetime.combine(day, self.starts_at.data, tzinfo=SHANGHAI),
            ends_at=datetime.combine(day, self.ends_at.data, tzinfo=SHANGHAI),
            category=self.category.data, capacity=self.capacity.data, registration=self.registration.data,
            points_mode=self.points_mode.data, points_fixed=self.points_fixed.data,
            auto_approve=self.auto_approve.data, poster=self.poster.data,
            opens_minutes=self.opens_minutes.data, closes_minutes=self.closes_minutes.data)

    def fill_from(self, event: Event) -> None:
        starts, ends = event.starts_at.astimezone(SHANGHAI), event.ends_at.astimezone(SHANGHAI)
        for name in ("title", "place", "description", "category", "capacity", "registration", "points_fixed",
                     "auto_approve", "poster", "opens_minutes", "closes_minutes"):
            getattr(self, name).data = getattr(event, name)
        self.kind.data, self.points_mode.data = event.kind.value, event.points_mode.value
        self.day.data, self.starts_at.data, self.ends_at.data = starts.date(), starts.time(), ends.time()


class CancelForm(Form):
    reason = TextAreaField(_l("Why is the event cancelled?"), validators=[DataRequired(), Length(max=500)])


class ManualForm(Form):
    person_id = HiddenField(validators=[DataRequired(), IdText()])
    action = HiddenField(validators=[DataRequired()])
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=200)])
    q = HiddenField()


class ButtonForm(Form):
    """A button that posts: only the CSRF token."""


# --- helpers --------------------------------------------------------------------------------------------------


def _now() -> datetime:
    return utcnow()


def _categories(community: Area) -> list[SelectChoice]:
    return [SelectChoice(c.code, c.name) for c in categories.categories(community, "service")]


def _time(moment: datetime | None) -> str:
    return format_datetime(moment, "HH:mm") if moment else ""




def _step_arg() -> tuple[datetime, int]:
    """The start of the 30-second step named by ?step=, which must be this step or one next to it, and the whole
    seconds left until that step ends (0 once it has): how long its image may be kept."""
    now = _now()
    current = int(now.timestamp()) // events.STEP
    step = request.args.get("step", current, type=int)
    if step is None or abs(step - current) > 1:
        raise NotFound("not_found", _("Not found."))
    return datetime.fromtimestamp(step * events.STEP, tz=UTC), max(0, (step + 1) * events.STEP - ceil(now.timestamp()))


def _rotation(code: events.Code, now: datetime, image_endpoint: str, **values) -> dict:
    """What a rotating-code page needs: the image of this step and the seconds until the next one."""
    step = int(now.timestamp()) // events.STEP
    rotates_at = datetime.fromtimestamp((step + 1) * events.STEP, tz=UTC)
    return {"image": url_for(image_endpoint, step=step, **values), "step": step,
            "rotates_in": max(1, int((rotates_at - now).total_seconds()) + 1),
            "expires_at": code.expires_at.isoformat()}


def _secret() -> str | bytes:
    """The key the check-in codes are signed with: the application's."""
    return current_app.secret_key


# --- the list and the form ----------------------------------------------------------------------------------------


@bp.route("/events")
@login_required
def index():
    now = _now()
    found = events.events_for(current_user)
    upcoming = sorted((e for e in found if e.ends_at >= now), key=lambda e: (e.starts_at, e.id))
    past = [e for e in found if e.ends_at < now]
    return render_template("events/list.html", upcoming=upcoming, past=past, now=now,
                           creatable=events.creatable_areas(current_user))


def _creatable(area_id: int) -> Area:
    area = get_visible(Area, area_id, current_user, "area.view")
    if area.level in (Level.district, Level.street) or not can(current_user, "event.create", area):
        raise NotFound("not_found", _("Not found."))
    return area


@bp.route("/areas/<int:area_id>/events/new", methods=["GET", "POST"])
@login_required
def new(area_id: int):
    area = _creatable(area_id)
    community = community_of(area)
    form = EventPageForm()
    form.category.choices = _categories(community)
    if request.method == "GET" and form.day.data is None:
        form.day.data = _now().astimezone(SHANGHAI).date() + timedelta(days=1)
    if form.validate_on_submit():
        event = attempt(form, lambda: events.create_event(current_user, area, form.event_form()),
                        _("The event is created."))
        if event is not None:
            return redirect(url_for("events.show", event_id=event.id))
    return render_template("events/form.html", form=form, area=area, community=community, event=None)


@bp.route("/events/<int:event_id>/edit", methods=["GET", "POST"])
@login_required
def edit(event_id: int):
    event = events.organised(current_user, event_id)
    form = EventPageForm()
    form.category.choices = _categories(event.community)
    if request.method == "GET":
        form.fill_from(event)
    if form.validate_on_submit():
        done = attempt(form, lambda: events.update_event(current_user, event, form.event_form()), _("Saved."))
        if done is not None:
            return redirect(url_for("events.show", event_id=event.id))
    return render_template("events/form.html", form=form, area=event.area, community=event.community, event=event)


@bp.route("/events/<int:event_id>/cancel", methods=["GET", "POST"])
@login_required
def cancel(event_id: int):
    event = events.organised(current_user, event_id)
    form = CancelForm()
    if form.validate_on_submit():
        done = attempt(form, lambda: events.cancel_event(current_user, event, reason=form.reason.data),
                       _("The event is cancelled. Its codes no longer work."))
        if done is not None:
            return redirect(url_for("events.show", event_id=event.id))
    return render_template("events/cancel.html", form=form, event=event)


# --- an event -------------------------------------------------------------------------------------------------------


@bp.route("/events/<int:event_id>")
@login_required
def show(event_id: int):
    event = events.visible(current_user, event_id)
    organiser = can(current_user, "event.organise", event)
    opens, closes = events.window(event)
    now = _now()
    return render_template(
        "events/show.html", event=event, organiser=organiser, scanner=can(current_user, "event.scan", event),
        counts=events.counts(event), opens=opens, closes=closes, now=now,
        is_open=opens <= now <= closes and event.cancelled_at is None and event.closed_at is None,
        registered=events.is_registered(event, current_user), mine=events.attendance_of(event, current_user),
        registrations=events.registrations(event) if organiser else [],
        attendances=events.attendances(event) if organiser else [], button=ButtonForm(),
        category=next((c.name for c in categories.categories(event.community, "service", include_hidden=True)
                       if c.code == event.category), event.category))


@bp.route("/events/<int:event_id>/counts.json")
@login_required
@json_errors
def counts(event_id: int):
    event = events.visible(current_user, event_id)
    numbers = events.counts(event)
    return no_store(jsonify({"registered": numbers.registered, "checked_in": numbers.checked_in,
                              "checked_out": numbers.checked_out, "capacity": event.capacity}))


def _own_button(event_id: int, action: Callable[[Event], object], done_message) -> Response:
    """A button on the event's page that a person presses for themself: `action(event)`, then back to the page."""
    event = events.visible(current_user, event_id)
    form = ButtonForm()
    if form.validate_on_submit():
        attempt(form, lambda: action(event), done_message)
    return redirect(url_for("events.show", event_id=event.id))


@bp.route("/events/<int:event_id>/register", methods=["POST"])
@login_required
def register(event_id: int):
    return _own_button(event_id, lambda event: events.register(current_user, event), _("You are registered."))


@bp.route("/events/<int:event_id>/unregister", methods=["POST"])
@login_required
def unregister(event_id: int):
    return _own_button(event_id, lambda event: events.unregister(current_user, event), _("Your place is given back."))


@bp.route("/events/<int:event_id>/checkout", methods=["POST"])
@login_required
def checkout(event_id: int):
    """Check oneself out of an event one checked in to: the server takes the time, the minutes follow."""
    return _own_button(event_id, lambda event: events.check_out_with_code(current_user, event=event),
                       _("Checked out."))


@bp.route("/events/<int:event_id>/attendance.xlsx")
@login_required
def attendance_register(event_id: int):
    event = events.organised(current_user, event_id)
    now = _now()
    book = events.attendance_xlsx(event, now)
    return xlsx_response(book, f"attendance-{event.id}-{now:%Y%m%d}.xlsx")


# --- the event's codes: rotating on a screen, printed on a poster ------------------------------------------------


def _checkin_url(token: str) -> str:
    return url_for("events.checkin", t=token, _external=True)


@bp.route("/events/<int:event_id>/code")
@login_required
def code(event_id: int):
    event = events.organised(current_user, event_id)
    now = _now()
    rotation = _rotation(events.event_code(event, now, secret=_secret()), now, "events.code_image", event_id=event.id)
    opens, closes = events.window(event)
    return no_store(Response(render_template(
        "events/code.html", event=event, rotation=rotation, opens=opens, closes=closes, now=now,
        stopped=event.cancelled_at is not None or event.closed_at is not None)))


@bp.route("/events/<int:event_id>/code.json")
@login_required
@json_errors
def code_json(event_id: int):
    event = events.organised(current_user, event_id)
    now = _now()
    if event.cancelled_at is not None or event.closed_at is not None:
        raise Refused("event_closed", _("The event has closed or been cancelled."))
    code = events.event_code(event, now, secret=_secret())
    return no_store(jsonify({"url": _checkin_url(code.token),
                              **_rotation(code, now, "events.code_image", event_id=event.id)}))


@bp.route("/events/<int:event_id>/code.svg")
@login_required
def code_image(event_id: int):
    event = events.organised(current_user, event_id)
    if event.cancelled_at is not None or event.closed_at is not None:
        raise NotFound("not_found", _("Not found."))
    step, max_age = _step_arg()
    return qr_response(_checkin_url(events.event_code(event, step, secret=_secret()).token), max_age)


def _poster_event(event_id: int) -> Event:
    event = events.organised(current_user, event_id)
    if not event.poster:
        raise NotFound("not_found", _("Not found."))
    return event


@bp.route("/events/<int:event_id>/poster")
@login_required
def poster(event_id: int):
    event = _poster_event(event_id)
    opens, closes = events.window(event)
    return render_template("events/poster.html", event=event, opens=opens, closes=closes)


@bp.route("/events/<int:event_id>/poster.svg")
@login_required
def poster_image(event_id: int):
    return qr_response(_checkin_url(events.poster_code(_poster_event(event_id), secret=_secret())), 3600)


@bp.route("/c")
@limited("scans", "SCAN_RATE_LIMIT")
@login_required
@writes_on_get
def checkin():
    """Where the event's QR code leads: sign in first if needed (login_required keeps the URL), then checked in.

    A GET that writes, on purpose: the phone's camera opens a URL, and checking in is idempotent (a second
    visit answers "already checked in at ..."), bound to a code that lives at most 60 seconds.
    """
    try:
        answer = events.check_in_with_code(current_user, request.args.get("t", ""), secret=_secret())
    except DomainError as refusal:
        transaction.abandon()
        return render_template("events/checked_in.html", refusal=refusal, answer=None), refusal.status
    return render_template("events/checked_in.html", answer=answer, event=answer.attendance.event, refusal=None,
                           button=ButtonForm())


# --- my events, and the volunteer's own scanner ------------------------------------------------------------------


@bp.app_template_filter()
def my_state_name(state: str) -> str:
    return str(events.MY_STATE_NAMES[state])


@bp.route("/me/events")
@login_required
def mine():
    """The events I registered for or attended, each with my state (已报名 … 已记入), the latest first."""
    found = events.my_events(current_user, page_arg(), MY_PER_PAGE, now=_now())
    return render_template("events/mine.html", rows=found.items, total=found.total, page=found.page,
                           per_page=MY_PER_PAGE, now=_now())


@bp.route("/me/scan")
@login_required
def my_scanner():
    """扫一扫: the phone's camera in the page; an event's check-in code (a link to /c on this site) is followed."""
    return render_template("events/my_scan.html", checkin_prefix=url_for("events.checkin", _external=True))


# --- my own code -------------------------------------------------------------------------------------------------


@bp.route("/me/code")
@login_required
def my_code():
    now = _now()
    rotation = _rotation(events.personal_code(current_user, now, secret=_secret()), now, "events.my_code_image")
    return no_store(Response(render_template("events/my_code.html", rotation=rotation)))


@bp.route("/me/code.json")
@login_required
def my_code_json():
    now = _now()
    code = events.personal_code(current_user, now, secret=_secret())
    return no_store(jsonify(_rotation(code, now, "events.my_code_image")))


@bp.route("/me/code.svg")
@login_required
def my_code_image():
    step, max_age = _step_arg()
    return qr_response(events.personal_code(current_user, step, secret=_secret()).token, max_age)


# --- the scanner ----------------------------------------------------------------------------------------------------


def _answer_json(status: str, person: User | None, at: datetime | None, *, minutes: int | None = None,
                 message: str | None = None, nonce: str | None = None) -> dict:
    """One scan's answer as the scanner shows it: a headline in big letters, and who and when under it."""
    time = _time(at)
    headlines = {
        "checked_in": _("Checked in"),
        "already_checked_in": _("Already checked in at %(time)s", time=time),
        "checked_out": _("Checked out"),
        "already_checked_out": _("Already checked out at %(time)s", time=time),
    }
    ok = status in headlines
    detail = person.name if person is not None else ""
    if ok and status == "checked_out" and minutes is not None:
        detail = _("%(name)s, %(minutes)s minutes", name=detail, minutes=minutes)
    elif ok and status == "checked_in":
        detail = _("%(name)s at %(time)s", name=detail, time=time)
    return {"ok": ok, "status": status, "headline": headlines.get(status, _("Refused")),
            "detail": detail if ok else (message or ""), "name": person.name if person else None,
            "time": time, "at": at.isoformat() if at else None, "nonce": nonce}


@bp.route("/events/<int:event_id>/scan")
@login_required
def scanner(event_id: int):
    event = events.scannable(current_user, event_id)
    q = request.args.get("q", "").strip()[:50]
    found = events.find_for_scan(event, q) if q else None
    opens, closes = events.window(event)
    return render_template(
        "events/scan.html", event=event, q=q, found=found, opens=opens, closes=closes, counts=events.counts(event),
        attended=events.attendance_by_person(event, found or []), form=ManualForm(),
        default_reason=_("No smartphone with them"))


@bp.route("/events/<int:event_id>/scan.json", methods=["GET", "POST"])
@limited("scans", "SCAN_RATE_LIMIT", methods=["POST"])
@login_required
@json_errors
def scan_json(event_id: int):
    """POST: one scanned personal code, with the scanner's nonce. GET: a fresh CSRF token for a page open long."""
    event = events.scannable(current_user, event_id)
    if request.method == "GET":
        return no_store(jsonify({"csrf_token": generate_csrf()}))
    body = ScanIn().load(request.get_json(silent=True) or {})
    answer = events.scan(current_user, event, body["token"], action=body["action"], nonce=body["nonce"],
                           secret=_secret())
    attendance = answer.attendance
    return jsonify(_answer_json(answer.status, attendance.person, answer.at, minutes=attendance.minutes,
                                nonce=body["nonce"]))


@bp.route("/events/<int:event_id>/scans/batch.json", methods=["POST"])
@limited("scans", "SCAN_RATE_LIMIT")
@login_required
@json_errors
def scan_batch_json(event_id: int):
    """Scans kept by the page while offline: each answered on its own; duplicates reported, never doubled."""
    event = events.scannable(current_user, event_id)
    body = BatchIn().load(request.get_json(silent=True) or {})
    results = events.upload_offline(current_user, event, body["scans"], secret=_secret())
    out = []
    for result in results:
        shown = _answer_json(result.status, None, result.at, message=result.message, nonce=result.nonce)
        shown["name"] = result.person
        if shown["ok"]:
            shown["detail"] = result.person or ""
        out.append(shown)
    return jsonify({"results": out})


@bp.route("/events/<int:event_id>/manual", methods=["POST"])
@limited("scans", "SCAN_RATE_LIMIT")
@login_required
def manual(event_id: int):
    """A resident without a smartphone, found by name or phone, checked in or out by hand, with a reason."""
    event = events.scannable(current_user, event_id)
    form = ManualForm()
    back = url_for("events.scanner", event_id=event.id, q=form.q.data or None)
    if not form.validate_on_submit() or form.action.data not in ("in", "out") or not form.person_id.data.isdigit():
        raise Invalid("reason_required", _("Give a reason for checking someone in by hand."))
    person = events.person_for_scan(event, int(form.person_id.data))
    results: list[events.Answer] = []

    def check():
        results.append(events.check_in_by_hand(current_user, event, person, action=form.action.data,
                                               reason=form.reason.data))
        return results[0]

    def done() -> str:
        """Worked out after the call: it says what the call found (checked in, or already at 09:12)."""
        answer = results[0]
        shown = _answer_json(answer.status, person, answer.at, minutes=answer.attendance.minutes)
        return f"{shown['headline']}: {person.name}"

    attempt(form, check, LazyString(done))
    return redirect(back)


def attended_state(attendance: Attendance | None) -> str:
    if attendance is None:
        return "none"
    return "out" if attendance.checked_out_at is not None else "in"


bp.add_app_template_global(attended_state)
