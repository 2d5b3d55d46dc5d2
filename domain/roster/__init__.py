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

from domain.roster.apply import *
from domain.roster.columns import *
from domain.roster.parse import *
from domain.roster.plan import *
from domain.roster.state import *
from domain.roster.template import *
