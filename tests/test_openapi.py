"""The OpenAPI document is the API's contract (docs/api.md): it validates, names and summarises every operation, lists
every error answer an operation may give with its `error.code`s, and documents every code the domain can raise."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ERROR_CLASSES = {"DomainError", "Invalid", "Forbidden", "NotFound", "Conflict", "Refused", "Unauthenticated", "TooSoon"}
CODE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)+|[a-z]+")
DOCUMENTED = re.compile(r"`([a-z][a-z0-9_]*)`")

#: Codes raised in domain/ that no API operation can answer, each with why. Keep it short: a code an API client can
#: meet belongs in the document (`@blp.fails` on the operation), not here.
NOT_ANSWERED_BY_THE_API = {
    # Internal invariants: a caller cannot provoke them (the API's views pass the kind and the rule themselves).
    "unbalanced", "rule_unknown", "category_kind_invalid", "already_reversed",
    # The page forms' one-time submission keys.
    "submission_key_invalid",
    # Pages only, so far: the roster spreadsheet import.
    "not_a_community", "roster_conflict", "roster_unreadable", "roster_too_large", "roster_too_long", "roster_encoding",
    "roster_file_type", "roster_xls", "roster_too_many_texts", "roster_not_csv", "roster_empty", "roster_columns",
    "roster_csv_broken", "roster_column_twice", "roster_invalid",
    # Pages only, so far: a team's leader by phone.
    "leader_invalid",
    # Pages only, so far: guardians, first-run setup, passwords, staff codes.
    "own_account", "guardian_of_minor", "password_required", "street_required", "current_password_wrong",
    "person_disabled",
    # Pages only, so far: webhook endpoints added and disabled, deliveries sent again (the API reads the log).
    "url_invalid", "events_invalid", "secret_invalid", "already_disabled", "delivery_pending", "endpoint_disabled",
    # Pages only: community rules, certificates issued and revoked, ledger adjustments, leaderboards kept, pickup
    # points.
    "rule_value_invalid", "rule_not_retroactive", "no_handler", "no_service_in_period", "already_revoked",
    "amount_invalid", "month_not_over", "too_long",
}


# --- the domain's codes ------------------------------------------------------------------------------------------

def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _strings(node: ast.AST) -> list[str]:
    """The string constants an argument can be: itself, or either branch of `a if c else b`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _strings(node.body) + _strings(node.orelse)
    return []


def _refusal(node: ast.AST) -> list[str]:
    """The code of a `("code", _l("message"))` pair, as tables of refusals by state hold them (dict values)."""
    if isinstance(node, ast.Tuple) and len(node.elts) == 2 and isinstance(node.elts[1], ast.Call) \
            and _name(node.elts[1].func) in ("_l", "_", "gettext", "lazy_gettext"):
        return _strings(node.elts[0])
    return []


def _factories(trees: list[ast.Module]) -> dict[str, int]:
    """Error classes, and helpers that build one from a `code` parameter (`_bad(field, code, message)`): the name and
    the position of the code among its arguments."""
    found = dict.fromkeys(ERROR_CLASSES, 0)
    for tree in trees:
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef):
                continue
            params = [a.arg for a in fn.args.args]
            for node in ast.walk(fn):
                if (isinstance(node, ast.Call) and _name(node.func) in ERROR_CLASSES and node.args
                        and isinstance(node.args[0], ast.Name) and node.args[0].id in params):
                    found[fn.name] = params.index(node.args[0].id)
    return found


def raised_codes() -> dict[str, str]:
    """Every `error.code` literal in domain/ and blueprints/api/: the code → where it is first written.

    Three ways of writing one are recognised: the first argument of an error class or of a helper that passes its
    `code` to one (`Invalid("x", ...)`, `_bad("field", "x", ...)`), a `("x", _l("message"))` pair as a dict's value
    (tables of refusals by state, `dict.fromkeys(states, ("x", _l(...)))`), and a `..._code="x"` keyword
    (`duplicate_code`)."""
    files = [p for p in [*ROOT.glob("domain/**/*.py"), *ROOT.glob("blueprints/api/*.py")]
             if "demo" not in p.parts and p.name != "errors.py"]
    trees = {p: ast.parse(p.read_text()) for p in files}
    factories = _factories(list(trees.values()))
    codes: dict[str, str] = {}
    for path, tree in trees.items():
        for node in ast.walk(tree):
            found: list[str] = []
            if isinstance(node, ast.Call):
                position = factories.get(_name(node.func))
                if position is not None and len(node.args) > position:
                    found += _strings(node.args[position])
                found += [s for kw in node.keywords if kw.arg and kw.arg.endswith("_code") for s in _strings(kw.value)]
                if _name(node.func) == "fromkeys":
                    found += [s for value in node.args[1:] for s in _refusal(value)]
            elif isinstance(node, ast.Dict):
                found += [s for value in node.values for s in _refusal(value)]
            for code in found:
                if CODE.fullmatch(code):
                    codes.setdefault(code, f"{path.relative_to(ROOT)}:{node.lineno}")
    return codes


