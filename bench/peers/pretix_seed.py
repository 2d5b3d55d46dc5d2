"""Run by pretix's own interpreter (bench/peers/pretix_peer.py starts it with PRETIX_CONFIG_FILE set): fills pretix's
database through its own Django ORM, as its admin and shop would, and writes what the harness needs to a JSON file.

An organizer, a live event with one product (an admission ticket), POSITIONS paid orders of one position each (their
secrets made by pretix's own secret generator), a check-in list covering the product, and an initialised check-in
device of the organizer allowed on every event.

    .venv-pretix/bin/python pretix_seed.py OUT.json POSITIONS
"""

import json
import os
import sys
from datetime import timedelta
from decimal import Decimal

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pretix.settings")
django.setup()

from django.db import transaction  # noqa: E402
from django.utils.timezone import now  # noqa: E402
from django_scopes import scopes_disabled  # noqa: E402
from pretix.base.models import Device, Event, Order, OrderPosition, Organizer  # noqa: E402
from pretix.base.models.devices import generate_api_token  # noqa: E402

ORGANIZER = "bench"
EVENT = "checkin"


@scopes_disabled()
def seed(positions: int) -> dict:
    with transaction.atomic():
        organizer = Organizer.objects.create(name="Bench", slug=ORGANIZER)
        event = Event.objects.create(organizer=organizer, name="Check-in bench", slug=EVENT, live=True,
                                     date_from=now() - timedelta(hours=1), date_to=now() + timedelta(days=30),
                                     plugins="pretix.plugins.banktransfer")
        item = event.items.create(name="Admission", default_price=Decimal("10.00"), admission=True)
        checkin_list = event.checkin_lists.create(name="Entrance", all_products=False)
        checkin_list.limit_products.add(item)
        channel = organizer.sales_channels.get(identifier="web")
        secrets = []
        for n in range(positions):
            order = Order.objects.create(event=event, email=f"guest{n}@bench.invalid", status=Order.STATUS_PAID,
                                         datetime=now(), expires=now() + timedelta(days=10), total=item.default_price,
                                         locale="en", sales_channel=channel)
            position = OrderPosition.objects.create(order=order, positionid=1, item=item, variation=None,
                                                    price=item.default_price,
                                                    attendee_name_parts={"full_name": f"Guest {n}"})
            order.create_transactions()
            secrets.append(position.secret)
        device = Device.objects.create(organizer=organizer, all_events=True, name="Entrance scanner",
                                       initialized=now(), api_token=generate_api_token())
    return {"organizer": ORGANIZER, "event": EVENT, "list": checkin_list.pk, "token": device.api_token,
            "auth": "Device", "secrets": secrets}


if __name__ == "__main__":
    out, count = sys.argv[1], int(sys.argv[2])
    data = seed(count)
    with open(out, "w") as file:
        json.dump(data, file)
    print(f"pretix: organizer {data['organizer']}, list {data['list']}, {len(data['secrets'])} paid positions, "
          f"a device token -> {out}")
