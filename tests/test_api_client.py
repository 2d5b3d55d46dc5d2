"""A client generated from the served OpenAPI document (openapi-python-client, into a temporary folder, never
committed) drives a whole journey against the app served over a real socket, as a new integrator's would: if the
generator cannot build it, or it cannot read our answers, the document is wrong.

The journey is issue 20's: an administrator sets up a community and gives the city's grid system a key; the system
syncs its roster; the people it placed sign in with texted codes; a resident posts a need, the unit's head claims
and finishes it, staff approve it; a volunteer placed on the unit records service, staff approve it; the volunteer
redeems a reward; and a webhook arrives, signed, for each of those changes.

Each step is a small function taking the journey's state (`Journey`), listed in STEPS: a step is added by writing
its function and naming it there."""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from models import db
from tests.browser import serve
from tests.conftest import PASSWORD, make_app
from tests.test_webhooks import Receiver

GENERATOR = shutil.which("openapi-python-client", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
PACKAGE = "sanzhang_client"


@pytest.fixture(scope="session")
def client_package(session_app, tmp_path_factory):
    """The client generated from the served document, imported."""
    if GENERATOR is None:
        message = "openapi-python-client is not installed (pip install -e .[test])"
        if os.environ.get("TEST_REQUIRE_ALL") == "1":
            pytest.fail(f"{message}, but TEST_REQUIRE_ALL=1 requires the generated-client journey")
        pytest.skip(message)
    if PACKAGE in sys.modules:
        return sys.modules[PACKAGE]
    folder = tmp_path_factory.mktemp("client")
    (folder / "openapi.json").write_bytes(session_app.test_client().get("/api/v1/openapi.json").data)
    (folder / "config.yml").write_text("post_hooks: []\n")  # no formatter run on the generated code
    done = subprocess.run([GENERATOR, "generate", "--path", "openapi.json", "--output-path", PACKAGE, "--meta", "none",
                           "--config", "config.yml"], cwd=folder, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0 and "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr
    sys.path.insert(0, str(folder))  # kept for the session: operations' modules are imported as steps need them
    importlib.import_module(f"{PACKAGE}.models")
    return importlib.import_module(PACKAGE)


@pytest.fixture
def served(app):
    """The app served over HTTP on 127.0.0.1, on the test's database: (the served app, its base URL)."""
    served = make_app(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with serve(served) as url:
            yield served, url
    finally:
        with served.app_context():
            db.engine.dispose()


@pytest.fixture
def city_receiver():
    """The integrator's webhook receiver on 127.0.0.1."""
    found = Receiver()
    yield found
    found.close()


@dataclass
class Journey:
    """What the steps share: the generated package, the test's app and the served one with its URL, the webhook
    receiver, each person's client, and ids met on the way."""

    api: object
    app: object
    served: object
    base_url: str
    spec: dict
    receiver: Receiver
    secret: str = ""
    clients: dict = field(default_factory=dict)
    ids: dict = field(default_factory=dict)
    phones: dict = field(default_factory=dict)

    def call(self, who: str, operation: str, expect: int, **kwargs):
        """Call `operation` (its operationId) as `who`; check the status and that the answer was parsed."""
        tag = "api_" + operation.split("_", 1)[0]
        module = importlib.import_module(f"{self.api.__name__}.api.{tag}.{operation}")
        answer = module.sync_detailed(client=self.clients[who], **kwargs)
        assert answer.status_code == expect, (operation, answer.status_code, answer.content[:500])
        assert answer.parsed is not None, (operation, "the client could not read the answer")
        self.check_against_the_document(operation, answer)
        return answer.parsed

    def check_against_the_document(self, operation: str, answer) -> None:
        """The answer's JSON matches the schema the document gives for its status: the generated client reads
        leniently (a null where a number is promised passes), the document's own schema does not."""
        from openapi_schema_validator import OAS30Validator, validate

        found = [o for item in self.spec["paths"].values() for o in item.values()
                 if isinstance(o, dict) and o.get("operationId") == operation]
        documented = found[0]["responses"][str(int(answer.status_code))]
        schema = documented.get("content", {}).get("application/json", {}).get("schema")
        if schema is not None:
            validate(json.loads(answer.content), {"allOf": [schema], "components": self.spec["components"]},
                     cls=OAS30Validator, format_checker=OAS30Validator.FORMAT_CHECKER)

    def close(self) -> None:
        for client in self.clients.values():
            client.get_httpx_client().close()

    def body(self, schema: str, **values):
        return getattr(self.api.models, schema).from_dict(values)

    def sign_in(self, who: str) -> None:
        anonymous = self.api.Client(base_url=self.base_url)
        self.clients.setdefault("anonymous", anonymous)
        token = self.call("anonymous", "auth_post_token", 200,
                          body=self.body("TokenIn", phone=self.phones[who], password=PASSWORD))
        self.clients[who] = self.api.AuthenticatedClient(base_url=self.base_url, token=token.token)


# --- steps -------------------------------------------------------------------------------------------------------

def admin_builds_the_top(j: Journey) -> None:
    parent = None
    for level, name in (("district", "示范区"), ("street", "东风街道"), ("community", "银融社区")):
        area = j.call("admin", "areas_post_areas", 201, body=j.body("AreaIn", parent_id=parent, level=level, name=name))
        assert area.level == level and area.name == name
        j.ids[level] = parent = area.id


def admin_registers_staff(j: Journey) -> None:
    j.phones["staff"] = "13800000009"
    staff = j.call("admin", "people_post_people", 201, body=j.body(
        "PersonIn", name="银融干部", phone=j.phones["staff"], password=PASSWORD,
        roles=[{"role": "staff", "area_id": j.ids["community"]}]))
    j.ids["staff"] = staff.id
    j.sign_in("staff")


def admin_gives_the_city_system_a_key(j: Journey) -> None:
    """API clients are made by an administrator on a page or on the command line (not over the API)."""
    made = j.app.test_cli_runner().invoke(args=["api-clients", "create", "--area-id", str(j.ids["community"]),
                                                "--name", "网格化管理系统"])
    assert made.exit_code == 0, made.output
    key = re.search(r"szc_\S+", made.output)[0]
    j.clients["city"] = j.api.AuthenticatedClient(base_url=j.base_url, token=key)


def staff_register_a_webhook(j: Journey) -> None:
    """Webhook endpoints are registered by staff on a page (not over the API): here through its domain call."""
    from domain import webhooks
    from models import Area, User

    with j.app.app_context():
        staff = db.session.get(User, j.ids["staff"])
        endpoint, j.secret = webhooks.create_endpoint(staff, db.session.get(Area, j.ids["community"]),
                                                      url=j.receiver.url, events=list(webhooks.EVENTS))
        db.session.commit()
        j.ids["webhook"] = endpoint.id


#: The city's roster, in its own ids: a grid, a building, a unit with two households, three people placed on the
#: unit (a volunteer with no community-wide role among them) and the unit's head.
ROSTER = {
    "full": True,
    "areas": [{"id": "G-01", "parent_id": None, "level": "grid", "name": "第一网格", "code": "3301-G01"},
              {"id": "B-01", "parent_id": "G-01", "level": "building", "name": "1号楼"},
              {"id": "U-01", "parent_id": "B-01", "level": "unit", "name": "1单元"}],
    "households": [{"id": "H-101", "unit_id": "U-01", "label": "101", "size": 2},
                   {"id": "H-102", "unit_id": "U-01", "label": "102"}],
    "people": [{"id": "P-head", "name": "单元长", "phone": "13800000001", "household_id": "H-102",
                "roles": [{"role": "volunteer", "area_id": "U-01"}]},
               {"id": "P-resident", "name": "居民甲", "phone": "13800000002", "household_id": "H-101",
                "roles": [{"role": "resident", "area_id": "U-01"}]},
               {"id": "P-volunteer", "name": "志愿者乙", "phone": "13800000003",
                "roles": [{"role": "volunteer", "area_id": "U-01"}]}],
    "heads": [{"area_id": "U-01", "person_id": "P-head"}],
}


def city_system_syncs_the_roster(j: Journey) -> None:
    first = j.call("city", "sync_put_roster", 200, body=j.body("SyncRosterIn", **ROSTER))
    assert {row.status for row in first.rows} == {"created"}, [row.to_dict() for row in first.rows]
    local = {(row.kind, row.id): row.local_id for row in first.rows}
    j.ids |= {"grid": local["area", "G-01"], "building": local["area", "B-01"], "unit": local["area", "U-01"],
              "household": local["household", "H-101"]}
    for who in ("head", "resident", "volunteer"):
        j.ids[who] = local["person", f"P-{who}"]
        j.phones[who] = next(p["phone"] for p in ROSTER["people"] if p["id"] == f"P-{who}")
    again = j.call("city", "sync_put_roster", 200, body=j.body("SyncRosterIn", **ROSTER))
    assert {row.status for row in again.rows} == {"unchanged"} and not again.missing


def synced_people_sign_in_with_a_texted_code(j: Journey) -> None:
    """The sync gives no passwords: people sign in with a code texted to them (the log sender's outbox here)."""
    for who in ("head", "resident", "volunteer"):
        j.call("anonymous", "auth_post_sms_code", 202, body=j.body("SmsCodeIn", phone=j.phones[who]))
        code = next(m.code for m in j.served.extensions["sms"].outbox if m.phone == j.phones[who])
        token = j.call("anonymous", "auth_post_code_token", 200,
                       body=j.body("CodeTokenIn", phone=j.phones[who], code=code))
        j.clients[who] = j.api.AuthenticatedClient(base_url=j.base_url, token=token.token)
        me = j.call(who, "auth_get_me", 200)
        assert (me.id, me.name) == (j.ids[who], next(p["name"] for p in ROSTER["people"] if p["id"] == f"P-{who}"))


def staff_see_the_synced_people(j: Journey) -> None:
    people = j.call("staff", "people_get_people", 200, area_id=j.ids["unit"])
    assert {p.id for p in people.items} == {j.ids["head"], j.ids["resident"], j.ids["volunteer"]}
    households = j.call("staff", "households_get_area_households", 200, area_id=j.ids["unit"])
    assert [h.label for h in households.items] == ["101", "102"]


def resident_posts_a_need(j: Journey) -> None:
    need = j.call("resident", "tasks_post_needs", 201, body=j.body(
        "NeedIn", area_id=j.ids["unit"], title="厨房水管漏水", description="水槽下面一直滴水", category="plumbing"))
    assert need.status == "open"
    j.ids["need"] = need.id


def head_claims_and_finishes_it(j: Journey) -> None:
    assert j.call("head", "tasks_post_claim", 200, task_id=j.ids["need"]).status == "claimed"
    done = j.call("head", "tasks_post_done", 200, task_id=j.ids["need"], body=j.body("TaskNoteIn", note="换了密封圈"))
    assert done.status == "done"
    confirmed = j.call("resident", "tasks_post_confirm", 200, task_id=j.ids["need"],
                       body=j.body("TaskConfirmIn", resolved=True))
    assert confirmed.status == "confirmed"


def staff_approve_the_need(j: Journey) -> None:
    approved = j.call("staff", "tasks_post_approve", 200, task_id=j.ids["need"],
                      body=j.body("TaskOptionalReasonIn"))
    assert approved.status == "approved"


def volunteer_records_service(j: Journey) -> None:
    """A volunteer placed on a unit records their own service in their community (issue 20: no longer a 404)."""
    start = (datetime.now(UTC) - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    occasion = j.call("volunteer", "service_post_service_records", 201, body=j.body(
        "ServiceRecordIn", started_at=start.isoformat(), ended_at=(start + timedelta(hours=3)).isoformat(),
        category="elderly_care", content="陪老人去医院", place="社区卫生站"))
    assert occasion.id == occasion.records[0].id
    j.ids["record"] = occasion.id
    queue = j.call("staff", "service_get_service_records", 200)
    assert [r.id for r in queue.items] == [occasion.id]


def staff_approve_the_service(j: Journey) -> None:
    record = j.call("staff", "service_post_approve", 200, record_id=j.ids["record"], body=j.body("DecisionIn"))
    assert record.status == "approved" and record.points > 0


def volunteer_redeems_a_reward(j: Journey) -> None:
    reward = j.call("staff", "market_post_rewards", 201, body=j.body("RewardIn", name="大米 5 斤", price=10, stock=5))
    balance = j.call("volunteer", "auth_get_me", 200).balance
    redemption = j.call("volunteer", "market_post_redemptions", 201,
                        body=j.body("RedemptionIn", reward_id=reward.id))
    assert j.call("volunteer", "auth_get_me", 200).balance == balance - 10
    j.ids["redemption"], j.ids["pickup_code"] = redemption.id, redemption.pickup_code


def staff_hand_it_over(j: Journey) -> None:
    fulfilled = j.call("staff", "market_post_fulfil", 200, redemption_id=j.ids["redemption"],
                       body=j.body("FulfilIn", pickup_code=j.ids["pickup_code"]))
    assert fulfilled.status == "fulfilled"


def staff_open_a_best_head_campaign_with_one_number_of_seats(j: Journey) -> None:
    """The first contract's `seats: 3` still opens a best-head campaign: three seats in every tier."""
    day = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    dates = {name: (day + timedelta(days=n)).isoformat()
             for n, name in enumerate(("nominate_from", "nominate_until", "vote_from", "vote_until"))}
    campaign = j.call("staff", "honours_post_campaigns", 201, body=j.body(
        "CampaignIn", kind="best_head", area_id=j.ids["community"], seats=3, **dates))
    assert campaign.seats.to_dict() == {"1": 3, "2": 3, "3": 3}
    j.ids["campaign"] = campaign.id


def staff_hold_an_event_the_volunteer_registers_for(j: Journey) -> None:
    """`place` left out, as the first contract allowed: the event takes its area's name."""
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    event = j.call("staff", "events_post_events", 201, body=j.body(
        "EventIn", title="义诊", kind="activity", area_id=j.ids["community"],
        starts_at=start.isoformat(), ends_at=(start + timedelta(hours=2)).isoformat(), registration=True,
        capacity=20))
    assert event.place == "银融社区"
    j.ids["event"] = event.id
    j.call("volunteer", "events_post_registrations", 201, event_id=event.id)
    mine = j.call("volunteer", "events_get_my_events", 200)
    assert [(e.event.id, e.state) for e in mine.items] == [(event.id, "registered")]


def a_webhook_arrives_for_each_change(j: Journey) -> None:
    """The job runner sends the outbox; the receiver gets each event once, signed with the endpoint's secret."""
    from domain.jobs import JOBS, job_named, run
    from tests.test_webhooks import verify

    with j.app.app_context():
        run(job_named(JOBS, "webhooks deliver"))
    kinds = []
    for headers, body in j.receiver.requests:
        assert verify(j.secret, headers, body, int(datetime.now(UTC).timestamp()))
        kinds.append(headers["X-Sanzhang-Event"])
    assert kinds == ["need.posted", "need.claimed", "need.resolved", "service.approved", "redemption.created",
                     "redemption.fulfilled"]
    log = j.call("staff", "webhooks_get_webhook_deliveries", 200, endpoint_id=j.ids["webhook"])
    assert log.total == 6 and {d.status for d in log.items} == {"delivered"}


#: What each person reads after the journey, to check the client can parse every kind of answer it produced:
#: (who, operationId, path ids and query ids by their names in `Journey.ids`).
READS = [
    ("volunteer", "auth_get_me", {}, {}),
    ("volunteer", "auth_get_my_ledger", {}, {}),
    ("anonymous", "health_get_health", {}, {}),
    ("staff", "areas_get_area_item", {"area_id": "unit"}, {}),
    ("admin", "areas_get_area_children", {"area_id": "building"}, {}),
    ("volunteer", "service_get_categories", {}, {}),
    ("staff", "service_get_service_record_item", {"record_id": "record"}, {}),
    ("volunteer", "events_get_my_code", {}, {}),
    ("volunteer", "events_get_event_item", {"event_id": "event"}, {}),
    ("staff", "events_get_checkin_code", {"event_id": "event"}, {}),
    ("staff", "events_get_event_attendance", {"event_id": "event"}, {}),
    ("resident", "tasks_get_needs", {}, {}),
    ("staff", "tasks_get_needs", {}, {}),
    ("resident", "tasks_get_task_item", {"task_id": "need"}, {}),
    ("head", "tasks_get_notifications", {}, {}),
    ("resident", "tasks_get_notifications", {}, {}),
    ("volunteer", "market_get_rewards", {}, {}),
    ("volunteer", "market_get_redemptions", {}, {}),
    ("staff", "market_get_redemptions", {}, {"community_id": "community"}),
    ("volunteer", "market_get_redemption_item", {"redemption_id": "redemption"}, {}),
    ("staff", "honours_get_campaigns", {}, {}),
    ("staff", "honours_get_campaign_item", {"campaign_id": "campaign"}, {}),
    ("staff", "honours_get_results", {"campaign_id": "campaign"}, {}),
    ("staff", "honours_get_nominations", {"campaign_id": "campaign"}, {}),
    ("staff", "honours_get_flags", {"campaign_id": "campaign"}, {}),
    ("staff", "honours_get_objections", {"campaign_id": "campaign"}, {}),
    ("staff", "insight_get_leaderboards", {}, {"area_id": "community"}),
    ("staff", "insight_get_dashboard", {"area_id": "community"}, {}),
    ("admin", "insight_get_rollup", {"area_id": "street"}, {}),
    ("volunteer", "insight_get_my_data", {}, {}),
    ("staff", "people_get_person_item", {"person_id": "resident"}, {}),
    ("head", "households_get_household_item", {"household_id": "household"}, {}),
    ("volunteer", "service_get_my_service_records", {}, {}),
    ("volunteer", "events_get_events", {}, {}),
    ("volunteer", "events_get_my_attendance", {}, {}),
    ("volunteer", "teams_get_teams", {}, {}),
]


def everyone_reads_what_the_journey_left(j: Journey) -> None:
    for who, operation, path, query in READS:
        ids = {name: j.ids[key] for name, key in path.items()}
        query = {name: j.ids[value] for name, value in query.items()}
        j.call(who, operation, 200, **ids, **query)


def a_refusal_is_read_as_the_documented_error(j: Journey) -> None:
    """The client reads an error answer as the document's Error, with its code."""
    refusal = j.call("head", "tasks_post_claim", 409, task_id=j.ids["need"])
    assert refusal.error.code == "already_claimed"
    missing = j.call("resident", "tasks_get_task_item", 404, task_id=999_999)
    assert missing.error.code == "not_found"


#: The journey, in order: each step acts through the generated client and leaves what later ones need in `ids`.
STEPS = (
    admin_builds_the_top,
    admin_registers_staff,
    admin_gives_the_city_system_a_key,
    staff_register_a_webhook,
    city_system_syncs_the_roster,
    synced_people_sign_in_with_a_texted_code,
    staff_see_the_synced_people,
    resident_posts_a_need,
    head_claims_and_finishes_it,
    staff_approve_the_need,
    volunteer_records_service,
    staff_approve_the_service,
    volunteer_redeems_a_reward,
    staff_hand_it_over,
    a_webhook_arrives_for_each_change,
    staff_open_a_best_head_campaign_with_one_number_of_seats,
    staff_hold_an_event_the_volunteer_registers_for,
    everyone_reads_what_the_journey_left,
    a_refusal_is_read_as_the_documented_error,
)


def test_a_generated_client_drives_the_whole_journey(app, client_package, served, city_receiver, make_user):
    make_user("管理员", phone="13900000000", roles=[("admin", None)])
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    journey = Journey(client_package, app, *served, spec, city_receiver, phones={"admin": "13900000000"})
    try:
        journey.sign_in("admin")
        for step in STEPS:
            step(journey)
    finally:
        journey.close()  # the server joins its request threads when it stops
