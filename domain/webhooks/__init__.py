"""Webhooks out: changes told to an integrator's receiver, signed, through an outbox the job runner sends.

- `outbox.py`: the endpoints staff of an area register, `emit` (one delivery per subscribed endpoint, written in the
  transaction of the change itself), the delivery log and replay.
- `delivery.py`: the periodic job "webhooks deliver": claims due deliveries (safe with several runners), POSTs them
  signed, retries with exponential backoff, and gives up after the configured number of attempts.
"""

from domain.webhooks.delivery import Settings, deliver, due, sign
from domain.webhooks.outbox import (
    EVENTS,
    create_endpoint,
    deliveries,
    disable_endpoint,
    emit,
    endpoints,
    replay,
    visible_delivery,
    visible_endpoint,
)

__all__ = ["EVENTS", "Settings", "create_endpoint", "deliver", "deliveries", "disable_endpoint", "due", "emit",
           "endpoints", "replay", "sign", "visible_delivery", "visible_endpoint"]
