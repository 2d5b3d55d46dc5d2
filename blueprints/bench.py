"""Bench-only endpoints (bench/run.py): the framework's ceiling and the database's limit, side by side.

Registered only when BENCH_ENDPOINTS is set (create_app), never in production. They are baselines, not
features: `/bench/hello` touches no database; `/bench/raw/checkin` and `/bench/raw/redemption` do the same
work as POST /api/v1/checkins and POST /api/v1/redemptions — bearer token, signed code, scope, the same rows
written by the same guarded statements — in hand-written SQL on one pooled DBAPI connection (models/raw.py),
with no ORM, no schema and no domain layer, so the ratio of the two paths is the cost of everything we put on top.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from datetime import UTC, datetime, timedelta

from flask import Blueprint, current_app, jsonify, request
from itsdangerous import BadSignature, URLSafeSerializer

from blueprints.ext import csrf
from domain.events import STEP
from domain.ledger import SHANGHAI, month_of
from domain.market import ALPHABET, CODE_LENGTH, periods
from domain.rules import DEFAULTS
from models.raw import Raw

bp = Blueprint("bench", __name__, url_prefix="/bench")
csrf.exempt(bp)


@bp.get("/hello")
def hello():
    """The worker's pid: the runner waits until every worker has answered before it measures."""
    return str(os.getpid())


def _refused(raw: Raw, code: str, status: int = 422):
    raw.close(commit=False)
    return jsonify({"error": {"code": code, "message": code}}), status


def _caller(raw: Raw, now: datetime) -> tuple[int, list[str]] | None:
    """The bearer token's active user and the paths of the areas they belong to (household unit, role areas)."""
    clear = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    row = raw.one('SELECT t.user_id, u.household_id FROM api_token t JOIN "user" u ON u.id = t.user_id '
                  "WHERE t.token_hash = %s AND t.revoked_at IS NULL AND t.expires_at > %s AND u.active",
                  hashlib.sha256(clear.encode()).hexdigest(), raw.value(now))
    if row is None:
        return None
    paths = raw.all("SELECT a.path FROM household h JOIN area a ON a.id = h.unit_id WHERE h.id = %s "
                    "UNION ALL SELECT a.path FROM role_grant g JOIN area a ON a.id = g.area_id WHERE g.user_id = %s",
                    row[1], row[0])
    return row[0], [p for (p,) in paths]


@bp.post("/raw/checkin")
def raw_checkin():
    """POST /api/v1/checkins in SQL: token, event code signature and step, window, scope, one attendance."""
    with Raw() as raw:
        return _checkin(raw)


