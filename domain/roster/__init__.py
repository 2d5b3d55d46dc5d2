"""Roster import (花名册导入): the residents, volunteers and heads of a community from an .xlsx or .csv file.

Three steps, kept apart so each can be tested and timed on its own:

- `parse_roster`: file bytes → `RosterFile` (header mapped to column keys, cells cleaned). Refuses files
  that cannot be read, with a message a community worker can act on.
- `plan_roster`: rows + what the community holds now (loaded in a few queries) → `RosterPlan`, or
  Refused("roster_invalid") listing every bad row. Nothing is written for a file with a bad row.
- `write_roster`: the plan → bulk inserts (COPY on PostgreSQL, executemany on SQLite, ids taken up front so
  nothing is read back) and updates, inside the session's transaction, never committed.

`import_roster` runs the three for pages, the API and the CLI alike. Importing the same file twice
changes nothing the second time, and then writes no audit event either.

The package: `columns` (the columns and role words), `parse`, `state` (what the community holds, loaded at once),
`plan`, `apply` (the bulk writes; ids reserved and rows loaded by models.sql) and `template`. Everything public is
importable from `domain.roster` as before.
"""

from domain.roster.apply import ImportResult, check_target, import_roster, target_communities, write_roster
from domain.roster.columns import (
    ADDRESS,
    ADDRESS_LEVELS,
    COLUMN_BY_KEY,
    COLUMNS,
    HEADER_KEYS,
    MAX_HOUSEHOLD_SIZE,
    ROLES,
    Column,
    role_examples,
    role_words,
)
from domain.roster.parse import (
    HEADER_SEARCH,
    MAX_COLUMNS,
    MAX_ROWS,
    XLSX_CAPS,
    RosterFile,
    RosterRow,
    collector_paused,
    parse_roster,
)
from domain.roster.plan import Entry, RosterPlan, plan_roster
from domain.roster.state import CHUNK, CommunityState, Person, load_state
from domain.roster.template import EXAMPLE_ROWS, template_workbook

__all__ = [
    "ADDRESS", "ADDRESS_LEVELS", "CHUNK", "COLUMNS", "COLUMN_BY_KEY", "EXAMPLE_ROWS", "HEADER_KEYS", "HEADER_SEARCH",
    "MAX_COLUMNS", "MAX_HOUSEHOLD_SIZE", "MAX_ROWS", "ROLES", "XLSX_CAPS", "Column", "CommunityState", "Entry",
    "ImportResult", "Person", "RosterFile", "RosterPlan", "RosterRow", "check_target", "collector_paused",
    "import_roster", "load_state", "parse_roster", "plan_roster", "role_examples", "role_words",
    "target_communities", "template_workbook", "write_roster",
]
