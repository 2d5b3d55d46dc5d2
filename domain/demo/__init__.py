"""The demo district `flask seed-demo` loads: a living tree a newcomer can click through at once.

Everything goes through the domain functions, dated when it would have happened: the tree and its heads,
teams, eighteen months of service (much of it by the teams), events with attendance, redemptions. What
moves points (approvals, events closing, redemptions, a correction, each new year's expiry) is kept and
posted at the end in the order of its time, so every balance in a points history follows from the one
before it.

The package: `data` (what the demo holds), `helpers`, and the loaders: `load` (`seed`), `activity` (service and
events), `needs_market`, `campaigns` (honours). Everything public is importable from `domain.demo` as before.
"""

from domain.demo.data import *
from domain.demo.load import *
