"""What any value may be, whatever door it came in by: the pure rules, without a web framework.

The page forms, the API's schemas and the request guard apply them through `blueprints/bounds.py`; the roster
import applies them to the cells of a spreadsheet (domain/roster/), which no form ever sees.

- Text carries no NUL nor any other control character (newline and tab only in multi-line fields), no bidi
  override, embedding or isolate (they make "ABC" display as "CBA" in a register), no lone surrogate (no database
  stores one); a name has at least one visible character (a zero-width space alone is no name).
- Integers are integers within what our columns hold.
- Dates lie within what they can mean: an event or a campaign from 2000 to two years ahead, a service that has
  happened (not before 2000), a birth date from 1900. A year 9999 or 0001 otherwise overflows the time-zone
  arithmetic downstream (a 500, and jobs that stop on the row).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from flask_babel import lazy_gettext as _l

from models.base import MAX_ID

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


class OutOfBounds(ValueError):
    """A value no field may hold; str() is the message for the person who sent it."""


def text_refusal(value: str, *, multiline: bool = False, visible: bool = False) -> str | None:
    """Why `value` is no acceptable text, or None; `visible`: a name, at least one character that shows."""
    # Printable text holds no control, format (bidi), surrogate nor line-break character: one pass in C for
    # nearly every value, which matters for a roster's 400,000 cells.
    if not value.isprintable():
        if SURROGATE.search(value):
            return _l("Contains an invalid character.")
        if CONTROL.search(value):
            return _l("Contains a control character.")
        if BIDI.search(value):
            return _l("Contains a text-direction control character.")
        if not multiline and LINE_BREAK.search(value):
            return _l("Must be a single line.")
    if visible and value and not is_visible(value):
        return _l("Must contain a visible character.")
    return None


def is_visible(value: str) -> bool:
    return any(unicodedata.category(c) not in INVISIBLE_CATEGORIES and c not in BLANK_LETTERS for c in value)


def check_text(value: str, *, multiline: bool = False, visible: bool = False) -> None:
    """Raises OutOfBounds for text no field may hold (see text_refusal)."""
    refusal = text_refusal(value, multiline=multiline, visible=visible)
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
