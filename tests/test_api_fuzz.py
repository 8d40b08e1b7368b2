"""schemathesis against the service's own OpenAPI schema: no 5xx, and every response
conforms to the schema (status, content type, body), with keys and without.

Every operation of the schema gets a bounded number of generated cases (hypothesis
settings) to keep the suite short. (schemathesis' pytest plugin does not run on
this pytest; its strategies are driven here directly.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import positive_data_acceptance

from serving.app import create_app
from tests.test_service import bundles, settings_for

__all__ = ["bundles"]  # the module fixture, shared with test_service

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


def _fuzz(operation: Any, mode: Any, headers: dict[str, str], excluded: list[Any]) -> None:
    """Generated cases for one operation, each sent and its response validated."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @EXAMPLES
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, excluded_checks=excluded)

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
        # Cross-field rules of analyst rules (unique ids, valid_from ≤ valid_to) have no
        # JSON-schema form: a schema-valid body may rightly get 422 there. No 5xx, and
        # conformance of every response, are still checked.
        cross_field = operation.label == "PUT /v1/cross-sell/rules"
        excluded = [positive_data_acceptance] if cross_field else []

        try:
            _fuzz(operation, mode, KEYS[key], excluded)
        except Unsatisfiable:  # no parameters and no body: nothing to make invalid
            assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
        except (Exception, BaseExceptionGroup) as error:  # try all; report every failure
            failures[operation.label] = str(error)[:2000]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
