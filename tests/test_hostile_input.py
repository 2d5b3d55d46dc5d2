"""Hostile input at every door: each value below sent into every field of every API operation (its fields read from
the OpenAPI document) and of every page form (its fields from the rule's body and the form's own page), signed in
as someone who may use it, on each database. Also a NUL in every path and query, and JSON nested 1,000 deep.

Judged: no answer is a 500 (the exceptions, if any, are listed); the API refuses (4xx) every text value no field may
hold; and afterwards nothing stored anywhere holds a control character, a bidi override, a name that shows nothing
or a date outside 1900 – now + 3 years (what was refused was not written either, whatever the answer's code).

The world and who may use what come from the authorisation sweep (tests/test_authz_sweep.py): its RULES give each
route's valid body and URL arguments; this test breaks one field of that body at a time.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from sqlalchemy import Date, DateTime, String, Text, select

from blueprints.bounds import BIDI, CONTROL, MAX_TEXT, is_visible
from models import db
from tests.conftest import UPLOADS, _wipe, login, token_for
from tests.test_authz_sweep import build_world, methods_of, rules_for, swept_rules, url_of

#: name → (as JSON, as a form sends it). Text no field may hold, numbers that are no integer or out of any range,
#: dates no meaning allows, and a text far over any length.
HOSTILE = {
    "nul": ("A\x00B", "A\x00B"),
    "control": ("A\x07\x1bB", "A\x07\x1bB"),
    "lone_surrogate": ("\ud800", "\ud800"),
    "bidi_override": ("A\u202eB", "A\u202eB"),
    "zero_width_only": ("\u200b", "\u200b"),
    "fraction": (1.7, "1.7"),
    "huge": (10**30, str(10**30)),
    "negative": (-(2**63), str(-(2**63))),
    "date_0001": ("0001-01-01", "0001-01-01"),
    "date_9999": ("9999-12-31", "9999-12-31"),
    "moment_0001": ("0001-01-01T00:00:00+08:00", "0001-01-01T00:00"),
    "moment_9999": ("9999-12-31T23:59:59-08:00", "9999-12-31T23:59"),
    "over_long": ("长" * (MAX_TEXT + 1), "长" * (MAX_TEXT + 1)),  # over every field's length, and the default one
}
#: What no field of the API may take at all. (A lone surrogate in a URL arrives as U+FFFD, a harmless search.)
REFUSED_TEXT = ("nul", "control", "lone_surrogate", "bidi_override")
REFUSED_IN_QUERY = ("nul", "control", "bidi_override")
DEEP_JSON = "[" * 1000 + "]" * 1000
#: Routes that end the signed-in sessions the sweep uses: sent last, or not at all.
SESSION_ENDERS = {"auth.logout", "auth.sign_out_everywhere"}
LAST = {"people.set_active", "people.set_password", "privacy.anonymise", "api_auth.Token"}
#: Who is tried first for a route: the most powerful in community A, then the others.
PREFERENCE = ("staff_a", "admin", "street_staff", "grid_head", "building_head", "unit_head", "volunteer", "resident",
              "staff_b", "anonymous")
INPUT_NAMES = re.compile(r"<(?:input|select|textarea)\b[^>]*?\bname=\"([^\"]+)\"")


@dataclass
class Tally:
    sent: int = 0
    #: (API or page, method, route) of every operation tried
    operations: set = field(default_factory=set)
    by_value: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)
    accepted_text: list = field(default_factory=list)

    def note(self, where: str, value: str, status: int | None, api: bool, error: str | None = None) -> None:
        self.sent += 1
        self.by_value[value] = self.by_value.get(value, 0) + 1
        refused = REFUSED_IN_QUERY if " ?" in where else REFUSED_TEXT
        if status is None or status >= 500:
            self.errors.append(f"{where} [{value}]: {status or error}")
        elif api and value in refused and status < 300:
            self.accepted_text.append(f"{where} [{value}]: {status}")


def _form_bytes(data: dict) -> bytes:
    """A form body as a browser sends it; a lone surrogate goes as the bytes it would be (a browser can't send it,
    a script can)."""
    return urlencode({k: v.encode("utf-8", "surrogatepass") if isinstance(v, str) else v
                      for k, v in data.items()}).encode()


def _role_for(rule, method: str) -> str:
    allowed = rule.policy(method)["a"]
    return next((r for r in PREFERENCE if r in allowed), "staff_a")


def _schema_fields(spec: dict, operation: dict) -> tuple[list[str], list[str]]:
    """(body fields, query parameters) of an OpenAPI operation."""
    query = [p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"]
    content = operation.get("requestBody", {}).get("content", {})
    schema = (content.get("application/json") or {}).get("schema", {})
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return list(schema.get("properties", {})), query


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^>]*:)?(\w+)>", r"{\1}", rule)


def _variants(body: dict, names: list[str]):
    """(field label, body with that field broken) for each field and value; one level into lists of objects."""
    for name in names:
        for value, (as_json, _form) in HOSTILE.items():
            yield name, value, {**body, name: as_json}
        inner = body.get(name)
        if isinstance(inner, list) and inner and isinstance(inner[0], dict):
            for key in inner[0]:
                for value, (as_json, _form) in HOSTILE.items():
                    yield f"{name}[].{key}", value, {**body, name: [{**inner[0], key: as_json}]}


@pytest.fixture(scope="module")
def world(session_app, tmp_path_factory):
    session_app.config["UPLOAD_FOLDER"] = str(tmp_path_factory.mktemp("uploads"))
    session_app.config["PROPAGATE_EXCEPTIONS"] = False  # a 500 is answered (and counted) as a resident sees it
    with session_app.app_context():
        built = build_world()
        db.session.remove()
    yield built
    session_app.config["PROPAGATE_EXCEPTIONS"] = None
    with session_app.app_context():
        db.session.rollback()
        _wipe()
        db.session.remove()
    session_app.config["UPLOAD_FOLDER"] = UPLOADS


def _clients(app, world):
    clients, tokens = {"anonymous": app.test_client()}, {}
    api = app.test_client()
    for role, (user_id, phone) in world["people"].items():
        person = SimpleNamespace(id=user_id, phone=phone)
        clients[role] = app.test_client()
        login(clients[role], person)
        tokens[role] = token_for(api, person)
    return clients, tokens


def _order(url_rule) -> tuple:
    return (url_rule.endpoint in LAST, url_rule.endpoint, url_rule.rule)


def _send(tally: Tally, client, where: str, value: str, api: bool, **request) -> None:
    try:
        response = client.open(**request)
        response.get_data()
        tally.note(where, value, response.status_code, api)
        response.close()
    except Exception as error:  # noqa: BLE001 - counted as the 500 it would be, and listed
        tally.note(where, value, None, api, f"raised {type(error).__name__}: {str(error)[:200]}")


def _page_fields(client, url: str, methods: list[str]) -> list[str]:
    """The form's fields as its own page shows them (GET of the same URL), if it has one."""
    if "GET" not in methods:
        return []
    response = client.get(url)
    if response.status_code != 200 or not response.mimetype == "text/html":
        return []
    return sorted(set(INPUT_NAMES.findall(response.text)) - {"csrf_token"})


