"""Form helpers shared by the pages: WTForms classes, running a domain call behind a form, and the responses several
pages send (a QR image, a PDF or .xlsx download)."""

from __future__ import annotations

import io
from collections.abc import Callable

from flask import Response, flash, request, send_file
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import DateField, HiddenField, PasswordField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from blueprints.bounds import BIRTH, Form, IdText, Visible, Within, as_id
from domain import org, qr
from domain.errors import DomainError, NotFound
from domain.paging import MAX_PAGE
from models import Level, User, transaction

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def attempt(form: Form, action: Callable[[], object], done_message) -> object | None:
    """Run one domain call for a submitted form (the request boundary commits what it wrote).

    On a domain refusal nothing is written; the message is flashed and put on the matching fields,
    so the page can be shown again with what the user typed.
    """
    try:
        result = action()
    except DomainError as error:
        transaction.abandon()
        flash(str(error.message), "error")
        for name, messages in (error.fields or {}).items():
            field = getattr(form, name, None)
            if field is not None:
                field.errors = [*field.errors, *[str(m) for m in messages]]
        return None
    flash(str(done_message), "success")
    return result


def page_arg() -> int:
    """The `?page=` of a list, from 1 to MAX_PAGE whatever was sent."""
    return min(max(1, request.args.get("page", 1, type=int) or 1), MAX_PAGE)


class LoginForm(Form):
    phone = StringField(_l("Phone"), validators=[DataRequired(), Length(max=20)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])
    next = HiddenField()


class AreaForm(Form):
    level = SelectField(_l("Level"), choices=[SelectChoice(lv.value) for lv in Level])
    name = StringField(_l("Name"), validators=[DataRequired(), Visible(), Length(max=100)])
    code = StringField(_l("Code (optional)"), validators=[Optional(), Length(max=64)])


class AppointForm(Form):
    person_id = HiddenField(validators=[DataRequired(), IdText()])
    reason = StringField(_l("Note (optional)"), validators=[Optional(), Length(max=500)])


class EndPostForm(Form):
    reason = TextAreaField(_l("Why does the post end?"), validators=[DataRequired(), Length(max=500)])


class HouseholdForm(Form):
    label = StringField(_l("Door number"), validators=[DataRequired(), Visible(), Length(max=32)])


class PersonForm(Form):
    name = StringField(_l("Full name"), validators=[DataRequired(), Visible(), Length(max=50)])
    phone = StringField(_l("Phone"), validators=[DataRequired(), Length(max=20)])
    password = PasswordField(_l("Password (optional, at least 8 characters)"),
                             validators=[Optional(), Length(max=200)])
    household_id = SelectField(_l("Household"), coerce=str, validate_choice=False, validators=[IdText()])
    role = SelectField(_l("Role"))
    area_id = SelectField(_l("Area of the role"), coerce=str, validate_choice=False)
    birth_date = DateField(_l("Date of birth (optional; needed for a child under 14)"),
                           validators=[Optional(), Within(BIRTH)])
    guardian_phone = StringField(_l("Guardian's phone (for a child under 14)"), validators=[Optional(), Length(max=20)])


def people_found() -> tuple[str, list[User]]:
    """The person picker of a staff form (macros.html's `person_picker`): what was searched for (`q` in the URL) and
    the people it finds in the caller's areas."""
    q = request.args.get("q", "")
    return q, org.find_people(current_user, q) if q else []


def id_arg(text: str | None) -> int:
    """An id typed into a URL or form (bounds.as_id), or NotFound."""
    number = as_id(text)
    if number is None:
        raise NotFound("not_found", _l("Not found."))
    return number


def qr_response(text: str, max_age: int) -> Response:
    """The QR image of `text` (drawn once per process: domain/qr.py), kept by the browser for `max_age` seconds;
    a browser asking again with the ETag it holds gets 304, and nothing is drawn."""
    tag = qr.etag(text)
    if request.if_none_match.contains(tag):
        response = Response(status=304)
    else:
        response = Response(qr.svg(text), mimetype="image/svg+xml")
    response.set_etag(tag)
    response.headers["Cache-Control"] = f"private, max-age={max_age}"
    return response


def no_store(response: Response) -> Response:
    """`response`, never kept by the browser or a proxy (a live figure, a code, a personal download)."""
    response.headers["Cache-Control"] = "no-store"
    return response


def pdf_response(data: bytes, name: str) -> Response:
    """The PDF document `data` as a download named `name`."""
    return send_file(io.BytesIO(data), mimetype="application/pdf", as_attachment=True, download_name=name)


def xlsx_response(book, name: str) -> Response:
    """The workbook `book` as a download named `name`."""
    return send_file(book, as_attachment=True, download_name=name, mimetype=XLSX)
