"""schemathesis against the service's own OpenAPI schema: no 5xx, and every response
conforms to the schema, with keys and without, under every check schemathesis has
(status, content type, headers and body; invalid data refused and valid data
accepted; 405 with ``Allow`` for undeclared methods; deleted and created resources).
A service with no key at all (protected mode) is fuzzed too, from another network and
from loopback: from afar no write route ever answers 2xx.

Three of its phases are driven here: generated cases (valid and invalid), the
coverage phase (boundary values, undeclared methods, missing headers, content-type
probes) and the stateful phase (sequences following the links schemathesis infers
between operations). Every phase is bounded (hypothesis settings) to keep the suite
short. (schemathesis' pytest plugin does not run on this pytest; its strategies and
state machine are driven here directly.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky, Unsatisfiable
from schemathesis.checks import (
    CHECKS,
    allow_header_conformance,
    is_check_class,
    load_all_checks,
    negative_data_rejection,
    positive_data_acceptance,
    use_after_free,
)

from recsys.bundle import Bundle
from serving.app import create_app
from serving.auth.access import scoped
from tests.conftest import settings_for

READ, ADMIN = "fuzz-read-key", "fuzz-admin-key"
KEYS = {"admin key": {"X-API-Key": ADMIN}, "read key": {"X-API-Key": READ}, "no key": {}}
EXAMPLES = settings(
    max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
#: Scenarios of the stateful phase, each a few linked calls.
SCENARIOS = settings(EXAMPLES, max_examples=40, stateful_step_count=8)
#: Fewer cases for the service without keys: its routes are the same, only who may call.
#: Also for a caller with no key to a service with keys: every ``/v1`` route answers 401
#: before it reads a parameter or the body (the key is checked first), whatever is sent.
UNKEYED = settings(EXAMPLES, max_examples=10)
#: Callers of the service without keys: another network's address, and this machine.
ADDRESSES = {"from afar": ("203.0.113.9", 4000), "from loopback": ("127.0.0.1", 50000)}
WRITE_METHODS = {"POST", "PUT", "DELETE"}

load_all_checks()
#: Every check schemathesis has, passed explicitly: a config file cannot turn one off.
ALL_CHECKS = [check for check in CHECKS.get_all() if not is_check_class(check)]


@pytest.fixture(scope="module")
def api(bundles: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp("fuzz")
    app = create_app(settings_for(bundles, tmp, read_api_key=READ, admin_api_key=ADMIN))
    with TestClient(app):  # the lifespan loads the bundle once for every case
        yield schemathesis.openapi.from_asgi("/openapi.json", app)


def _calling_from(app: Any, address: tuple[str, int]) -> Any:
    """``app`` as a caller at ``address`` reaches it: what a TestClient's ``client=``
    does (schemathesis calls the app itself and names every peer ``testclient``)."""

    async def from_address(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await app({**scope, "client": address} if scope["type"] == "http" else scope, receive, send)

    return from_address


def _routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every API route, those of included routers too (FastAPI includes them lazily)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _routes(included.routes)
        elif isinstance(route, APIRoute):
            yield route


def _calls(dependant: Any) -> set[Any]:
    """Every dependency callable of a route, at any depth."""
    found = set()
    for each in dependant.dependencies:
        found |= {each.call} | _calls(each)
    return found


@pytest.fixture(scope="module", params=list(ADDRESSES))
def unkeyed(
    request: pytest.FixtureRequest, bundles: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, set[str], bool]]:
    """A service with no key and no user (protected mode) as one caller reaches it: its
    schema, the labels of its write routes (every POST, PUT and DELETE but the reads,
    which ``read`` guards), and whether the caller is afar."""
    app = create_app(settings_for(bundles, tmp_path_factory.mktemp("fuzz-unkeyed")))
    reads = {  # e.g. POST /v1/baskets/recommendations
        f"{method} {route.path}"
        for route in _routes(app.routes)
        if scoped("read") in _calls(route.dependant)
        for method in route.methods or ()
    }
    calling = _calling_from(app, ADDRESSES[request.param])
    with TestClient(calling):  # the lifespan loads the bundle once for every case
        api: Any = schemathesis.openapi.from_asgi("/openapi.json", calling)
        labels = [result.ok().label for result in api.get_all_operations()]
        writes = {label for label in labels if label.split()[0] in WRITE_METHODS} - reads
        # events, outcomes, three catalogue routes, deletion, rules, reload
        assert len(writes) >= 8, writes
        yield api, writes, request.param == "from afar"


#: Statuses answered in this session (printed with ``-s``, for RELIABILITY.md).
STATUSES: Counter[int] = Counter()


def _excluded(operation: Any) -> list[Any]:
    """Checks not to run on ``operation``, each for a reason the schema cannot say.

    Cross-field rules of analyst rules (unique ids, valid_from ≤ valid_to) have no
    JSON-schema form: a schema-valid body may rightly get 422 there. (``postponed``
    needs ``until`` is in the schema: the outcome route gets every check.)"""
    if operation.label == "POST /v1/items/batch":
        # More than 10,000 generated items are also more than max_body_bytes: that body
        # is refused with 413 before it is read (JSON, documented), not with 422. And an
        # item may be called "batch": GET, PUT and DELETE /v1/items/{item_id} answer on
        # this path too, so its 405 rightly allows them.
        return [negative_data_rejection, allow_header_conformance]
    if operation.label in ("GET /v1/items/{item_id}", "GET /v1/items/{item_id}/related"):
        # DELETE discontinues an item (documented): it stays readable, ``deleted`` true,
        # and items related to it are still answered (it is never offered itself).
        return [use_after_free]
    # Rules JSON Schema cannot say (dates in order, a value for some audience kinds, the
    # body's name as the path's) make a valid-looking body a rightful 422.
    cross_field = ("PUT /v1/cross-sell/rules", "PUT /v1/campaigns/{name}")
    return [positive_data_acceptance] if operation.label in cross_field else []


def _check(case: schemathesis.Case, headers: dict[str, str]) -> None:
    """Send ``case`` and run every check on its response (but the excluded ones)."""
    excluded = _excluded(case.operation)
    response = case.call_and_validate(headers=headers, checks=ALL_CHECKS, excluded_checks=excluded)
    STATUSES[response.status_code] += 1


def _fuzz(
    operation: Any, mode: Any, headers: dict[str, str], ids: st.SearchStrategy[Any] | None = None
) -> None:
    """Generated cases for one operation, each sent and its response validated;
    with ``ids``, path ids and basket items are swapped for the bundle's own."""
    cases = operation.as_strategy(generation_mode=mode)
    if ids is not None:
        cases = st.tuples(cases, ids).map(_with_ids)

    @given(case=cases)
    @(EXAMPLES if headers else UNKEYED)
    def check(case: schemathesis.Case) -> None:
        _check(case, headers)

    check()


