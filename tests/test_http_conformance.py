"""HTTP conformance the outside fuzzer (schemathesis) found wanting, checked by hand:
every 405 carries an ``Allow`` naming all the methods of its path (RFC 9110), JSON
bodies are strict about types (``false`` is not a number), and the OpenAPI document
says what the service enforces (``postponed`` requires ``until``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from recsys.bundle import Bundle
from serving.app import create_app
from serving.schemas import OutcomeIn
from tests.conftest import settings_for

READ, ADMIN = "conformance-read-key", "conformance-admin-key"
AS_ADMIN = {"X-API-Key": ADMIN}
OUTCOME = "/v1/clients/{client_id}/offers/{item_id}/outcome"


@pytest.fixture(scope="module")
def client(bundles: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    tmp = tmp_path_factory.mktemp("conformance")
    app = create_app(settings_for(bundles, tmp, read_api_key=READ, admin_api_key=ADMIN))
    with TestClient(app) as test_client:
        yield test_client


def _allowed(answer: Any) -> set[str]:
    """The methods an answer's ``Allow`` names."""
    return {method.strip() for method in answer.headers.get("allow", "").split(",")} - {""}


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("OPTIONS", "/v1/items/x", {"GET", "PUT", "DELETE"}),  # three routes, one path
        ("PATCH", "/v1/cross-sell/rules", {"GET", "PUT"}),
        # "batch" is also an item id: the item's routes answer here too
        ("OPTIONS", "/v1/items/batch", {"POST", "GET", "PUT", "DELETE"}),
        ("DELETE", "/v1/clients/x/recommendations", {"GET"}),  # the fast path's route
        ("PUT", "/v1/events", {"POST"}),
        ("OPTIONS", "/healthz", {"GET"}),
        ("OPTIONS", "/ui/clients/x", {"GET"}),  # outside the schema too
    ],
)
def test_a_405_allows_every_method_of_its_path(
    client: TestClient, method: str, path: str, allowed: set[str]
) -> None:
    answer = client.request(method, path)
    assert answer.status_code == 405, answer.text
    assert _allowed(answer) == allowed
    assert answer.json() == {"detail": "Method Not Allowed"}


def test_options_on_every_documented_path_names_its_methods(client: TestClient) -> None:
    """No key needed: a method the path lacks is refused before any key is read."""
    paths = client.get("/openapi.json").json()["paths"]
    for template, operations in paths.items():
        answer = client.options(re.sub(r"\{[^}]+\}", "x", template))
        assert answer.status_code == 405, template
        assert {method.upper() for method in operations} <= _allowed(answer), template


def test_cors_preflight_is_answered_and_plain_options_still_gets_allow(
    bundles: Path, tmp_path: Path
) -> None:
    origin = "https://shop.example"
    app = create_app(settings_for(bundles, tmp_path, cors_origins=[origin]))
    client = TestClient(app)  # no lifespan: routing and CORS need no bundle
    preflight = {"Origin": origin, "Access-Control-Request-Method": "GET"}
    answer = client.options("/v1/items/x", headers=preflight)
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == origin
    plain = client.options("/v1/items/x", headers={"Origin": origin})
    assert plain.status_code == 405 and _allowed(plain) == {"GET", "PUT", "DELETE"}


def test_a_cached_list_gets_the_cors_headers_too(bundles: Path, tmp_path: Path) -> None:
    """Lists are answered before FastAPI's stack; a cross-origin one is left to it,
    so its CORS middleware adds the headers to hits as to any answer."""
    origin = "https://shop.example"
    with TestClient(create_app(settings_for(bundles, tmp_path, cors_origins=[origin]))) as c:
        client = Bundle.load(next(p for p in bundles.iterdir() if p.is_dir())).data.clients.ids[0]
        path = f"/v1/clients/{client}/recommendations"
        first, again = (c.get(path, headers={"Origin": origin}) for _ in range(2))
        plain = c.get(path)
    assert again.json()["cached"] is True and plain.json()["cached"] is True
    for answer in (first, again):
        assert answer.headers["access-control-allow-origin"] == origin
    assert "access-control-allow-origin" not in plain.headers