def _checkin(raw: Raw):
    now = datetime.now(UTC)
    token = (request.get_json(silent=True) or {}).get("token", "")
    caller = _caller(raw, now)
    if caller is None:
        return _refused(raw, "invalid_token", 401)
    person, paths = caller
    _valid, payload = URLSafeSerializer(current_app.secret_key).loads_unsafe(token)
    if not isinstance(payload, list) or len(payload) != 3 or not isinstance(payload[1], int):
        return _refused(raw, "token_invalid")
    event = raw.one("SELECT e.secret, e.starts_at, e.ends_at, e.opens_minutes, e.closes_minutes, e.cancelled_at, "
                    "e.closed_at, e.registration, c.path FROM event e JOIN area c ON c.id = e.community_id "
                    "WHERE e.id = %s", payload[1])
    if event is None:
        return _refused(raw, "token_invalid")
    secret, starts, ends, opens, closes, cancelled, closed, registration, community_path = event
    serializer = URLSafeSerializer(current_app.secret_key, salt=f"event-code:{secret}")
    try:
        if serializer.dumps(serializer.loads(token)) != token:
            raise BadSignature("spelling")
    except BadSignature:
        return _refused(raw, "token_invalid")
    if abs(payload[2] - int(now.timestamp()) // STEP) > 1:
        return _refused(raw, "token_expired")
    if cancelled or closed or not (raw.moment(starts) - timedelta(minutes=opens) <= now
                                   <= raw.moment(ends) + timedelta(minutes=closes)):
        return _refused(raw, "outside_checkin_window")
    if registration or not any(p.startswith(community_path) for p in paths):
        return _refused(raw, "not_in_scope", 403)
    raw.write()
    inserted = raw.one("INSERT INTO attendance (event_id, person_id, checked_in_at, checked_in_method) "
                       "VALUES (%s, %s, %s, 'event_code') ON CONFLICT (event_id, person_id) DO NOTHING RETURNING id",
                       payload[1], person, raw.value(now))
    if inserted is not None and raw.run("UPDATE event SET attendees = attendees + 1 WHERE id = %s AND "
                                        "(capacity IS NULL OR attendees < capacity)", payload[1]) != 1:
        return _refused(raw, "event_full")
    raw.close(commit=True)
    return jsonify({"status": "checked_in" if inserted else "already_checked_in", "person_id": person,
                    "checked_in_at": now.isoformat()}), 201 if inserted else 200


@bp.post("/raw/redemption")
def raw_redemption():
    """POST /api/v1/redemptions in SQL: the rule and accounts read first, then in a savepoint the key claimed, the
    counters (the limited one guarded), the redemption, the debit with its entries, balances, lots and monthly total,
    the stock last — the statements the domain sends, in its order, written by hand."""
    with Raw() as raw:
        return _redemption(raw)


def _redemption(raw: Raw):
    now = datetime.now(UTC)
    body = request.get_json(silent=True) or {}
    reward_id, quantity = int(body.get("reward_id", 0)), int(body.get("quantity", 1))
    key = request.headers.get("Idempotency-Key")
    caller = _caller(raw, now)
    if caller is None:
        return _refused(raw, "invalid_token", 401)
    person, paths = caller
    reward = raw.one("SELECT r.community_id, r.price, r.sponsor, r.active, r.stock, r.per_person_limit, "
                     "r.limit_period, c.path FROM reward r JOIN area c ON c.id = r.community_id WHERE r.id = %s",
                     reward_id)
    if reward is None or not any(p.startswith(reward[7]) for p in paths):
        return _refused(raw, "not_found", 404)
    community, price, sponsor, active, stock, limit, limit_period, _path = reward
    if not active:
        return _refused(raw, "reward_not_available")
    if stock is not None and stock < quantity:
        return _refused(raw, "out_of_stock")
    at = raw.value(now)
    rule = raw.one("SELECT value FROM points_rule WHERE community_id = %s AND \"key\" = 'market.pickup_days' AND "
                   "effective_from <= %s ORDER BY effective_from DESC, id DESC LIMIT 1", community, at)
    pickup_days = max(1, rule[0] if rule else DEFAULTS["market.pickup_days"][0])
    accounts = dict(raw.all("SELECT kind, id FROM ledger_account WHERE community_id = %s AND "
                            "(owner_id = %s OR (owner_id IS NULL AND kind = 'spent'))", community, person))
    if "person" not in accounts:
        return _refused(raw, "insufficient_points")
    raw.write()
    raw.run("SAVEPOINT redemption")  # as market.redeem's savepoint
    points = price * quantity
    if key is not None and raw.one(
            "INSERT INTO idempotency_key (user_id, scope, key, fingerprint, created_at) VALUES (%s, 'redemption', "
            "%s, %s, %s) ON CONFLICT (user_id, scope, key) DO NOTHING RETURNING id",
            person, key, hashlib.sha256(f"{reward_id}:{quantity}".encode()).hexdigest(), at) is None:
        return _refused(raw, "idempotency_key_reused")
    keys = periods(now)
    this_month, this_quarter, this_year = keys.values()
    if len(raw.all("INSERT INTO redemption_counter (person_id, reward_id, period, quantity) VALUES (%s, %s, %s, %s), "
                   "(%s, %s, %s, %s), (%s, %s, %s, %s) ON CONFLICT (person_id, reward_id, period) "
                   "DO UPDATE SET quantity = redemption_counter.quantity + excluded.quantity "
                   "WHERE redemption_counter.period <> %s OR redemption_counter.quantity + excluded.quantity <= %s "
                   "RETURNING id", person, reward_id, this_month, quantity, person, reward_id, this_quarter, quantity,
                   person, reward_id, this_year, quantity, keys[limit_period] if limit is not None else "",
                   limit)) != len(keys):
        return _refused(raw, "limit_reached")
    code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    (redemption,) = raw.one(
        "INSERT INTO redemption (reward_id, community_id, person_id, quantity, points, sponsor, status, pickup_code, "
        "reserved_at, expires_at) VALUES (%s, %s, %s, %s, %s, %s, 'reserved', %s, %s, %s) RETURNING id",
        reward_id, community, person, quantity, points, sponsor, code, at, raw.value(now + timedelta(days=pickup_days)))
    (txn,) = raw.one("INSERT INTO ledger_transaction (community_id, kind, idempotency_key, source_type, source_id, "
                     "created_at) VALUES (%s, 'redemption', %s, 'redemption', %s, %s) RETURNING id",
                     community, f"redemption:{redemption}", redemption, at)
    month = month_of(now)
    # The community's spent account first, then the person's side with its lots and monthly total, as the ledger
    # orders them (ledger._lock_order).
    (balance,) = raw.one("UPDATE ledger_account SET balance = balance + %s WHERE id = %s RETURNING balance", points,
                         accounts["spent"])
    raw.run("INSERT INTO ledger_entry (transaction_id, account_id, amount, balance_after, month) "
            "VALUES (%s, %s, %s, %s, %s)", txn, accounts["spent"], points, balance, month)
    balance = raw.one("UPDATE ledger_account SET balance = balance - %s WHERE id = %s AND balance >= %s "
                      "RETURNING balance", points, accounts["person"], points)
    if balance is None:
        return _refused(raw, "insufficient_points")
    (entry,) = raw.one("INSERT INTO ledger_entry (transaction_id, account_id, amount, balance_after, month) "
                       "VALUES (%s, %s, %s, %s, %s) RETURNING id", txn, accounts["person"], -points, balance[0], month)
    need = points
    for lot, remaining in raw.all("SELECT id, remaining FROM point_lot WHERE account_id = %s AND remaining > 0 "
                                  "ORDER BY expires_at IS NULL, expires_at, id", accounts["person"]):
        take = min(need, remaining)
        raw.run("UPDATE point_lot SET remaining = remaining - %s WHERE id = %s", take, lot)
        raw.run("INSERT INTO point_lot_use (entry_id, lot_id, amount) VALUES (%s, %s, %s)", entry, lot, take)
        need -= take
        if need == 0:
            break
    raw.run("INSERT INTO monthly_total (account_id, person_id, community_id, month, earned, spent, expired, net) "
            "VALUES (%s, %s, %s, %s, 0, %s, 0, %s) ON CONFLICT (account_id, month) DO UPDATE SET "
            "spent = monthly_total.spent + excluded.spent, net = monthly_total.net + excluded.net",
            accounts["person"], person, community, month, points, -points)
    raw.run("UPDATE redemption SET transaction_id = %s WHERE id = %s", txn, redemption)
    if key is not None:
        raw.run("UPDATE idempotency_key SET redemption_id = %s WHERE user_id = %s AND scope = 'redemption' "
                "AND key = %s", redemption, person, key)
    if raw.run("UPDATE reward SET stock = stock - %s WHERE id = %s AND stock >= %s", quantity, reward_id,
               quantity) != 1:
        return _refused(raw, "out_of_stock")
    raw.run("RELEASE SAVEPOINT redemption")
    raw.close(commit=True)
    return jsonify({"id": redemption, "points": points, "pickup_code": code, "status": "reserved",
                    "reserved_at": now.astimezone(SHANGHAI).isoformat()}), 201
