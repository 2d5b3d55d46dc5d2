"""Webhooks out, against a real HTTP receiver started on 127.0.0.1 by the test: every event kind is emitted in the
transaction of its change, deliveries are signed and verify, a failing receiver gets the event after the backoff,
the last attempt fails the delivery, a replay carries the same event id, a rolled-back change sends nothing, another
community's endpoint hears nothing, and two runners never deliver one delivery twice. Time is passed in (`now=`)."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select

from domain import honours, ledger, market, service, tasks, webhooks
from domain.errors import Conflict, Invalid, NotFound
from domain.jobs import JOBS, job_named, run
from domain.ledger import SHANGHAI
from models import AuditEvent, DeliveryStatus, TxnKind, User, WebhookDelivery, WebhookEndpoint, db, utcnow
from tests.conftest import login, run_threads, together, token_for

SETTINGS = webhooks.Settings(timeout=5, max_attempts=3, backoff=60)
SECRET = "s3cret-for-the-tests-0123456789"


class Receiver:
    """An integrator's receiver on 127.0.0.1: records every request (headers, body) and answers the statuses queued
    in `answers`, then 200."""

    def __init__(self, port: int = 0):
        self.requests: list[tuple[dict, bytes]] = []
        self.answers: list[int] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.requests.append((dict(self.headers), body))
                    status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"no" if status >= 300 else b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def events(self) -> list[str]:
        return [headers["X-Sanzhang-Delivery"] for headers, _body in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    found = Receiver()
    yield found
    found.close()


def verify(secret: str, headers: dict, body: bytes, now: int, tolerance: int = 300) -> bool:
    """What a receiver does (docs/api.md, Webhooks): refuse a stale timestamp, then compare the signature."""
    timestamp = int(headers["X-Sanzhang-Timestamp"])
    if abs(now - timestamp) > tolerance:
        return False
    expected = "v1=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["X-Sanzhang-Signature"])


def _endpoint(actor, area, url, events=webhooks.EVENTS, secret=SECRET):
    endpoint, _secret = webhooks.create_endpoint(actor, area, url=url, events=list(events), secret=secret)
    db.session.commit()
    return endpoint


def _deliveries(**where) -> list[WebhookDelivery]:
    query = select(WebhookDelivery).filter_by(**where).order_by(WebhookDelivery.id)
    return list(db.session.scalars(query.execution_options(populate_existing=True)))


def _need(ctx, now):
    return tasks.post_need(ctx.volunteer, ctx.unit, tasks.NeedForm(title="楼道灯坏了", description="三楼的灯不亮",
                                                                   category="elderly_help"), now=now)


def _every_event(ctx, now) -> None:
    """One change of each kind in community A: a need through to approval, two redemptions (one picked up, one
    cancelled), a service record approved, and a campaign announced."""
    task = _need(ctx, now)
    tasks.claim_task(ctx.staff, task, now=now)
    tasks.mark_done(ctx.staff, task, "换了灯泡", now=now)
    tasks.confirm_task(ctx.volunteer, task, resolved=True, now=now)
    tasks.approve_task(ctx.street_staff, task, now=now)

    ledger.credit(ctx.volunteer, ctx.community, 100, kind=TxnKind.service, key="webhooks:test", now=now)
    reward = market.create_reward(ctx.staff, ctx.community, market.RewardForm(name="大米", price=10, stock=5), now=now)
    first = market.redeem(ctx.volunteer, reward, 1, now=now).redemption
    second = market.redeem(ctx.volunteer, reward, 1, now=now).redemption
    market.fulfil(ctx.staff, first, first.pickup_code, now=now)
    market.cancel(ctx.volunteer, second, now=now)

    day = (now - timedelta(days=2)).astimezone(SHANGHAI).replace(hour=9, minute=0, second=0, microsecond=0)
    record = service.submit_records(ctx.volunteer, ctx.community, [ctx.volunteer], service.Occasion(
        started_at=day, ended_at=day + timedelta(hours=2), category="elderly_care", activity="敬老助餐",
        place="社区食堂", content="为独居老人送餐"), now=now)[0]
    service.approve_record(ctx.staff, record, now=now)

    t0 = now - timedelta(days=60)
    campaign = honours.open_campaign(ctx.staff, ctx.community, honours.CampaignForm(
        kind="good_neighbour", title="社区好人", nominate_from=t0, nominate_until=t0 + timedelta(days=7),
        vote_from=t0 + timedelta(days=7), vote_until=t0 + timedelta(days=14)), now=t0 - timedelta(hours=1))
    nomination = honours.nominate(ctx.head, campaign, ctx.volunteer, reason="热心帮助邻居", now=t0 + timedelta(hours=2))
    honours.answer(ctx.volunteer, nomination, consent=True, now=t0 + timedelta(hours=3))
    honours.advance(ctx.staff, campaign, now=t0 + timedelta(days=7))
    honours.cast_vote(ctx.head, nomination, now=t0 + timedelta(days=8))
    honours.advance(ctx.staff, campaign, now=t0 + timedelta(days=14))
    honours.decide(ctx.staff, nomination, shortlist=True, note="群众基础好", now=t0 + timedelta(days=15))
    honours.advance(ctx.staff, campaign, now=t0 + timedelta(days=15))
    honours.advance(ctx.staff, campaign, now=campaign.notice_until)
    db.session.commit()


# --- emitting ---------------------------------------------------------------------------------------------------

def test_every_event_kind_is_emitted_signed_and_delivered(dbs, ctx, receiver):
    endpoint = _endpoint(ctx.staff, ctx.community, receiver.url)
    now = utcnow()
    _every_event(ctx, now)
    kinds = [d.kind for d in _deliveries(endpoint_id=endpoint.id)]
    assert set(kinds) == set(webhooks.EVENTS)
    assert kinds.count("redemption.created") == 2

    done = run(job_named(JOBS, "webhooks deliver"))
    assert done.ok and done.made == len(kinds)
    assert {d.status for d in _deliveries()} == {DeliveryStatus.delivered}
    assert sorted(h["X-Sanzhang-Event"] for h, _b in receiver.requests) == sorted(kinds)
    phones = [p.phone for p in db.session.scalars(select(User))]
    for headers, body in receiver.requests:
        assert verify(endpoint.secret, headers, body, int(utcnow().timestamp()))
        assert not verify("another secret", headers, body, int(utcnow().timestamp()))
        assert not verify(endpoint.secret, headers, body + b" ", int(utcnow().timestamp()))
        assert not verify(endpoint.secret, headers, body, int(utcnow().timestamp()) + 3600), "a stale timestamp"
        sent = json.loads(body)
        assert sent["id"] == headers["X-Sanzhang-Delivery"] and sent["type"] == headers["X-Sanzhang-Event"]
        assert sent["community_id"] == ctx.community.id
        assert not any(phone in body.decode() for phone in phones), "payloads never carry phone numbers"
    resolved = next(json.loads(b) for h, b in receiver.requests if h["X-Sanzhang-Event"] == "need.resolved")
    assert resolved["data"]["points"] > 0 and resolved["data"]["claimant_id"] == ctx.staff.id
    announced = next(json.loads(b) for h, b in receiver.requests if h["X-Sanzhang-Event"] == "honours.announced")
    assert [h["person_id"] for h in announced["data"]["honours"]] == [ctx.volunteer.id]


def test_a_rolled_back_change_emits_nothing(dbs, ctx, receiver):
    _endpoint(ctx.staff, ctx.community, receiver.url)
    _need(ctx, utcnow())
    db.session.rollback()
    assert _deliveries() == []
    _need(ctx, utcnow())
    db.session.commit()
    assert [d.kind for d in _deliveries()] == ["need.posted"]


def test_only_endpoints_over_the_community_and_subscribed_receive(dbs, ctx, receiver):
    mine = _endpoint(ctx.staff, ctx.community, receiver.url, events=["need.posted"])
    street = _endpoint(ctx.street_staff, ctx.street_staff.grants[0].area, receiver.url)
    other = _endpoint(ctx.staff_b, ctx.community_b, receiver.url)
    claims_only = _endpoint(ctx.staff, ctx.community, receiver.url, events=["need.claimed"])
    off = _endpoint(ctx.staff, ctx.community, receiver.url)
    webhooks.disable_endpoint(ctx.staff, off)
    db.session.commit()
    _need(ctx, utcnow())
    db.session.commit()
    assert [d.endpoint_id for d in _deliveries()] == [mine.id, street.id]
    assert _deliveries(endpoint_id=other.id) == [] and _deliveries(endpoint_id=claims_only.id) == []


# --- delivering -------------------------------------------------------------------------------------------------

def test_a_failing_receiver_gets_the_event_after_the_backoff(dbs, ctx, receiver):
    _endpoint(ctx.staff, ctx.community, receiver.url)
    t0 = utcnow()
    _need(ctx, t0)
    db.session.commit()
    [delivery] = _deliveries()
    receiver.answers = [500, 503]
    assert webhooks.deliver(delivery.id, now=t0, settings=SETTINGS) is False
    [delivery] = _deliveries()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.pending, 1, 500)
    assert delivery.next_attempt_at == t0 + timedelta(seconds=60) and "HTTP 500" in delivery.last_error
    assert webhooks.due(now=t0 + timedelta(seconds=59)) == []
    assert webhooks.deliver(delivery.id, now=t0 + timedelta(seconds=59), settings=SETTINGS) is None, "not due yet"
    assert webhooks.deliver(delivery.id, now=t0 + timedelta(seconds=60), settings=SETTINGS) is False
    [delivery] = _deliveries()
    assert delivery.next_attempt_at == t0 + timedelta(seconds=60 + 120), "the wait doubles"
    assert webhooks.deliver(delivery.id, now=t0 + timedelta(seconds=180), settings=SETTINGS) is True
    [delivery] = _deliveries()
    assert (delivery.status, delivery.attempts, delivery.last_status_code, delivery.last_error) == \
        (DeliveryStatus.delivered, 3, 200, None)
    assert delivery.delivered_at == t0 + timedelta(seconds=180)
    assert receiver.events() == [delivery.event_id] * 3, "every retry carries the same event id"
    assert webhooks.deliver(delivery.id, now=t0 + timedelta(days=1), settings=SETTINGS) is None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_receiver_that_refused_connections_gets_the_event_once_it_is_up(dbs, ctx):
    port = _free_port()
    _endpoint(ctx.staff, ctx.community, f"http://127.0.0.1:{port}/hooks")
    t0 = utcnow()
    _need(ctx, t0)
    db.session.commit()
    [delivery] = _deliveries()
    assert webhooks.deliver(delivery.id, now=t0, settings=SETTINGS) is False
    [delivery] = _deliveries()
    assert delivery.last_status_code is None and "ConnectionError" in delivery.last_error
    late = Receiver(port)
    try:
        assert webhooks.deliver(delivery.id, now=t0 + timedelta(minutes=1), settings=SETTINGS) is True
        assert late.events() == [delivery.event_id]
    finally:
        late.close()


def test_the_last_failed_attempt_fails_the_delivery_and_the_job_goes_on(dbs, ctx, receiver):
    _endpoint(ctx.staff, ctx.community, receiver.url)
    t0 = utcnow()
    _need(ctx, t0)
    _need(ctx, t0)
    db.session.commit()
    first, second = _deliveries()
    receiver.answers = [500] * 3
    when = t0
    for _attempt in range(3):
        assert webhooks.deliver(first.id, now=when, settings=SETTINGS) is False
        when = _deliveries()[0].next_attempt_at or when
    first, second = _deliveries()
    assert (first.status, first.attempts, first.next_attempt_at) == (DeliveryStatus.failed, 3, None)
    assert webhooks.due(now=t0 + timedelta(days=1)) == [second.id]
    done = run(job_named(JOBS, "webhooks deliver"), now=t0 + timedelta(days=1))
    assert done.ok and (done.done, done.made) == (1, 1)
    assert [d.status for d in _deliveries()] == [DeliveryStatus.failed, DeliveryStatus.delivered]


def test_a_replay_sends_the_same_event_again_and_is_audited(dbs, ctx, receiver):
    _endpoint(ctx.staff, ctx.community, receiver.url)
    _need(ctx, utcnow())
    db.session.commit()
    [delivery] = _deliveries()
    with pytest.raises(Conflict) as pending:
        webhooks.replay(ctx.staff, delivery)
    assert pending.value.code == "delivery_pending"
    with pytest.raises(NotFound):
        webhooks.replay(ctx.staff_b, delivery)
    assert webhooks.deliver(delivery.id, settings=SETTINGS) is True
    again = webhooks.replay(ctx.staff, _deliveries()[0])
    db.session.commit()
    assert (again.event_id, again.replay_of_id, again.status) == (delivery.event_id, delivery.id,
                                                                   DeliveryStatus.pending)
    assert webhooks.deliver(again.id, settings=SETTINGS) is True
    assert receiver.events() == [delivery.event_id] * 2
    assert receiver.requests[0][1] == receiver.requests[1][1], "the same body"
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "webhook.replay", AuditEvent.object_id == again.id)) == 1


def test_disabling_an_endpoint_fails_what_waited_for_it(dbs, ctx, receiver):
    endpoint = _endpoint(ctx.staff, ctx.community, receiver.url)
    _need(ctx, utcnow())
    db.session.commit()
    webhooks.disable_endpoint(ctx.staff, endpoint)
    db.session.commit()
    [delivery] = _deliveries()
    assert (delivery.status, delivery.last_error) == (DeliveryStatus.failed, "endpoint disabled")
    with pytest.raises(Conflict):
        webhooks.disable_endpoint(ctx.staff, endpoint)
    with pytest.raises(Conflict) as refused:
        webhooks.replay(ctx.staff, delivery)
    assert refused.value.code == "endpoint_disabled"
    assert receiver.requests == []


@pytest.mark.parametrize("url", ["ftp://example.com/x", "javascript:alert(1)", "http://", "example.com/hook",
                                 "file:///etc/passwd", "http://exa mple.com/", "https://x.cn/" + "a" * 2000])
def test_only_http_addresses_are_accepted(dbs, ctx, url):
    with pytest.raises(Invalid) as refused:
        webhooks.create_endpoint(ctx.staff, ctx.community, url=url, events=["need.posted"])
    assert refused.value.code == "url_invalid"


def test_an_endpoint_needs_known_events_and_a_fair_secret(dbs, ctx):
    for events, secret, code in (([], None, "events_invalid"), (["need.posted", "nope"], None, "events_invalid"),
                                 (["need.posted"], "short", "secret_invalid")):
        with pytest.raises(Invalid) as refused:
            webhooks.create_endpoint(ctx.staff, ctx.community, url="https://x.cn/h", events=events, secret=secret)
        assert refused.value.code == code
    with pytest.raises(NotFound):
        webhooks.create_endpoint(ctx.staff_b, ctx.community, url="https://x.cn/h", events=["need.posted"])
    _endpoint_made, secret = webhooks.create_endpoint(ctx.staff, ctx.community, url="https://x.cn/h",
                                                      events=["need.posted"])
    assert len(secret) == 64


def test_two_runners_never_deliver_one_delivery_twice(app, threaded_app, tree, receiver):
    with app.app_context():
        staff, unit = db.session.merge(tree.staff_a), db.session.merge(tree.a.unit)
        volunteer = db.session.merge(tree.volunteer_a)
        _endpoint(staff, db.session.merge(tree.a.community), receiver.url)
        for n in range(20):
            tasks.post_need(volunteer, unit, tasks.NeedForm(title=f"需求{n}", description="x", category="other"))
        db.session.commit()
        events = {d.event_id for d in _deliveries()}
    barrier = together(4)

    def runner(_i: int) -> int:
        with threaded_app.app_context():
            try:
                ids = webhooks.due()
                db.session.rollback()
                barrier.wait()
                return sum(bool(webhooks.deliver(i, settings=SETTINGS)) for i in ids)
            finally:
                db.session.remove()

    results = run_threads(runner, 4)
    assert sum(results) == 20, results
    assert sorted(receiver.events()) == sorted(events), "each event once"
    with app.app_context():
        assert {(d.status, d.attempts) for d in _deliveries()} == {(DeliveryStatus.delivered, 1)}


# --- the pages --------------------------------------------------------------------------------------------------

def test_staff_add_an_endpoint_see_its_log_and_replay(app, client, tree, receiver):
    login(client, tree.staff_a)
    area = tree.a.community.id
    answer = client.post(f"/areas/{area}/webhooks/new", data={"url": receiver.url, "events": ["need.posted"]})
    assert answer.status_code == 200 and "data-testid=\"webhook-secret\"" in answer.text
    with app.app_context():
        endpoint = db.session.scalar(select(WebhookEndpoint))
        assert endpoint.secret in answer.text
        tasks.post_need(db.session.merge(tree.volunteer_a), db.session.merge(tree.a.unit),
                        tasks.NeedForm(title="漏水", description="厨房漏水", category="plumbing"))
        db.session.commit()
        [delivery] = _deliveries()
        assert webhooks.deliver(delivery.id, settings=SETTINGS) is True
    listing = client.get(f"/areas/{area}/webhooks")
    assert receiver.url in listing.text and endpoint.secret not in listing.text, "the secret is shown once"
    log = client.get(f"/webhooks/{endpoint.id}/deliveries")
    assert log.status_code == 200 and delivery.event_id in log.text and "漏水" in log.text
    assert client.post(f"/webhooks/deliveries/{delivery.id}/replay").status_code == 302
    assert client.get(f"/webhooks/{endpoint.id}/deliveries?status=pending").text.count('data-status="pending"') == 1
    assert client.post(f"/webhooks/{endpoint.id}/disable").status_code == 302
    with app.app_context():
        assert db.session.get(WebhookEndpoint, endpoint.id).active is False


def test_another_communitys_staff_find_no_webhook_page(app, client, tree, receiver):
    with app.app_context():
        endpoint = _endpoint(db.session.merge(tree.staff_a), db.session.merge(tree.a.community), receiver.url)
    login(client, tree.staff_b)
    for url in (f"/areas/{tree.a.community.id}/webhooks", f"/webhooks/{endpoint.id}/deliveries"):
        assert client.get(url).status_code == 404
    assert client.post(f"/webhooks/{endpoint.id}/disable").status_code == 404


def test_the_api_reads_an_endpoints_delivery_log(app, client, tree, receiver):
    with app.app_context():
        endpoint = _endpoint(db.session.merge(tree.staff_a), db.session.merge(tree.a.community), receiver.url)
        for title in ("漏水", "灯坏了"):
            tasks.post_need(db.session.merge(tree.volunteer_a), db.session.merge(tree.a.unit),
                            tasks.NeedForm(title=title, description="x", category="plumbing"))
        db.session.commit()
        first = _deliveries()[0]
        assert webhooks.deliver(first.id, settings=SETTINGS) is True
    url = f"/api/v1/webhooks/{endpoint.id}/deliveries"
    answer = client.get(url, headers=token_for(client, tree.staff_a))
    assert answer.status_code == 200
    assert (answer.json["total"], answer.json["page"]) == (2, 1)
    newest, oldest = answer.json["items"]
    assert (oldest["id"], oldest["status"], oldest["last_status_code"]) == (first.id, "delivered", 200)
    assert newest["payload"]["data"]["title"] == "灯坏了" and newest["event_id"] == newest["payload"]["id"]
    pending = client.get(f"{url}?status=pending", headers=token_for(client, tree.staff_a)).json
    assert [d["status"] for d in pending["items"]] == ["pending"]
    assert client.get(url, headers=token_for(client, tree.staff_b)).status_code == 404
    assert client.get(url).status_code == 401


def test_one_bad_delivery_never_stops_the_job(dbs, ctx, receiver):
    _endpoint(ctx.staff, ctx.community, receiver.url)
    _endpoint(ctx.staff, ctx.community, f"http://127.0.0.1:{_free_port()}/gone")
    _need(ctx, utcnow())
    _need(ctx, utcnow())
    db.session.commit()
    receiver.answers = [500]
    done = run(job_named(JOBS, "webhooks deliver"))
    assert done.ok and (done.total, done.done, done.made) == (4, 4, 1)
    assert sorted(d.status for d in _deliveries()) == [DeliveryStatus.delivered] + [DeliveryStatus.pending] * 3
    assert len(receiver.requests) == 2