BASKET, ITEM, EVENTS = "/v1/baskets/recommendations", "/v1/items/x", "/v1/events"
EVENT = {"client_id": "c", "item_id": "i"}
RULE = {"id": "r", "if_bought": {"items": ["a"]}, "offer": ["b"], "reason": "because"}
RULES, SAID = "/v1/cross-sell/rules", OUTCOME.format(client_id="c", item_id="i")


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", BASKET, {"items": [], "price_max": False}, "price_max"),
        ("POST", BASKET, {"items": [], "price_min": "2"}, "price_min"),
        ("POST", BASKET, {"items": [], "k": True}, "k"),
        ("POST", BASKET, {"items": [1]}, "items"),
        ("PUT", ITEM, {"price": False}, "price"),
        ("PUT", ITEM, {"price": "2.5"}, "price"),
        ("PUT", ITEM, {"available": 1}, "available"),
        ("PUT", ITEM, {"available": "true"}, "available"),
        ("PUT", ITEM, {"title": 5}, "title"),
        ("PUT", ITEM, {"available_from": 1767225600}, "available_from"),
        ("POST", "/v1/items/batch", {"items": [{"item_id": "x", "price": True}]}, "price"),
        ("POST", EVENTS, {**EVENT, "quantity": True}, "quantity"),
        ("POST", EVENTS, {"events": [{**EVENT, "price": "2"}]}, "price"),
        ("POST", EVENTS, {"client_id": 5, "item_id": "i"}, "client_id"),
        ("POST", EVENTS, {**EVENT, "position": False}, "position"),
        ("POST", SAID, {"outcome": "declined", "channel": 1}, "channel"),
        ("PUT", RULES, {"version": "1", "rules": [{**RULE, "priority": True}]}, "priority"),
        ("PUT", RULES, {"version": 1}, "version"),
    ],
)
def test_a_json_value_of_the_wrong_type_is_refused_naming_the_field(
    client: TestClient, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    answer = client.request(method, path, json=body, headers=AS_ADMIN)
    assert answer.status_code == 422, answer.text
    assert any(field in error["loc"] for error in answer.json()["detail"]), answer.text


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", BASKET, {"items": [], "price_min": 0, "price_max": 1000}),  # ints for floats
        ("PUT", ITEM, {"price": 3, "available": False, "available_from": "2026-01-01T00:00:00Z"}),
        ("POST", EVENTS, {**EVENT, "quantity": 2, "price": 1, "timestamp": "2026-01-01"}),
        ("POST", EVENTS, {**EVENT, "position": 3.0}),
        ("POST", BASKET, {"items": [], "k": 5.0}),  # an integral float is an integer
        ("POST", SAID, {"outcome": "postponed", "channel": "call", "until": "2026-03-01"}),
    ],
)
def test_json_of_the_right_types_is_still_accepted(
    client: TestClient, method: str, path: str, body: dict[str, Any]
) -> None:
    answer = client.request(method, path, json=body, headers=AS_ADMIN)
    assert answer.status_code == 200, answer.text


def test_query_parameters_keep_parsing_text(client: TestClient) -> None:
    """Query parameters arrive as text: strictness is for JSON bodies only."""
    query = "k=3&price_min=0&price_max=1000.5&exclude_purchased=false"
    answer = client.get(f"/v1/clients/c/recommendations?{query}", headers=AS_ADMIN)
    assert answer.status_code == 200, answer.text


def test_postponed_without_until_is_refused_by_the_api_and_its_validator(
    client: TestClient,
) -> None:
    """The route answers 422 naming ``until``; the validator the CRM screen's forms call
    (``OutcomeIn.model_validate``) refuses the same fields."""
    answer = client.post(SAID, json={"outcome": "postponed", "channel": "call"}, headers=AS_ADMIN)
    assert answer.status_code == 422
    assert [error["loc"][-1] for error in answer.json()["detail"]] == ["until"]
    with pytest.raises(ValidationError, match="until"):
        OutcomeIn.model_validate({"outcome": "postponed", "channel": "call"})
    said = OutcomeIn.model_validate(
        {"outcome": "postponed", "channel": "call", "until": "2026-03-01"}
    )
    assert said.root.until == date(2026, 3, 1)


def _outcome_body_validator(client: TestClient) -> Draft202012Validator:
    """A validator of the outcome route's body as the OpenAPI document states it."""
    document = client.get("/openapi.json").json()
    operation = document["paths"][OUTCOME]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    return Draft202012Validator({**document, **body})  # its $refs point into the document


def test_the_openapi_schema_requires_until_for_postponed(client: TestClient) -> None:
    """The document itself says it, so a schema-valid body is never refused for it."""
    valid = _outcome_body_validator(client).is_valid
    assert not valid({"outcome": "postponed", "channel": "call"})
    assert valid({"outcome": "postponed", "channel": "call", "until": "2026-03-01"})
    assert valid({"outcome": "declined", "channel": "call"})
    assert valid({"outcome": "accepted", "channel": "call", "reason": "wanted it"})
    assert not valid({"outcome": "maybe", "channel": "call"})
    assert not valid({"outcome": "declined", "channel": "call", "price_max": 1})