# --- the document ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def spec(session_app) -> dict:
    answer = session_app.test_client().get("/api/v1/openapi.json")
    assert answer.status_code == 200
    return answer.get_json()


def operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield method, path, operation


def codes_of(answer: dict) -> set[str]:
    return set(DOCUMENTED.findall(answer.get("description", "")))


def test_the_document_is_valid_openapi(spec):
    from openapi_spec_validator import validate

    validate(spec)


def test_every_operation_has_an_operation_id_and_a_one_sentence_summary(spec):
    ids = [operation.get("operationId") for _m, _p, operation in operations(spec)]
    assert all(ids) and len(ids) == len(set(ids))
    for method, path, operation in operations(spec):
        summary = operation.get("summary", "")
        assert summary and "\n" not in summary and len(summary) <= 200, (method, path, summary)


def test_every_operation_lists_the_common_error_answers(spec, session_app):
    limited = {("post", "/api/v1/auth/token"), ("post", "/api/v1/nominations/{nomination_id}/votes"),
               ("post", "/api/v1/checkins"), ("get", "/api/v1/certificates/{number}")}
    seen_limited = set()
    for method, path, operation in operations(spec):
        answers = operation["responses"]
        where = f"{method.upper()} {path}"
        assert "internal_server_error" in codes_of(answers["500"]), where
        if operation.get("security") != []:
            assert {"unauthenticated", "invalid_token"} <= codes_of(answers["401"]), where
        if "{" in path:
            assert "not_found" in codes_of(answers["404"]), where
        if "requestBody" in operation or any(p["in"] == "query" for p in operation.get("parameters", [])):
            assert "validation_error" in codes_of(answers["400"]), where
        if "requestBody" in operation and "application/json" in operation["requestBody"]["content"]:
            assert "invalid_body" in codes_of(answers["400"]), where
        if "429" in answers:
            assert "too_many_requests" in codes_of(answers["429"]), where
            seen_limited.add((method, path))
        for status, answer in answers.items():
            if status.startswith(("4", "5")) and status != "503":
                assert codes_of(answer), f"{where} {status} names no code"
    assert limited <= seen_limited


def test_an_operations_own_codes_are_kept_beside_the_common_ones(spec):
    claim = spec["paths"]["/api/v1/tasks/{task_id}/claim"]["post"]["responses"]
    assert {"already_claimed", "need_withdrawn"} <= codes_of(claim["409"])
    assert "not_allowed_to_claim" in codes_of(claim["403"])
    sms = spec["paths"]["/api/v1/auth/sms-code"]["post"]["responses"]
    assert {"phone_invalid", "validation_error", "invalid_body"} <= codes_of(sms["400"])


def test_the_code_finder_sees_the_ways_codes_are_written():
    """The check below is only as good as this: codes written each way are found."""
    codes = raised_codes()
    assert "already_claimed" in codes  # a table of refusals by state (domain/tasks/states.py)
    assert "note_required" in codes and "reason_required" in codes  # `_bad(field, a if c else b, ...)`
    assert "seats_invalid" in codes  # `_bad("seats", "seats_invalid", ...)`
    assert "already_reversed" in codes  # `duplicate_code="already_reversed"`
    assert "out_of_stock" in codes and "phone_taken" in codes


def test_every_code_the_domain_raises_is_documented(spec):
    documented = set(DOCUMENTED.findall(json.dumps(spec)))
    missing = {code: where for code, where in raised_codes().items()
               if code not in documented and code not in NOT_ANSWERED_BY_THE_API}
    assert not missing, ("Codes raised but named by no operation of the OpenAPI document: document each with "
                         "@blp.fails(status, code) on the operations that can answer it, or, if no API operation can, "
                         f"add it to NOT_ANSWERED_BY_THE_API with why: {missing}")
    stale = NOT_ANSWERED_BY_THE_API - set(raised_codes())
    assert not stale, f"allow-listed codes no longer raised: {stale}"
    answered = NOT_ANSWERED_BY_THE_API & documented
    assert not answered, f"allow-listed codes that an operation now documents (take them off the list): {answered}"