#: Columns that hold a name or a title: never invisible.
NAMES = {"name", "title", "real_name", "resident_name"}


def _stored_hostile() -> list[str]:
    """Text holding a control character or a bidi override, names that show nothing, and dates outside 1900 – now
    + 3 years, anywhere."""
    found = []
    latest = datetime.now(UTC) + timedelta(days=3 * 365)
    for table in db.metadata.sorted_tables:
        texts = [c for c in table.columns if isinstance(c.type, String | Text)]
        moments = [c for c in table.columns if isinstance(c.type, Date | DateTime)]
        if not texts and not moments:
            continue
        for row in db.session.execute(select(*texts, *moments)).all():
            for column, value in zip([*texts, *moments], row, strict=True):
                if isinstance(value, str) and (CONTROL.search(value) or BIDI.search(value) or (
                        column.name in NAMES and value and not is_visible(value))):
                    found.append(f"{table.name}.{column.name} = {value[:40]!r}")
                elif isinstance(value, datetime | date):
                    day = value.date() if isinstance(value, datetime) else value
                    if not date(1900, 1, 1) <= day <= latest.date():
                        found.append(f"{table.name}.{column.name} = {value}")
    return found


def test_no_hostile_value_gets_a_500_anywhere(session_app, world, backend_url):
    app = session_app
    clients, tokens = _clients(app, world)
    spec = clients["anonymous"].get("/api/v1/openapi.json").json
    ids = world["targets"]["a"]
    tally = Tally()
    started = datetime.now(UTC)
    for url_rule in sorted(swept_rules(app), key=_order):
        if url_rule.endpoint in SESSION_ENDERS:
            continue
        rule = rules_for(url_rule.endpoint)[0]
        url = url_of(url_rule, rule, ids)
        api = url.startswith("/api/")
        query = {k: (v[1:] if v.startswith("=") else str(ids[v])) for k, v in rule.query.items()}
        methods = methods_of(url_rule)
        for method in methods:
            tally.operations.add(("api" if api else "page", method, url_rule.rule))
            role = _role_for(rule, method)
            where = f"{method} {url} as {role}"
            client = clients["anonymous"] if api else clients[role]
            headers = tokens.get(role, {}) if api else {}
            # A NUL in the path and in the query, wherever the route is.
            _send(tally, client, where, "path_nul", api, path=url + "A%00B" if url.endswith("/") else url + "%00",
                  method=method, headers=headers)
            _send(tally, client, where, "query_nul", api, path=url, method=method, headers=headers,
                  query_string={**query, "q": "A\x00B"})
            if method == "GET" or url_rule.endpoint in ("api_auth.Token",) and method == "DELETE":
                names = list(rule.query)
                if api:
                    operation = spec["paths"].get(_openapi_path(url_rule.rule), {}).get(method.lower(), {})
                    names = sorted(set(names) | set(_schema_fields(spec, operation)[1]))
                for name in names:
                    for value, (_as_json, as_form) in HOSTILE.items():
                        _send(tally, client, f"{where} ?{name}", value, api, path=url, method=method,
                              headers=headers, query_string=_form_bytes({**query, name: as_form}).decode())
                continue
            as_json = api or url.endswith(".json")
            base = rule.body(ids) if rule.body is not None else {}
            if any(isinstance(v, tuple) for v in base.values()):  # a photo upload: its text fields only
                base = {}
                as_json = False
            if as_json:
                _send(tally, client, where, "deep_json", api, path=url, method=method, headers=headers,
                      query_string=query, data=DEEP_JSON, content_type="application/json")
                names = list(base)
                if api:
                    operation = spec["paths"].get(_openapi_path(url_rule.rule), {}).get(method.lower(), {})
                    names = sorted(set(names) | set(_schema_fields(spec, operation)[0]))
                for name, value, body in _variants(base, names):
                    _send(tally, client, f"{where} .{name}", value, api, path=url, method=method, headers=headers,
                          query_string=query, data=json.dumps(body), content_type="application/json")
            else:
                names = sorted(set(base) | set(_page_fields(client, url, methods)))
                form = {k: str(v) for k, v in base.items()}
                for name in names:
                    for value, (_as_json, as_form) in HOSTILE.items():
                        _send(tally, client, f"{where} .{name}", value, api, path=url, method=method,
                              query_string=query, data=_form_bytes({**form, name: as_form}),
                              content_type="application/x-www-form-urlencoded")
    elapsed = (datetime.now(UTC) - started).total_seconds()
    with app.app_context():
        stored = _stored_hostile()
        db.session.remove()
    backend = backend_url.split(":", 1)[0]
    kinds = [kind for kind, _method, _rule in tally.operations]
    print(f"\nhostile input on {backend}: {kinds.count('api')} API operations and {kinds.count('page')} page routes "
          f"(forms and lookups); {tally.sent} requests: {len(HOSTILE)} values × every field, plus NUL in every path "
          f"and query and deep JSON; {len(tally.errors)} answered 500; in {elapsed:.0f} s; by value: {tally.by_value}")
    assert tally.sent > 3000
    assert not tally.errors, f"{len(tally.errors)} of {tally.sent} answered 500:\n" + "\n".join(tally.errors[:80])
    assert not tally.accepted_text, "the API took text no field may hold:\n" + "\n".join(tally.accepted_text[:40])
    assert not stored, "stored:\n" + "\n".join(stored[:40])
