"""Every operation of the published OpenAPI, walked with hostile values for each of its inputs.

Per parameter and body field, by its type: NUL, lone surrogates, oversized strings, malformed
URLs, dates out of any sane range, huge and negative integers, deep nesting and wrong JSON
types, sent with a valid token of the operation's role (its tag) on real objects of that
caller. Whatever the value, the answer is never a 5xx; a value the document itself refuses
gets a 4xx problem+json with a `code`. Deterministic: the set is fixed, nothing is random.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import jsonschema_rs
import pytest

from tests.conftest import bearer

pytestmark = pytest.mark.filterwarnings("ignore")

ROLE_BY_TAG = {
    "operator": "operator",
    "partner": "partner",
    "customer": "customer",
    "regulator": "regulator",
}
METHODS = ("get", "post", "patch", "put", "delete")
# Operations that would end the walk's own fixtures if they ever succeeded take no inputs, so
# they are never sent: the walk sends only inputs an operation declares (and the raw Stripe
# body, which the document cannot describe).
RAW_BODY_PATHS = {"/v1/stripe/webhook"}

MB = 1_000_000
URL_MAX = 60_000  # a URL longer than 64 KiB no client sends (httpx refuses to build one)
DEEP = 1000


# Deep nesting stands in the values as a marker and is spliced into the JSON text when sent
# (the standard library's encoder, like Python itself, would recurse a thousand frames deep).
DEEP_RAW = {
    "<deep list>": "[" * DEEP + "]" * DEEP,
    "<deep object>": '{"a":' * DEEP + "{}" + "}" * DEEP,
}


def _dumps(value: object) -> str:
    text = json.dumps(value)
    for marker, raw in DEEP_RAW.items():
        text = text.replace(json.dumps(marker), raw)
    return text


HOSTILE_STRINGS = [
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfff",
    "\ud83d",
    "x" * MB,
    "",
    " ",
    "http://[::1",
    "http://[::1]:99999/",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "../../etc/passwd",
    "%00",
    "'; DROP TABLE grants; --",
    "\u202e\ufeff",
]
HOSTILE_DATES = ["0001-01-01", "9999-12-31", "0000-01-01", "2026-02-30", "+10000-01-01"]
HOSTILE_DATETIMES = [
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "2026-01-01T00:00:00",
    "2026-13-01T00:00:00Z",
]
HOSTILE_INTEGERS = [2**63, -(2**63) - 1, 2**64, 10**30, -(10**30), 2**63 - 1, -1, 0, 1.5, 1e308]
WRONG_TYPES = [None, True, "1", 1, 1.5, [], {}, [None], {"": None}]
DEEP_VALUES = list(DEEP_RAW)


def _resolve(doc: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _branch(doc: dict, schema: dict) -> dict:
    """The non-null branch of `oneOf`/`anyOf` (optional fields are published as T | null)."""
    schema = _resolve(doc, schema)
    for key in ("oneOf", "anyOf"):
        if key in schema:
            branches = [_resolve(doc, b) for b in schema[key]]
            return next((b for b in branches if b.get("type") != "null"), branches[0])
    return schema


def _type(schema: dict) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    return kind


_CANDIDATES = ["x", "DE", "EUR", "acct_walker1", "https://example.com/hook", "cus_x"]


def _valid(doc: dict, schema: dict) -> object:
    """A value the schema accepts, so that one hostile field at a time is what is tested."""
    schema = _branch(doc, schema)
    if "enum" in schema:
        return next(v for v in schema["enum"] if v is not None)
    if "const" in schema:
        return schema["const"]
    kind = _type(schema)
    if kind == "object":
        props = schema.get("properties")
        if props is None:
            return {"k": "v"}
        return {name: _valid(doc, prop) for name, prop in props.items()}
    if kind == "array":
        return [_valid(doc, schema.get("items", {}))]
    if kind == "integer":
        low, high = schema.get("minimum", 1), schema.get("maximum", 10**6)
        return int(min(max(1, low), high))
    if kind == "boolean":
        return True
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "date":
            return "1990-01-01"
        if fmt == "date-time":
            return "2026-01-01T00:00:00Z"
        pattern = schema.get("pattern")
        for candidate in _CANDIDATES:
            if pattern is None or re.search(pattern, candidate):
                return candidate
    return "x"


def _hostile(doc: dict, schema: dict, kind_of_attack: str) -> list[object]:
    """The hostile values of one class for a field of this schema."""
    schema = _branch(doc, schema)
    kind = _type(schema)
    stringish = kind == "string" or "enum" in schema
    free_form = kind == "object" and "properties" not in schema  # a record payload
    if kind_of_attack == "text":
        if stringish:
            return list(HOSTILE_STRINGS)
        if kind == "array":
            return [[s] for s in HOSTILE_STRINGS if len(s) < 100] + [["x"] * 100_000]
        if free_form:  # hostile keys and values, at any depth
            return (
                [{s: "v"} for s in HOSTILE_STRINGS if len(s) < 100]
                + [{"k": s} for s in HOSTILE_STRINGS]
                + [{"k": {"k": ["\x00"]}}]
            )
        return []
    if kind_of_attack == "integers":
        if kind == "integer":
            return list(HOSTILE_INTEGERS)
        if free_form:
            return [{"k": i} for i in HOSTILE_INTEGERS]
        return []
    if kind_of_attack == "dates":
        fmt = schema.get("format")
        return HOSTILE_DATES if fmt == "date" else HOSTILE_DATETIMES if fmt == "date-time" else []
    if kind_of_attack == "nesting":
        return list(DEEP_VALUES) if kind in ("object", "array") else []
    assert kind_of_attack == "types"
    return list(WRONG_TYPES)


def _fields(doc: dict, schema: dict, path: tuple = ()) -> list[tuple[tuple, dict]]:
    """Every field of a body, nested objects and array items included, by its JSON path."""
    schema = _branch(doc, schema)
    found: list[tuple[tuple, dict]] = [(path, schema)] if path else []
    kind = _type(schema)
    if kind == "object":
        for name, prop in (schema.get("properties") or {}).items():
            found += _fields(doc, prop, (*path, name))
    elif kind == "array" and "items" in schema:
        found += _fields(doc, schema["items"], (*path, 0))
    return found


def _replace(value: object, path: tuple, new: object) -> object:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    assert isinstance(value, list)
    return [_replace(value[0], rest, new), *value[1:]]


def _text_or_sane(value: object) -> bool:
    """False for lone surrogates (not text: PostgreSQL cannot store them) and deep nesting."""
    text = json.dumps(value, ensure_ascii=False)
    return not any(m in text for m in DEEP_RAW) and not re.search("[\ud800-\udfff]", text)


def _schema_accepts(doc: dict, schema: dict, value: object) -> bool:
    """Whether the published schema itself accepts `value` (then a 2xx is a fair answer)."""
    if not _text_or_sane(value):
        return False
    return jsonschema_rs.validator_for({**schema, "components": doc["components"]}).is_valid(value)


def _encode(value: object) -> str:
    """A query or path value as the client would send it (surrogates as their UTF-8 bytes)."""
    text = value if isinstance(value, str) else _dumps(value)
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def _query_value(raw: str, schema: dict) -> object:
    """What a query value means to its schema (a number, when the schema wants one)."""
    if _type(schema) == "integer" and re.fullmatch(r"-?\d+", raw):
        return int(raw)
    return raw


class Walk:
    """The requests of one operation: the valid request, then one hostile input at a time."""

    def __init__(self, doc: dict, path: str, method: str, operation: dict, ids: dict):
        self.doc, self.path, self.method, self.operation, self.ids = (
            doc,
            path,
            method,
            operation,
            ids,
        )
        self.params = operation.get("parameters", [])
        content = (operation.get("requestBody") or {}).get("content", {})
        self.body_schema = (content.get("application/json") or {}).get("schema")

    def _base(self) -> tuple[dict[str, object], dict[str, object], object]:
        path_values = {
            p["name"]: self.ids.get(p["name"], _valid(self.doc, p["schema"]))
            for p in self.params
            if p["in"] == "path"
        }
        query = {
            p["name"]: _valid(self.doc, p["schema"])
            for p in self.params
            if p["in"] == "query" and p.get("required")
        }
        body = _valid(self.doc, self.body_schema) if self.body_schema else None
        return path_values, query, body

    def requests(self, kind_of_attack: str):
        """(description, url, body, whether the value must be refused) per request.

        A value the published schema accepts may succeed; any other is refused, wrong JSON
        types included (bodies are decoded strictly: "1" is not taken for 1, nor 0 for a time).
        """
        path_values, query, body = self._base()
        for param in self.params:
            schema, where = param["schema"], param["in"]
            values = _hostile(self.doc, schema, kind_of_attack)
            if kind_of_attack == "text":  # whatever the parameter's type, the value is text
                values = list(HOSTILE_STRINGS)
            if where == "query":  # a query value is text: only its text varies
                values = [v for v in values if isinstance(v, (str, int, float)) and v is not True]
            if where == "path":  # an empty segment is another route, not a hostile value
                values = [v for v in values if v != ""]
            for value in values:
                raw = value if isinstance(value, str) else _dumps(value)
                raw = raw[:URL_MAX]
                if where == "path":  # no real id is hostile: each one is refused or not found
                    refused = True
                else:
                    refused = not _schema_accepts(self.doc, schema, _query_value(raw, schema))
                p, q = dict(path_values), dict(query)
                (p if where == "path" else q)[param["name"]] = raw
                yield f"{where} {param['name']}={raw[:40]!r}", self._url(p, q), body, refused
        if self.body_schema is None:
            return
        url = self._url(path_values, query)
        for field, schema in _fields(self.doc, self.body_schema):
            for value in _hostile(self.doc, schema, kind_of_attack):
                hostile = _replace(body, field, value)
                refused = not _schema_accepts(self.doc, self.body_schema, hostile)
                name = ".".join(str(f) for f in field)
                yield f"body {name}={str(value)[:40]!r}", url, hostile, refused
        whole = {"text": ["x" * MB, "\x00"], "nesting": DEEP_VALUES, "types": WRONG_TYPES}
        for value in whole.get(kind_of_attack, []):
            refused = not _schema_accepts(self.doc, self.body_schema, value)
            yield f"body={str(value)[:40]!r}", url, value, refused

    def _url(self, path_values: dict, query: dict) -> str:
        url = self.path
        for name, value in path_values.items():
            url = url.replace("{" + name + "}", _encode(value))
        if query:
            url += "?" + "&".join(f"{quote(k)}={_encode(v)}" for k, v in query.items())
        return url


@pytest.fixture(scope="module")
async def walk_ids(client, actors):
    """Real objects of the callers, so hostile inputs reach past the lookups to the queries."""
    partner = await actors.partner()
    customer = await actors.customer()
    offer = await actors.offer(partner)
    grant = await actors.accept(customer, offer)
    export = await client.post("/v1/me/exports", headers=customer["auth"])
    assert export.status_code == 201, export.text
    ids = {
        "partner_id": partner["id"],
        "customer_id": customer["id"],
        "offer_id": offer["id"],
        "grant_id": grant["id"],
        "export_id": export.json()["id"],
        "category": "location",
    }
    return ids, {"partner": partner, "customer": customer}


def _operations(doc: dict):
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def _code(r) -> str | None:
    try:
        body = r.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


def _assert_problem(r, what: str) -> None:
    assert r.headers.get("content-type", "").startswith("application/problem+json"), what
    body = r.json()
    assert isinstance(body.get("code"), str) and body["code"], what


KINDS_OF_ATTACK = ["text", "integers", "types", "dates", "nesting"]
# A dependency that is not there in the suite (Stripe) may answer a valid request with 502.
DEPENDENCY_DOWN = {"payment_gateway_error"}


@pytest.mark.parametrize("kind_of_attack", KINDS_OF_ATTACK)
async def test_every_operation_answers_hostile_input_with_a_4xx_problem(
    client, actors, token, walk_ids, kind_of_attack
):
    ids, callers = walk_ids
    doc = (await client.get("/schema/openapi.json")).json()
    headers_by_role = {
        "operator": actors.operator,
        "partner": callers["partner"]["auth"],
        "customer": callers["customer"]["auth"],
        "regulator": bearer(token("regulator", "reg_walker", jurisdictions=["DE", "FR"])),
    }
    failures: list[str] = []
    walked: set[str] = set()
    sent = 0
    for path, method, operation in _operations(doc):
        role = next((ROLE_BY_TAG[t] for t in operation.get("tags", []) if t in ROLE_BY_TAG), None)
        headers = dict(headers_by_role[role]) if role else {}
        walk = Walk(doc, path, method, operation, ids)
        requests = list(walk.requests(kind_of_attack))
        if path in RAW_BODY_PATHS and kind_of_attack == "text":
            requests += [(f"raw body {v[:20]!r}", path, v, True) for v in HOSTILE_STRINGS]
        for what, url, body, refused in requests:
            sent += 1
            walked.add(f"{method} {path}")
            label = f"{method.upper()} {path} {what}"
            kwargs = {}
            if body is not None or walk.body_schema is not None:
                kwargs["content"] = _dumps(body).encode()
                headers["content-type"] = "application/json"
            try:
                r = await client.request(method.upper(), url, headers=headers, **kwargs)
            except Exception as exc:  # a streamed answer that broke after its status line
                failures.append(f"{label}: {type(exc).__name__} {exc}")
                continue
            code = _code(r)
            if r.status_code >= 500 and not (not refused and code in DEPENDENCY_DOWN):
                failures.append(f"{label}: {r.status_code} {r.text[:200]}")
            elif refused and not 400 <= r.status_code < 500:
                failures.append(f"{label}: {r.status_code}, a refused value was accepted")
            elif r.status_code >= 400:
                try:
                    _assert_problem(r, label)
                except (AssertionError, ValueError):
                    failures.append(f"{label}: {r.status_code} not a problem: {r.text[:200]}")
    # The walk reaches the inputs of every operation that has any, not a handful.
    with_inputs = {
        f"{m} {p}"
        for p, m, op in _operations(doc)
        if op.get("parameters")
        or op.get("requestBody")
        or (p in RAW_BODY_PATHS and kind_of_attack == "text")
    }
    if kind_of_attack in ("text", "types"):
        assert walked == with_inputs
    assert sent > 0
    assert not failures, f"{len(failures)} of {sent}:\n" + "\n".join(failures)
