"""长辈版 (elder mode) and its text size: the choice a person saves, and which display a page is drawn in.

The 工信部 适老化 rules ask for body text of at least 18 px that can grow to 30 px: elder mode starts at 20 px
and has three steps (static/css/elder.css draws them). A signed-in person's saved choice follows them to every
device; until they choose, and for visitors who are not signed in, the browser's cookie decides.
"""

from __future__ import annotations

from dataclasses import dataclass

from models import User

#: The text steps of elder mode: 1 = 20 px body text, 2 = 25 px, 3 = 30 px.
TEXT_SIZES = (1, 2, 3)


@dataclass(frozen=True)
class Display:
    """How a page is drawn: standard or elder mode, and elder mode's text step."""

    elder: bool = False
    text: int = TEXT_SIZES[0]


STANDARD = Display()


def text_step(value) -> int:
    """A text step from what a cookie or a column holds; anything else is the first step."""
    try:
        step = int(value)
    except (TypeError, ValueError):
        return TEXT_SIZES[0]
    return step if step in TEXT_SIZES else TEXT_SIZES[0]


def display_for(user: User | None, cookie_elder: str | None, cookie_text: str | None) -> Display:
    """The display of a request: the person's saved choice when they made one, else the browser's cookies."""
    if user is not None and user.elder_mode is not None:
        return Display(elder=user.elder_mode, text=text_step(user.text_size if user.text_size else cookie_text))
    return Display(elder=cookie_elder == "1", text=text_step(cookie_text))


def choose_display(user: User, choice: Display) -> None:
    """Saves a person's choice of display, for every device they sign in on. Raises nothing."""
    user.elder_mode = choice.elder
    user.text_size = text_step(choice.text)
