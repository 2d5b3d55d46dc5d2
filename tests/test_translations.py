"""Chinese is the default language: every user-facing string in the code has a Chinese translation."""

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
SKIP = (".venv", "tests", "migrations", "bench", "node_modules")
KEYWORDS = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None, "ngettext": (1, 2)}


def _msgids() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _ctx in extract_from_dir(
        str(ROOT), METHODS, keywords=KEYWORDS,
        callback=None, strip_comment_tags=True,
        directory_filter=lambda path: not any(part in SKIP for part in Path(path).relative_to(ROOT).parts),
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_string_has_a_chinese_translation():
    with open(ROOT / "translations/zh/LC_MESSAGES/messages.po", "rb") as f:
        catalog = read_po(f)
    translated = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id and m.string
                  and "fuzzy" not in m.flags}
    missing = sorted(_msgids() - translated)
    assert missing == [], f"untranslated: {missing}"


def test_extraction_finds_the_strings():
    # Guards the test above against silently extracting nothing.
    ids = _msgids()
    assert "Sign in" in ids and "Grid head" in ids