def _failures(api: Any, run: Any) -> dict[str, str]:
    """``run(operation)`` for every operation of the schema; the failures by label
    (all tried: every failure is reported, not only the first)."""
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 10  # the whole API, not an empty schema
    failures = {}
    for operation in operations:
        try:
            run(operation)
        except (Exception, BaseExceptionGroup) as error:
            failures[operation.label] = str(error)[:2000]
    return failures


def _report(failures: dict[str, str]) -> None:
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
    print(f"statuses so far: {dict(STATUSES.most_common())}")


def test_the_checks_are_schemathesis_whole_set() -> None:
    """A check renamed or dropped by a schemathesis upgrade is said, not silently lost."""
    names = {check.__name__ for check in ALL_CHECKS}
    assert names >= {
        *("not_a_server_error", "status_code_conformance", "content_type_conformance"),
        *("response_schema_conformance", "response_headers_conformance"),
        *("negative_data_rejection", "positive_data_acceptance", "missing_required_header"),
        *("unsupported_method", "allow_header_conformance", "use_after_free"),
        *("ensure_resource_availability", "ignored_auth"),
    }


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=str)
@pytest.mark.parametrize("key", list(KEYS))
def test_every_operation_conforms_and_never_fails(
    api: Any, key: str, mode: schemathesis.GenerationMode
) -> None:
    """Valid (positive) and invalid (negative) cases: invalid ones must get a 4xx."""

    def run(operation: Any) -> None:
        try:
            _fuzz(operation, mode, KEYS[key])
        except Unsatisfiable:  # no parameters and no body: nothing to make invalid
            assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label

    _report(_failures(api, run))


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=str)
def test_without_keys_from_afar_and_loopback(
    unkeyed: tuple[Any, set[str], bool], mode: schemathesis.GenerationMode
) -> None:
    """No key configured (protected mode): valid and invalid cases from another network's
    address and from loopback, every check; from afar no write route ever answers 2xx
    (403: nothing a stranger sends changes the service), from loopback they may."""
    api, writes, afar = unkeyed
    answered: dict[str, Counter[int]] = {}
    untried = set()  # operations with nothing to make invalid

    def run(operation: Any) -> None:
        @given(case=operation.as_strategy(generation_mode=mode))
        @UNKEYED
        def check(case: schemathesis.Case) -> None:
            excluded = _excluded(case.operation)
            response = case.call_and_validate(checks=ALL_CHECKS, excluded_checks=excluded)
            STATUSES[response.status_code] += 1
            answered.setdefault(operation.label, Counter())[response.status_code] += 1

        try:
            check()
        except Unsatisfiable:  # no parameters and no body: nothing to make invalid
            assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
            untried.add(operation.label)

    _report(_failures(api, run))
    if afar:
        changed = {
            label: dict(statuses)
            for label, statuses in answered.items()
            if label in writes and any(200 <= status < 300 for status in statuses)
        }
        assert not changed, f"writes answered 2xx from afar: {changed}"
        assert writes - untried <= set(answered)  # every write route was tried


