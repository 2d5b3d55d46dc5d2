"""The JSON API fuzzed from its own OpenAPI description with Schemathesis: every operation, signed in as staff and as
a resident, with a fixed seed and a bounded number of examples (FUZZ_EXAMPLES; `make fuzz` runs a longer one).

Checks: no server error, every answer in the status codes and the schema the description gives, and no operation
accepting what its schema refuses. Runs on every database of the suite: PostgreSQL refuses what SQLite stores (a NUL
in text, a number beyond its column), so its findings differ. Generated strings include NUL and the other control
characters (allow_x00, any UTF-8 text).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import BACKENDS, make_app, token_for

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
SEED = int(os.environ.get("FUZZ_SEED", "20261201"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]


def _iso(moment: datetime) -> str:
    return moment.isoformat()


@pytest.fixture
def world(app, tree):
    """The tree of conftest plus, made through the API itself, an event running now, a need, a reward, a campaign
    taking nominations and a service record: objects for the fuzzer's ids to find."""
    client = app.test_client()
    staff, head, volunteer = (token_for(client, user) for user in (tree.staff_a, tree.head_a, tree.volunteer_a))
    now = datetime.now(UTC)
    made = [
        client.post("/api/v1/events", headers=staff, json={
            "title": "健康讲座", "kind": "training", "area_id": tree.a.community.id, "place": "活动室",
            "starts_at": _iso(now - timedelta(minutes=5)), "ends_at": _iso(now + timedelta(hours=2))}),
        client.post("/api/v1/needs", headers=head, json={
            "area_id": tree.a.unit.id, "title": "楼道灯坏了", "description": "三楼的灯不亮", "category": "repairs"}),
        client.post("/api/v1/rewards", headers=staff, json={"name": "大米", "price": 10, "stock": 5}),
        client.post("/api/v1/campaigns", headers=staff, json={
            "kind": "good_neighbour", "area_id": tree.a.community.id,
            "nominate_from": _iso(now - timedelta(hours=1)), "nominate_until": _iso(now + timedelta(days=7)),
            "vote_from": _iso(now + timedelta(days=7)), "vote_until": _iso(now + timedelta(days=14))}),
        client.post("/api/v1/service-records", headers=volunteer, json={
            "started_at": _iso(now - timedelta(hours=3)), "ended_at": _iso(now - timedelta(hours=1)),
            "category": "elderly_care", "content": "送午餐", "place": "1号楼"}),
    ]
    for response in made:
        assert response.status_code == 201, response.text
    return {"staff": staff, "resident": head, "tree": tree}


@pytest.fixture
def figures(record_property):
    """What one operation's run did, summed up at the end of `make test` by conftest's terminal summary."""
    counts = {"cases": 0, "accepted": 0, "examples": EXAMPLES, "seed": SEED}
    yield counts
    record_property("fuzz", counts)


def _description() -> dict:
    """The API's own description, from an app that needs no database to give it."""
    return make_app("sqlite://").test_client().get("/api/v1/openapi.json").json


schema = schemathesis.openapi.from_dict(_description())
schema.config.seed = SEED
schema.config.generation.update(max_examples=EXAMPLES, database="none", with_security_parameters=False,
                                allow_x00=True, codec="utf-8")
pytestmark = pytest.mark.parametrize("backend_url", BACKENDS, indirect=True)


@schema.parametrize()
@settings(deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.filter_too_much,
    HealthCheck.function_scoped_fixture,  # on purpose: one world per operation, changed by its cases
])
def test_api_holds_against_generated_requests(case, app, world, figures):
    label = case.operation.label
    figures["cases"] += 1
    if label == "DELETE /api/v1/auth/token":  # revokes the token in use: a throwaway one
        headers = token_for(app.test_client(), world["tree"].staff_a)
    else:
        headers = world["staff"] if figures["cases"] % 2 else world["resident"]
    response = case.call_and_validate(headers=headers, checks=CHECKS, app=app)
    figures["accepted"] += response.status_code < 300
