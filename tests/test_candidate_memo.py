"""The candidate memo: a request whose sources see what an earlier one's saw reuses
their candidates, and its list is the one computed from scratch.

Against the bundle trained on the real sample, with the example analyst rules, clients
drawn from the bundle and items from their histories: each query is asked of a ranking
core without a memo (the reference: every source runs) and, twice, of one with a memo,
after queries of the same clients that differ in what the blend filters (so the memo
answers them), and in what the sources read (so it must not).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest
import yaml

from recsys.bundle import Bundle
from recsys.catalogue import Catalogue, CatalogueItem, ItemFilter
from recsys.privacy import client_hash
from recsys.ranking import HybridRecommender, RankedItem, RequestOptions
from recsys.rules.cross_sell import CrossSellRules, load_cross_sell
from serving.state import ServiceState, load
from tests.conftest import settings_for

ROOT = Path(__file__).resolve().parents[1]
DAY = date(2011, 12, 1)


def _rules(bundle: Bundle) -> CrossSellRules:
    """The example analyst rules, and pinned ones that fire for buyers of the 30 most
    bought items only in one country, one segment, or around :data:`DAY`: so the
    context parts of the key change the lists of the clients drawn."""
    example = load_cross_sell(ROOT / "examples" / "cross_sell.yaml").model_dump()
    buyers = np.diff(bundle.data.matrix.tocsc().indptr)
    top = bundle.data.items.to_ids(np.argsort(-buyers, kind="stable")[:40]).tolist()
    when = {"valid_from": date(2011, 11, 1), "valid_to": date(2011, 12, 31)}
    scoped = [("country", {"countries": ["Germany"]}), ("segment", {"segments": ["basic"]})]
    extra = [
        {"id": f"by-{name}", "if_bought": {"items": top[:30]}, "offer": [top[30 + i]],
         "reason": f"Only by {name}", "pinned": True, **where}
        for i, (name, where) in enumerate([*scoped, ("day", when)])
    ]  # fmt: skip
    return CrossSellRules.model_validate({**example, "rules": [*example["rules"], *extra]})


def _core(bundle: Bundle, memo: int) -> HybridRecommender:
    rules = _rules(bundle)
    found = HybridRecommender(bundle, bundle.rules, rules, today=lambda: DAY, memo=memo)
    ids = bundle.data.clients.ids
    found.set_segments({str(c): ("gold" if i % 3 == 0 else "basic") for i, c in enumerate(ids)})
    return found


def _plain(items: list[RankedItem]) -> list[tuple[str, float, str]]:
    return [
        (i.item_id, i.score, json.dumps([[r.source, r.text, r.evidence] for r in i.reasons]))
        for i in items
    ]


Asked = tuple[str, int, tuple[str, ...], tuple[str, ...], RequestOptions]
"""A client, ``k``, a basket, purchases since training and the options."""


def _queries(bundle: Bundle, rng: np.random.Generator) -> list[Asked]:
    """Per drawn client, queries that differ in what the blend filters and in what the
    sources read (segment, day, purchases since training, bought items allowed)."""
    data, out = bundle.data, []
    known = bundle.categories if bundle.categories is not None else []
    categories = sorted({str(c) for c in known})
    for row in rng.choice(len(data.clients.ids), size=25, replace=False):
        client = str(data.clients.ids[row])
        bought = data.items.to_ids(data.matrix[row].indices).tolist()
        other = [str(i) for i in rng.choice(data.items.ids, size=3, replace=False)]
        shown = tuple(rng.choice(bought, size=min(2, len(bought)), replace=False).tolist())
        base = RequestOptions(segment="gold")
        only = ItemFilter(tuple(categories[:1])) if categories else ItemFilter()
        variants = [
            base,
            replace(base, exclude=(*other[:2], "not-an-item")),
            replace(base, out_of_stock=(other[2],)),
            replace(base, only=only),
            replace(base, max_per_category=1),
            replace(base, exclude_purchased=False),
            replace(base, exclude_purchased=False, exclude=shown),
            replace(base, exclude_purchased=False, bought_only=True),
            replace(base, segment="basic"),
            replace(base, country="Germany"),
            replace(base, day=date(2011, 6, 1)),
            replace(base, exclude_purchased=False, day=date(2011, 6, 1)),
        ]
        for options in variants:
            for k in (5, 10):
                out.append((client, k, (), (), options))
        out.append((client, 10, (other[1],), (), base))  # a basket
        # Purchases since training: a new item (history grows), and one bought before
        # (history the same: one more purchase day for the repeat source).
        out.append((client, 10, (), (other[0],), base))
        out.append((client, 10, (), (bought[0],), replace(base, exclude_purchased=False)))
    return out


@pytest.fixture(scope="module")
def queries(bundle: Bundle) -> list[Asked]:
    return _queries(bundle, np.random.default_rng(11))


def test_a_memoised_list_is_the_list_from_scratch(bundle: Bundle, queries: list[Asked]) -> None:
    fresh, memoised = _core(bundle, 0), _core(bundle, 10_000)
    for client, k, basket, recent, options in [*queries, *queries]:  # the second: all kept
        expected = _plain(fresh.for_client(client, k, basket, options, recent))
        assert _plain(memoised.for_client(client, k, basket, options, recent)) == expected
    # Per client and distinct source-read context, one entry: the filters shared them.
    distinct = {(c, b, r, o.exclude_purchased, o.segment, o.country, o.day)
                for c, _, b, r, o in queries}  # fmt: skip
    assert len(memoised.memo) == len(distinct)
    assert len(fresh.memo) == 0


def test_the_memo_keeps_its_size_and_its_candidates_read_only(bundle: Bundle) -> None:
    core = _core(bundle, 3)
    for client in bundle.data.clients.ids[:6]:
        core.for_client(str(client), 10, (), RequestOptions())
    assert len(core.memo) == 3
    query, kept, _ = next(iter(core.memo._data.values()))
    _, scores = next(iter(kept.values()))
    with pytest.raises(ValueError, match="read-only"):
        scores[0, 0] = 0.0
    with pytest.raises(ValueError, match="read-only"):
        query.history[0] = -1  # the kept query's columns too


def test_new_segments_empty_the_memo_and_k_zero_lists_nothing(bundle: Bundle) -> None:
    core, other = _core(bundle, 100), _core(bundle, 100)
    client = str(bundle.data.clients.ids[0])
    for one in (core, other):
        assert one.for_client(client, 0, (), RequestOptions(segment="gold")) == []
        one.for_client(client, 10, (), RequestOptions(segment="gold"))
        assert len(one.memo) == 1
    core.set_segments({client: "gold"})
    other.share_segments(core)
    assert len(core.memo) == len(other.memo) == 0


def test_served_cores_keep_the_size_and_a_deletion_empties_them(
    bundles: Path, tmp_path: Path
) -> None:
    """The setting reaches the served core, its arms and new analyst rules' cores; a
    deleted client's kept purchases and reasons go with the whole memo of each, the
    cores served before the switch (still answering stale lists) included."""
    arms = [{"name": "a", "share": 50}, {"name": "b", "share": 50, "blend": {"ease": 1.0}}]
    experiments = tmp_path / "experiments.yaml"
    experiment = {"name": "memo", "control": "a", "start": "2020-01-01", "arms": arms}
    experiments.write_text(yaml.safe_dump({"experiments": [experiment]}))
    settings = settings_for(bundles, tmp_path, candidate_cache_size=7, experiments_path=experiments)
    before = load(settings)
    loaded = before.with_cross_sell(before.recommender.cross_sell or CrossSellRules())
    cores = [c for one in (before, loaded) for c in (one.recommender, *one.arms.values())]
    assert len(cores) == 4 and {c.memo.size for c in cores} == {7}
    state = ServiceState(settings, current=loaded, before=before)
    client = str(loaded.bundle.data.clients.ids[0])
    for core in cores:  # every core, the one served before the switch too
        core.for_client(client, 10, (), RequestOptions(), ("an-item",))
    assert all(len(c.memo) == 1 for c in cores)
    state.forget(client_hash(client))
    assert all(len(c.memo) == 0 for c in cores)


def test_kept_reasons_follow_a_retitled_item(bundle: Bundle) -> None:
    """Reasons are kept with the candidates; a title the catalogue changes is in the
    next list's reasons (the memo is emptied), as in a core without a memo."""
    core, fresh = _core(bundle, 100), _core(bundle, 0)
    options = RequestOptions(exclude_purchased=False)
    client = str(bundle.data.clients.ids[int(np.argmax(np.diff(bundle.data.matrix.indptr)))])
    first = core.for_client(client, 10, (), options)
    assert _plain(core.for_client(client, 10, (), options)) == _plain(first)  # kept
    # A re-purchase names its own item: "You bought <title> on …".
    named = next(i.item_id for i in first if any(r.source == "repeat" for r in i.reasons))
    catalogue = Catalogue([CatalogueItem(item_id=named, title="A NEW TITLE")])
    for one in (core, fresh):
        one.facts.sync(catalogue, datetime(2011, 12, 1, tzinfo=UTC))
    again = core.for_client(client, 10, (), options)
    assert _plain(again) == _plain(fresh.for_client(client, 10, (), options))
    said = next(r.text for i in again if i.item_id == named for r in i.reasons)
    assert "A NEW TITLE" in said
