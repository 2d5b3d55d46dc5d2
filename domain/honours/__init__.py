"""Honour campaigns: nomination, consent, voting, review, public notice, objections, announcement.

A campaign (最美三长 best_head, 社区好人 good_neighbour, or a title of the community's own) covers a street,
community, estate or grid and runs through five phases: nomination → voting → review → notice (公示) →
announced. `advance` moves a campaign by hand where the rules allow it (409 `phase_not_finished` otherwise);
`advance_due` (`flask campaigns advance`) moves every campaign whose date has come, and is idempotent. Each
phase change is one guarded UPDATE from the phase it left, so of two advances at once exactly one moves it.

- Nomination: a resident in scope (heads and staff too) names someone with a reason and optional photos. A
  best-head nominee must hold a head post in scope, in a tier with seats; a good neighbour must live in scope.
  The nominee consents (or declines) before their name is shown to anyone else; those who have not answered
  when voting opens lapse.
- Voting: residents in scope only, never for themselves. A UNIQUE (campaign, voter, nomination) stops a second
  vote for the same nominee; a guarded counter per voter (`UPDATE ballot SET used = used + 1 WHERE used < n`)
  stops a voter going over their votes; the nomination's tally moves in the same transaction as its vote row.
  Suspicious patterns (≥ 5 votes in 10 minutes for one nominee from accounts made in the last 7 days) are
  flagged for staff with the votes as evidence; staff keep or discount them — nothing is dropped silently.
- Review: staff shortlist candidates (within the seats of each tier) or pass them over, a note for each, with
  each nominee's hours, points and tasks beside them.
- Notice: a public page lists the shortlisted with masked names; residents in scope object under their real
  name inside the window (N working days, Mon–Fri, from the day after posting; public holidays are not
  modelled); staff record how each objection was handled before the announcement.
- Announcement: each shortlisted nominee still on the list gets an Honour (UNIQUE per nomination) with a
  certificate number, and the campaign's points through the ledger under the key "honour:<id>" — so running
  the announcement again awards nothing twice.

Decisions that count or move phases (nominating, consenting, review decisions, flags, objections, phase
changes) take the campaign's row lock first, so they run one at a time per campaign; votes do not, and rely
on their constraints and guarded counters instead.

The package, one concern a module, each importing its siblings directly (never this `__init__`): campaign.py
(opening a campaign, loading it for a person, its row lock and phase window), schedule.py (its dates changed
before their phases start), phase.py (the phases and their one transition), nomination.py (nominating, consent,
the status table), vote.py (ballots, votes, flags, tallies), review.py (shortlisting with the nominees' figures),
objection.py (the public notice's objections), award.py (the announcement, honour numbers, the roll,
certificates), report.py (the tallies' check, the register, the personal export) and insight.py (the dashboard
section, registered by create_app). Who may see, run, nominate in a campaign or see a nomination are rules in
domain/access.py. This module re-exports the public names, so that
`from domain import honours; honours.nominate(...)` reads as before.
"""

from __future__ import annotations

from domain.honours.award import *
from domain.honours.campaign import *
from domain.honours.nomination import *
from domain.honours.objection import *
from domain.honours.phase import *
from domain.honours.report import *
from domain.honours.review import *
from domain.honours.schedule import *
from domain.honours.vote import *
from domain.membership import RESIDENT_ROLES, lives_in
from models.honours import Campaign, Nomination
