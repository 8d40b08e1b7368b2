"""The pre-routing fast path answers exactly as the router does.

Two services on one bundle: one as shipped, one whose fast path never computes
(``plain_query`` forced to decline, so every miss goes through FastAPI's
validation and the router). For generated query strings - valid, invalid and
odd - both must give the same status and, for 200s, the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serving import fastpath
from serving.app import create_app
from tests.conftest import a_client, settings_for
from tests.servers import LOOPBACK

VALUES = {
    "k": ["10", "1", "100", "101", "0", "-1", "abc", "", "05", "10.0", " 7"],
    "exclude_purchased": ["true", "false", "1", "0", "yes", "", "TRUE", "off"],
    "category": ["", "Home", "x" * 128, "x" * 129],
    "exclude": ["85123A", "", "nope", "22423"],
    "other": ["1"],
}
queries = st.lists(
    st.sampled_from(list(VALUES)).flatmap(
        lambda name: st.sampled_from(VALUES[name]).map(lambda value: (name, value))
    ),
    max_size=5,
)


@pytest.fixture(scope="module")
def services(
    bundles: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, TestClient]]:
    tmp = tmp_path_factory.mktemp("fastpath")
    with (
        TestClient(create_app(settings_for(bundles, tmp / "a")), client=LOOPBACK) as shipped,
        TestClient(create_app(settings_for(bundles, tmp / "b")), client=LOOPBACK) as routed,
    ):
        yield shipped, routed


def _same_answer(services: tuple[TestClient, TestClient], who: str, query: str) -> None:
    shipped, routed = services
    url = f"/v1/clients/{who}/recommendations?{query}"
    fast = shipped.get(url)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fastpath, "plain_query", lambda raw: None)  # every miss → router
        slow = routed.get(url)
    assert fast.status_code == slow.status_code, url
    body, reference = fast.json(), slow.json()
    if fast.status_code == 200:  # each response has its own id, in the header too
        body.pop("cached"), reference.pop("cached")
        for answer, parsed in ((fast, body), (slow, reference)):
            assert answer.headers["x-recommendation-id"] == parsed.pop("recommendation_id")
    assert body == reference, url


SINGLE = [f"{name}={quote(value)}" for name, values in VALUES.items() for value in values]


@pytest.mark.parametrize("query", SINGLE)
def test_each_parameter_value_answers_as_the_router(
    services: tuple[TestClient, TestClient], bundles: Path, query: str
) -> None:
    _same_answer(services, a_client(bundles)[0], query)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(params=queries, known=st.booleans())
def test_combinations_answer_as_the_router(
    services: tuple[TestClient, TestClient],
    bundles: Path,
    params: list[tuple[str, str]],
    known: bool,
) -> None:
    who = a_client(bundles)[0] if known else "nobody-knows-me"
    _same_answer(services, who, "&".join(f"{name}={quote(value)}" for name, value in params))


def test_plain_query_declines_what_it_cannot_vouch_for() -> None:
    assert fastpath.plain_query(b"k=5&exclude=a&exclude=b")[0] == 5  # type: ignore[index]
    for raw in (b"k=5&k=6", b"k=0", b"k=abc", b"exclude_purchased=yes", b"category=", b"exclude="):
        assert fastpath.plain_query(raw) is None, raw


def test_a_failing_fast_path_passes_the_request_on_and_counts_it(
    services: tuple[TestClient, TestClient], bundles: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error answering a list before FastAPI is a bug: the request still gets the
    router's answer (the same list), and the failure is counted."""
    shipped, routed = services
    url = f"/v1/clients/{a_client(bundles)[0]}/recommendations?k=7"

    def broken(*args: object) -> None:
        raise RuntimeError("a bug in the fast path")

    monkeypatch.setattr(fastpath, "cached_list", broken)
    answer = shipped.get(url)
    monkeypatch.undo()
    reference = routed.get(url).json()
    metrics = shipped.get("/metrics").text
    assert answer.status_code == 200
    assert [i["item_id"] for i in answer.json()["items"]] == [
        i["item_id"] for i in reference["items"]
    ]
    assert "recsys_fast_path_failures_total 1.0" in metrics
