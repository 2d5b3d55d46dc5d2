"""What may come in at all, checked once at the edge: the rules, and the same rules as marshmallow fields (API
schemas), WTForms validators (page forms) and one request guard.

- Text carries no NUL nor any other control character (newline and tab only in multi-line fields), no bidi
  override, embedding or isolate (they make "ABC" display as "CBA" in a register), no lone surrogate (no database
  stores one); a name has at least one visible character (a zero-width space alone is no name).
- Integers are integers (1.7 is refused, never read as 1) within what our columns hold.
- Dates lie within what they can mean: an event or a campaign from 2000 to two years ahead, a service that has
  happened (not before 2000), a birth date from 1900. A year 9999 or 0001 otherwise overflows the time-zone
  arithmetic downstream (a 500, and jobs that stop on the row).

The guard runs before every other hook: a control or bidi character in the path or the query string, and a NUL in
any form value or JSON string, never reaches a view or the database (PostgreSQL refuses NUL in text: a 500); a JSON
body must parse, nest at most MAX_DEPTH deep and hold no lone surrogate. Fields and forms then apply the rules of
their meaning (no controls, single line, visible, the date's span), with a message on the field.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

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
from models.base import MAX_ID

# --- the rules ----------------------------------------------------------------------------------------------------

#: C0 controls but tab, newline and carriage return; DEL; C1 controls (NEL among them).
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
#: What ends a line or moves along it: refused in single-line text.
LINE_BREAK = re.compile(r"[\t\n\r\u2028\u2029]")
#: Bidi embeddings and overrides (U+202A–U+202E) and isolates (U+2066–U+2069).
BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069]")
SURROGATE = re.compile(r"[\ud800-\udfff]")
#: Letters that draw nothing (Hangul fillers, the blank Braille pattern): not a visible character either.
BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
#: Separators, controls, format characters (zero-width space, joiners) and combining marks alone show nothing.
INVISIBLE_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn", "Mn", "Me"})
#: The largest integer our INTEGER columns hold (and a sane bound for any count or amount sent).
MAX_INT = MAX_ID
#: A text field with no length of its own is cut off here: nothing we store is longer.
MAX_TEXT = 10_000
#: A query value longer than this is refused: a search box's text, a list of ids; SQLite refuses LIKE patterns
#: beyond 50,000 bytes (a 500), and nobody types a page of text into a URL.
MAX_QUERY = 2_000
#: JSON nested deeper than this is refused: our bodies are two levels deep; Python's parser gives up near 1,000.
MAX_DEPTH = 32


class OutOfBounds(ValueError):
    """A value no field may hold; str() is the message for the person who sent it."""


def text_refusal(value: str, *, multiline: bool = False) -> str | None:
    """Why `value` is no acceptable text, or None."""
    if SURROGATE.search(value):
        return _l("Contains an invalid character.")
    if CONTROL.search(value):
        return _l("Contains a control character.")
    if BIDI.search(value):
        return _l("Contains a text-direction control character.")
    if not multiline and LINE_BREAK.search(value):
        return _l("Must be a single line.")
    return None


def is_visible(value: str) -> bool:
    return any(unicodedata.category(c) not in INVISIBLE_CATEGORIES and c not in BLANK_LETTERS for c in value)


def check_text(value: str, *, multiline: bool = False, visible: bool = False) -> None:
    """Raises OutOfBounds for text no field may hold; `visible`: a name, at least one character that shows."""
    refusal = text_refusal(value, multiline=multiline)
    if refusal is None and visible and value and not is_visible(value):
        refusal = _l("Must contain a visible character.")
    if refusal is not None:
        raise OutOfBounds(refusal)


@dataclass(frozen=True)
class Span:
    """The dates a kind of datetime may take: from `earliest` to `ahead` after now."""

    earliest: date
    ahead: timedelta

    def bounds(self, now: datetime | None = None) -> tuple[datetime, datetime]:
        now = now or datetime.now(UTC)
        return datetime.combine(self.earliest, time(0, 0), tzinfo=UTC), now + self.ahead

    def check(self, value: date | datetime) -> None:
        """Raises OutOfBounds outside the span. A date counts as its whole day, in any time zone."""
        earliest, latest = self.bounds()
        if isinstance(value, datetime):
            try:
                moment = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
            except OverflowError:  # 0001-01-01T00:00+01:00 is before the first day a datetime holds
                moment = None
            ok = moment is not None and earliest <= moment <= latest
        else:
            ok = earliest.date() <= value <= (latest + timedelta(days=1)).date()
        if not ok:
            raise OutOfBounds(_l("Must be between %(earliest)s and %(latest)s.", earliest=earliest.date().isoformat(),
                                 latest=latest.date().isoformat()))


#: Events, campaigns, a reward's availability, report periods: this century, at most two years ahead.
PLAN = Span(date(2000, 1, 1), timedelta(days=730))
#: What has happened (service, scans kept offline, a certificate's period): this century, not ahead (a day's slack
#: for time zones and phones' clocks: the domain refuses "in the future" precisely, with its own message).
PAST = Span(date(2000, 1, 1), timedelta(days=1))
#: A date of birth.
BIRTH = Span(date(1900, 1, 1), timedelta(days=1))


def as_id(text: str | None) -> int | None:
    """An id typed into a URL or a form, or None: ASCII digits ("²" passes str.isdigit() but not int()) naming a
    row that can exist (beyond 32 bits, the database driver overflows)."""
    if not (text and text.isascii() and text.isdigit() and len(text) <= 10):
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None


def check_integer(value: int) -> None:
    if not -MAX_INT <= value <= MAX_INT:
        raise OutOfBounds(_l("Out of range."))


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
