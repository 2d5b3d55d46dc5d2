"""The roster's columns and role words: what each column means, the headers and spellings accepted for it, and
the words for each role (the template's, their English aliases, a community's own head titles).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from domain.org import head_title
from models import Area, Level, Role

__all__ = [
    "ADDRESS", "ADDRESS_LEVELS", "COLUMN_BY_KEY", "COLUMNS", "HEADER_KEYS", "MAX_HOUSEHOLD_SIZE", "ROLES", "Column",
    "role_examples", "role_words",
]

MAX_HOUSEHOLD_SIZE = 99

#: The three levels a roster names, from the top; a head of tier t heads the area at ADDRESS[t - 1].
ADDRESS = ("grid", "building", "unit")
ADDRESS_LEVELS = (Level.grid, Level.building, Level.unit)

# --- columns and roles --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str
    #: The header the template uses.
    header: str
    #: Other headers accepted for the column, English first.
    aliases: tuple[str, ...]
    required: bool
    max_length: int | None
    description: object  # a lazy string
    #: A name (of a person, an area, a door): at least one character that shows (domain.bounds).
    visible: bool = False


COLUMNS = (
    Column("grid", "网格", ("grid", "网格名称", "所属网格"), True, 100,
           _l("Name of the grid, e.g. 第一网格. Created when the community has none of that name."), visible=True),
    Column("building", "楼栋", ("building", "楼号", "楼栋号", "栋"), False, 100,
           _l("Building inside the grid, e.g. 3号楼. Needed for everyone but grid heads."), visible=True),
    Column("unit", "单元", ("unit", "单元号"), False, 100,
           _l("Stairwell unit inside the building, e.g. 1单元. Needed for residents, volunteers and unit heads."),
           visible=True),
    Column("household", "户号", ("household", "door", "door number", "房号", "门牌号", "室号"), False, 32,
           _l("Door number inside the unit, e.g. 301. Needed for residents and volunteers; "
              "on a head's row it records where the head lives."), visible=True),
    Column("name", "姓名", ("name", "名字"), True, 50, _l("Full name."), visible=True),
    Column("phone", "手机", ("phone", "mobile", "手机号", "手机号码", "联系电话", "电话"), True, 20,
           _l("Mainland mobile number, 11 digits. One person per number.")),
    Column("role", "身份", ("role", "角色", "类别"), True, None,
           _l("居民 (resident), 志愿者 (volunteer), 网格长, 楼栋长 or 单元长 (or this community's own titles).")),
    Column("size", "户人数", ("household size", "size", "人数", "家庭人数"), False, None,
           _l("Optional: number of people living in the household.")),
)
COLUMN_BY_KEY = {c.key: c for c in COLUMNS}

#: The role words every community accepts: (word of the template, English alias, role, head tier or None).
ROLES = (
    ("居民", "resident", Role.resident, None),
    ("志愿者", "volunteer", Role.volunteer, None),
    ("网格长", "grid_head", Role.head, 1),
    ("楼栋长", "building_head", Role.head, 2),
    ("单元长", "unit_head", Role.head, 3),
)

#: Notes in headers such as "手机（必填）" or "姓名*".
_HEADER_NOISE = re.compile(r"[（(].*?[)）]|[*＊\s_\-]")


def _header_key(text: str) -> str:
    return _HEADER_NOISE.sub("", unicodedata.normalize("NFKC", text)).lower()


HEADER_KEYS: dict[str, str] = {
    _header_key(name): column.key for column in COLUMNS for name in (column.header, *column.aliases)
}


def _role_key(text: str) -> str:
    return re.sub(r"[\s\-]+", "_", text.strip().lower())


def role_words(community: Area | None) -> dict[str, tuple[Role, int | None]]:
    """Every accepted word for a role, as `_role_key` folds it: the template's words, their English
    aliases, and the community's own head titles (片长/组长/邻长)."""
    words: dict[str, tuple[Role, int | None]] = {}
    for word, alias, role, tier in ROLES:
        words[word] = words[alias] = (role, tier)
        if tier is not None:
            words[_role_key(head_title(community, tier))] = (role, tier)
    return words


def role_examples(community: Area | None) -> list[tuple[str, str]]:
    """(words, English alias) of each role for the upload page, the community's own title included."""
    pairs = []
    for word, alias, _role, tier in ROLES:
        own = head_title(community, tier) if tier is not None else word
        pairs.append((word if own == word else f"{word} / {own}", alias))
    return pairs