def test_coverage_phase(api: Any) -> None:
    """schemathesis' coverage phase, its deterministic cases for each operation: boundary
    values, each parameter missing or of the wrong type, undeclared methods (405 with an
    ``Allow`` naming the path's methods), content-type probes."""
    modes = list(schemathesis.GenerationMode)
    api.coverage_unexpected_methods_seen.clear()  # each (path, method) once per run

    def run(operation: Any) -> None:
        config = api.config.generation_for(operation=operation)
        for case in api.iter_coverage_cases(
            operation, generation_modes=modes, generation_config=config
        ):
            _check(case, KEYS["admin key"])

    _report(_failures(api, run))


def test_stateful_phase(api: Any) -> None:
    """Sequences of calls along the links schemathesis infers (an item a list names,
    then read, changed, deleted…), with the checks that need them: a deleted resource
    is gone, a created one is there.

    The service keeps what each scenario did (items deleted, events, tombstones), so
    the same choices can later find other links open, which hypothesis calls flaky
    data generation. Like schemathesis' own runner, that fails the test only when a
    check failed in the run: every failure is kept as it happens, before any replay."""
    machine = api.as_state_machine()
    assert machine.schema.statistic.transitions.selected >= 10  # links were inferred
    failed: list[str] = []

    class Admin(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"headers": dict(KEYS["admin key"])}

        def validate_response(self, response: Any, case: Any, *_: Any, **kwargs: Any) -> None:
            STATUSES[response.status_code] += 1
            try:
                case.validate_response(
                    response,
                    checks=ALL_CHECKS,
                    excluded_checks=_excluded(case.operation),
                    headers=kwargs.get("headers"),
                    transport_kwargs=kwargs,
                    recorder=self.recorder,
                )
            except (Exception, BaseExceptionGroup) as error:
                failed.append(f"{case.operation.label}: {error}"[:2000])
                raise

    try:
        Admin.run(settings=SCENARIOS)
    except Flaky:  # a replay went another way (above): only the checks' failures count
        assert not failed, "\n\n".join(failed)


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
    positive = schemathesis.GenerationMode.POSITIVE
    _report(_failures(api, lambda operation: _fuzz(operation, positive, KEYS["admin key"], ids)))
