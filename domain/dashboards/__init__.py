"""Staff dashboards (数据看板) of an area, and the roll-up of the communities under a street or a district.

A dashboard is a list of sections, each a few charts; every chart carries its own table (the same numbers, for
reading and for the .xlsx download). Figures come from the per-month tables the other capabilities keep (hours,
points), from counters and small grouped queries — never from scanning the ledger.

Sections are pluggable. This package brings service and points, coverage, events and teams (`builtin`); other
capabilities add theirs with `register_section(Section(...))` in their `register()`, which create_app calls
(needs and tasks, the market, honours), and the pages and the API pick them up. A section may also give roll-up
figures: one value per community.

The package: `sections` (what a section produces, the register, shared helpers), `builtin` (the four built-in
sections, which create_app registers first) and `board` (a dashboard, a chart, the roll-up). Everything public
is importable from `domain.dashboards` as before.
"""

from domain.dashboards.board import *
from domain.dashboards.sections import *

