"""schemathesis against the service's own OpenAPI schema: no 5xx, and every response
conforms to the schema (status, content type, body), with keys and without.

Every operation of the schema gets a bounded number of generated cases (hypothesis
settings) to keep the suite short. (schemathesis' pytest plugin does not run on
this pytest; its strategies are driven here directly.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

from recsys.bundle import Bundle
from serving.app import create_app
from tests.conftest import settings_for

READ, ADMIN = "fuzz-read-key", "fuzz-admin-key"
KEYS = {"admin key": {"X-API-Key": ADMIN}, "read key": {"X-API-Key": READ}, "no key": {}}
EXAMPLES = settings(
    max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)


@pytest.fixture(scope="module")
def api(bundles: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp("fuzz")
    app = create_app(settings_for(bundles, tmp, read_api_key=READ, admin_api_key=ADMIN))
    with TestClient(app):  # the lifespan loads the bundle once for every case
        yield schemathesis.openapi.from_asgi("/openapi.json", app)


#: Statuses answered in this session (printed with ``-s``, for RELIABILITY.md).
STATUSES: Counter[int] = Counter()


def _excluded(operation: Any) -> list[Any]:
    """Checks not to run on ``operation``.

    Cross-field rules of analyst rules (unique ids, valid_from ≤ valid_to) and of
    outcomes (``postponed`` needs ``until``) have no JSON-schema form: a schema-valid
    body may rightly get 422 there. No 5xx, and conformance of every response, are
    still checked (below too)."""
    cross_field = operation.label in (
        "PUT /v1/cross-sell/rules",
        "POST /v1/clients/{client_id}/offers/{item_id}/outcome",  # postponed needs until
    )
    if operation.label == "POST /v1/items/batch":
        # More than 10,000 generated items are also more than max_body_bytes: that body
        # is refused with 413 before it is read (JSON, documented), not with 422.
        return [negative_data_rejection]
    return [positive_data_acceptance] if cross_field else []


def _fuzz(
    operation: Any,
    mode: Any,
    headers: dict[str, str],
    excluded: list[Any],
    ids: st.SearchStrategy[Any] | None = None,
) -> None:
    """Generated cases for one operation, each sent and its response validated;
    with ``ids``, path ids and basket items are swapped for the bundle's own."""
    cases = operation.as_strategy(generation_mode=mode)
    if ids is not None:
        cases = st.tuples(cases, ids).map(_with_ids)

    @given(case=cases)
    @EXAMPLES
    def check(case: schemathesis.Case) -> None:
        response = case.call_and_validate(headers=headers, excluded_checks=excluded)
        STATUSES[response.status_code] += 1

    check()


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=str)
@pytest.mark.parametrize("key", list(KEYS))
def test_every_operation_conforms_and_never_fails(
    api: Any, key: str, mode: schemathesis.GenerationMode
) -> None:
    """Valid (positive) and invalid (negative) cases: invalid ones must get a 4xx."""
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 10  # the whole API, not an empty schema
    failures = {}
    for operation in operations:
        try:
            _fuzz(operation, mode, KEYS[key], _excluded(operation))
        except Unsatisfiable:  # no parameters and no body: nothing to make invalid
            assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
        except (Exception, BaseExceptionGroup) as error:  # try all; report every failure
            failures[operation.label] = str(error)[:2000]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
    print(f"{len(operations)} operations; statuses so far: {dict(STATUSES.most_common())}")


def _with_ids(drawn: tuple[Any, tuple[str, str, list[str]]]) -> Any:
    """A generated case with the client, item and basket ids replaced by real ones."""
    case, (client, item, basket) = drawn
    path = case.path_parameters or {}
    if "client_id" in path:
        path["client_id"] = client
    if "item_id" in path:
        path["item_id"] = item
    listed = case.body.get("items") if isinstance(case.body, dict) else None
    if isinstance(listed, list) and case.operation.path == "/v1/items/batch":
        for entry, real in zip(listed, basket, strict=False):  # catalogue upserts
            entry["item_id"] = real
    elif isinstance(listed, list):  # a basket
        case.body["items"] = basket
    return case


def test_operations_on_the_bundles_own_ids(api: Any, bundle: Bundle) -> None:
    """Valid cases whose ids are drawn from the bundle's vocabularies: random strings
    only reach the 404 of an unknown item, real ids reach every source of the blend
    (an item no association rule starts from once answered 500 here)."""
    items = st.sampled_from(bundle.data.items.ids.tolist())
    ids = st.tuples(
        st.sampled_from(bundle.data.clients.ids.tolist()), items, st.lists(items, max_size=6)
    )
    failures = {}
    for operation in (result.ok() for result in api.get_all_operations()):
        try:
            positive = schemathesis.GenerationMode.POSITIVE
            _fuzz(operation, positive, KEYS["admin key"], _excluded(operation), ids)
        except (Exception, BaseExceptionGroup) as error:
            failures[operation.label] = str(error)[:2000]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
