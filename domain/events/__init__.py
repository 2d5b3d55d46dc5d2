"""Events and QR check-in: scan to check in, minutes counted by the server, nothing counted twice.

Two kinds of code, both signed with the application's secret (itsdangerous) and tied to a 30-second step:
- the event's code, shown on a screen (rotating) or printed on a poster (valid only inside the check-in
  window); a person scans it and checks themself in;
- a person's own code (`My code`), scanned by staff or a head at the event.
A code lives at most 60 s (its step and the next). One attendance per event and person is a UNIQUE pair,
so a second scan answers "already checked in" with the first time and changes nothing, whatever the
timing. A scanner may send a nonce: the first answer for it is stored and replayed, so a retry (or an
offline batch uploaded twice) counts once. When the event closes (`flask events close`), a missing
check-out is set to the end and flagged, and each attendance becomes one service record — approved
automatically or queued, as the event says — whose points go through the ledger exactly once.

The package, one concern a module: `codes` (the signed codes), `scope` (the loaders, over the rules in
domain/access.py), `organising` (create, change, cancel), `registration`, `checkin` (the hot path), `closing`
(attendance becomes service), `mine` (a person's own events and the minutes still to be settled) and `queries`
(lists, counts, the register). Each module's `__all__` is its share of the package's whole public face, re-exported
here.
"""

from domain.events.checkin import *
from domain.events.closing import *
from domain.events.codes import *
from domain.events.mine import *
from domain.events.organising import *
from domain.events.queries import *
from domain.events.registration import *
from domain.events.scope import *
from models.events import Event
