"""What may come in at all, checked once at the edge: the rules of domain/bounds.py (named here too) as marshmallow
fields (API schemas), WTForms validators (page forms) and one request guard. In short:

- Text carries no control character (newline and tab only in multi-line fields), no bidi override, no lone
  surrogate; a name has at least one visible character.
- Integers are integers (1.7 is refused, never read as 1) within what our columns hold.
- Dates lie within the span of their meaning (PLAN, PAST, BIRTH).

The guard runs before every other hook: a control or bidi character in the path or the query string, and a NUL in
any form value or JSON string, never reaches a view or the database (PostgreSQL refuses NUL in text: a 500); a JSON
body must parse, nest at most MAX_DEPTH deep and hold no lone surrogate. Fields and forms then apply the rules of
their meaning (no controls, single line, visible, the date's span), with a message on the field.
"""

from __future__ import annotations

import json
import re
from datetime import date

from flask import Flask, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from marshmallow import ValidationError, fields, validate
from wtforms import (
    DateField,
    DateTimeField,
    IntegerField,
    SelectFieldBase,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Length
from wtforms.validators import ValidationError as FormValidationError

from blueprints.errors import error_response, wants_json
from domain.bounds import (  # noqa: F401  (the rules, named here too for the fields' and forms' users)
    BIDI,
    BIRTH,
    CONTROL,
    MAX_INT,
    PAST,
    PLAN,
    SURROGATE,
    OutOfBounds,
    Span,
    as_id,
    check_integer,
    check_text,
    is_visible,
    text_refusal,
)

#: A text field with no length of its own is cut off here: nothing we store is longer.
MAX_TEXT = 10_000
#: A query value longer than this is refused: a search box's text, a list of ids; SQLite refuses LIKE patterns
#: beyond 50,000 bytes (a 500), and nobody types a page of text into a URL.
MAX_QUERY = 2_000
#: JSON nested deeper than this is refused: our bodies are two levels deep; Python's parser gives up near 1,000.
MAX_DEPTH = 32


# --- marshmallow fields: the API's schemas --------------------------------------------------------------------------


def _given(kwargs: dict) -> list:
    """A field's `validate=` argument as a list."""
    given = kwargs.get("validate")
    return [] if given is None else list(given) if isinstance(given, list | tuple) else [given]


def _checked(check, value):
    """`value` once `check` passed, else the ValidationError marshmallow reports on the field."""
    try:
        check(value)
    except OutOfBounds as refusal:
        raise ValidationError(str(refusal)) from None
    return value


class Line(fields.String):
    """One line of text (a title, a place, a code). Capped at MAX_TEXT when it has no length of its own."""

    multiline = False
    visible = False

    def __init__(self, **kwargs):
        given = _given(kwargs)
        if not any(isinstance(v, validate.Length) and v.max is not None for v in given):
            given.append(validate.Length(max=MAX_TEXT))
        super().__init__(**{**kwargs, "validate": given})

    def _deserialize(self, value, attr, data, **kwargs):
        return _checked(lambda text: check_text(text, multiline=self.multiline, visible=self.visible),
                        super()._deserialize(value, attr, data, **kwargs))


class Text(Line):
    """Text of several lines (a description, a reason, what was done)."""

    multiline = True


class Name(Line):
    """A name or a title: one line with at least one visible character."""

    visible = True


class Integer(fields.Integer):
    """An integer: a JSON integer (1.7, 2.0, "2" and true refused); with strict=False, for a query string, digits
    too. Within the columns' range unless the field has a Range of its own."""

    DIGITS = re.compile(r"[+-]?[0-9]+")
    #: False: no range added (an id reads any number and finds nothing out of range).
    bounded = True

    def __init__(self, *, strict: bool = True, **kwargs):
        given = _given(kwargs)
        if self.bounded and not any(isinstance(v, validate.Range) for v in given):
            given.append(validate.Range(min=-MAX_INT, max=MAX_INT))
        super().__init__(strict=strict, **{**kwargs, "validate": given})

    def _validated(self, value):
        if isinstance(value, float) or isinstance(value, str) and not self.DIGITS.fullmatch(value):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class _InSpan:
    """A date or datetime field held to the span of its meaning."""

    def __init__(self, span: Span = PLAN, **kwargs):
        self.span = span
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        return _checked(self.span.check, super()._deserialize(value, attr, data, **kwargs))


class When(_InSpan, fields.AwareDateTime):
    """A moment with its UTC offset, within its span (PLAN, PAST)."""


class Day(_InSpan, fields.Date):
    """A calendar date within its span (PLAN, PAST, BIRTH)."""


# --- WTForms: the pages' forms ---------------------------------------------------------------------------------------


def _form_checked(check, value) -> None:
    """`check` on a form field's value; its refusal is the field's error."""
    try:
        check(value)
    except OutOfBounds as refusal:
        raise FormValidationError(str(refusal)) from None


class Visible:
    """WTForms validator: a name, with at least one visible character."""

    def __call__(self, form, field):
        if isinstance(field.data, str) and field.data and not is_visible(field.data):
            raise FormValidationError(str(_l("Must contain a visible character.")))


class Within:
    """WTForms validator: a date or datetime within `span` (a field without one gets PLAN from Form)."""

    def __init__(self, span: Span):
        self.span = span

    def __call__(self, form, field):
        if isinstance(field.data, date):
            _form_checked(self.span.check, field.data)


class IdText:
    """WTForms validator: an id chosen from a list (a select's value), or nothing; anything else is refused here
    rather than failing int() in the view."""

    def __call__(self, form, field):
        data = field.data
        if data not in (None, "") and not (isinstance(data, str) and as_id(data) is not None):
            raise FormValidationError(str(_l("Not a valid choice.")))


def _texts(field) -> list[str]:
    data = field.data
    if isinstance(data, str):
        return [data]
    if isinstance(data, list | tuple):
        return [d for d in data if isinstance(d, str)]
    return []


def _default_checks(field) -> list:
    """What every field of this type is held to, whatever its form says."""
    if isinstance(field, DateField | DateTimeField):
        return [] if any(isinstance(v, Within) for v in field.validators) else [Within(PLAN)]
    if isinstance(field, IntegerField):
        return [_integers_in_range]
    checks = []
    if isinstance(field, StringField) and not any(isinstance(v, Length) for v in field.validators):
        checks.append(Length(max=MAX_TEXT))
    if isinstance(field, StringField | SelectFieldBase | SelectMultipleField):
        checks += [_text_check(multiline=isinstance(field, TextAreaField)), _integers_in_range]
    return checks


def _integers_in_range(form, field):
    """An integer field's number, or a select's chosen ids (coerce=int)."""
    data = field.data if isinstance(field.data, list | tuple) else [field.data]
    for number in data:
        if isinstance(number, int) and not isinstance(number, bool):
            _form_checked(check_integer, number)


def _text_check(*, multiline: bool):
    def check(form, field):
        for text in _texts(field):
            _form_checked(lambda t: check_text(t, multiline=multiline), text)
    return check


class Form(FlaskForm):
    """Every page form: its own validators, plus the rules of its fields' types (single-line text for a text box,
    several lines for a text area, integers within range, dates within PLAN unless the field says otherwise)."""

    def validate(self, extra_validators=None):
        extra = {name: [*_default_checks(field), *(extra_validators or {}).get(name, [])]
                 for name, field in self._fields.items()}
        return super().validate(extra_validators=extra)


# --- the guard: before every other hook ----------------------------------------------------------------------------


def _bad(code: str, message):
    """400: JSON for the API and the pages' scripts, the error page for people."""
    if wants_json() or request.path.endswith(".json") or request.is_json:
        return error_response(400, code, str(message))
    return render_template("error.html", status=400, message=str(message)), 400


def _raw_refusal(text: str) -> str | None:
    """What no path or query value may hold (multi-line allowed: a field decides that)."""
    return text_refusal(text, multiline=True)


def _body_refusal(text: str) -> str | None:
    """What no body value may hold whatever its field: a NUL (PostgreSQL refuses it in text) or a lone surrogate
    (no database stores one). Other controls and bidi characters are refused by each field, with its message."""
    if "\x00" in text:
        return _l("Contains a control character.")
    if SURROGATE.search(text):
        return _l("Contains an invalid character.")
    return None


def _json_refusal(value, depth: int = 0) -> str | None:
    if depth > MAX_DEPTH:
        return _l("The JSON body is nested too deep.")
    if isinstance(value, str):
        return _body_refusal(value)
    if isinstance(value, dict):
        items = [*value.keys(), *value.values()]
    elif isinstance(value, list):
        items = value
    else:
        return None
    for item in items:
        refusal = _json_refusal(item, depth + 1)
        if refusal is not None:
            return refusal
    return None


def guard():
    """Refuses (400) a request whose path, query, form or JSON body holds what no field may hold."""
    for text in (request.path, *request.args.keys(), *request.args.values()):
        if (refusal := _raw_refusal(text)) is not None:
            return _bad("invalid_characters", refusal)
        if len(text) > MAX_QUERY:
            return _bad("too_long", _l("The text is too long."))
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    if request.is_json:
        raw = request.get_data(cache=True)
        if raw.strip():
            try:
                body = json.loads(raw)
            except (ValueError, RecursionError):
                return _bad("invalid_body", _l("The JSON body cannot be read."))
            if (refusal := _json_refusal(body)) is not None:
                return _bad("invalid_body", refusal)
    elif request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for text in (*request.form.keys(), *request.form.values()):
            if (refusal := _body_refusal(text)) is not None:
                return _bad("invalid_characters", refusal)
    return None


def init_app(app: Flask) -> None:
    # First of the before-request hooks: the rate limiter's and the session's run after it, on clean input.
    app.before_request_funcs.setdefault(None, []).insert(0, guard)
