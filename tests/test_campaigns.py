"""Building campaigns: holdouts, contact pressure, audiences by kind, offers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.audience import Exclusions
from recsys.bundle import Bundle
from recsys.campaigns import Campaign, CampaignStore, in_holdout, over_cap, parse
from recsys.campaigns.build import Pressure, build_campaign
from recsys.campaigns.offers import GIVEN
from recsys.errors import ConfigError, NotFoundError
from recsys.privacy import client_hash
from recsys.ranking import HybridRecommender, RequestOptions
from recsys.rules.cross_sell import load_cross_sell
from tests.test_audience_api import DAY, most_bought

NOW = datetime(2011, 1, 8, 9, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def recommender(bundle: Bundle) -> HybridRecommender:
    return HybridRecommender(bundle, bundle.rules, None, today=lambda: DAY)


def campaign(name: str = "spring", **fields: object) -> Campaign:
    given: dict[str, object] = {
        "name": name,
        "audience": {"kind": "repeat_due", "size": 200},
        "channel": "email",
        "start": "2011-01-10",
        "end": "2011-02-10",
    }
    return parse({**given, **fields}, "test")


def build(
    recommender: HybridRecommender,
    chosen: Campaign,
    contacts: pd.DataFrame | None = None,
    features: pd.DataFrame | None = None,
    exclusions: Exclusions | None = None,
    cap: int = 2,
) -> pd.DataFrame:
    pressure = Pressure(pd.DataFrame() if contacts is None else contacts, cap, 7)
    table = pd.DataFrame() if features is None else features
    found = build_campaign(recommender, chosen, table, exclusions or Exclusions(), pressure, NOW)
    assert found.report["members"] == len(found.members)
    return found.members


def test_holdout_share_holds_over_100k_ids_and_every_build() -> None:
    ids = [f"client-{i}" for i in range(100_000)]
    for share in (5.0, 10.0, 25.0):
        held = in_holdout("spring", ids, share)
        # within 0.3 percentage points: ~3 standard deviations of a fair hash at 10 %
        assert abs(held.mean() * 100 - share) <= 0.3
        assert np.array_equal(held, in_holdout("spring", list(reversed(ids)), share)[::-1])
    assert not np.array_equal(in_holdout("spring", ids, 10), in_holdout("autumn", ids, 10))
    assert not in_holdout("spring", ids, 0).any()


def test_groups_are_stable_across_builds(recommender: HybridRecommender) -> None:
    first, again = build(recommender, campaign()), build(recommender, campaign())
    assert len(first) == 200
    pd.testing.assert_frame_equal(first, again)
    expected = in_holdout("spring", first["client_id"].tolist(), 10.0)
    assert np.array_equal(first["group"].eq("holdout").to_numpy(), expected)


def bought_by_hand(sample_raw: pd.DataFrame, bundle: Bundle) -> pd.DataFrame:
    """The sample's purchase lines of the bundle's clients and items, from the raw CSV
    (client, item, day), as training's cleaning keeps them."""
    raw = pd.DataFrame({
        "client": sample_raw["Customer ID"].str.removesuffix(".0"),
        "item": sample_raw["StockCode"],
        "day": pd.to_datetime(sample_raw["InvoiceDate"]).dt.floor("D"),
        "quantity": pd.to_numeric(sample_raw["Quantity"]),
        "price": pd.to_numeric(sample_raw["Price"]),
    })  # fmt: skip
    bought = raw[(raw["quantity"] > 0) & (raw["price"] > 0)]
    bought = bought[bought["client"].isin(set(bundle.data.clients.ids))]
    return bought[bought["item"].isin(set(bundle.data.items.ids))]


def repeat_due_by_hand(sample_raw: pd.DataFrame, bundle: Bundle, day: date) -> dict[str, int]:
    """Clients → items due on ``day``, counted from the raw sample (not the index)."""
    bought = bought_by_hand(sample_raw, bundle)
    number = (bought["day"] - pd.Timestamp("1970-01-01")).dt.days
    stats = number.groupby([bought["client"], bought["item"]]).agg(["nunique", "min", "max"])
    stats = stats[stats["nunique"] >= 2]
    every = np.maximum((stats["max"] - stats["min"]) / (stats["nunique"] - 1), 1.0)
    today = (pd.Timestamp(day) - pd.Timestamp("1970-01-01")).days
    due = stats[(today - stats["max"]) >= every]
    return due.groupby(level=0).size().to_dict()


def test_repeat_due_audience_against_a_count_of_the_raw_events(
    recommender: HybridRecommender, bundle: Bundle, sample_raw: pd.DataFrame
) -> None:
    members = build(recommender, campaign(audience={"kind": "repeat_due", "size": 100_000}))
    counts = repeat_due_by_hand(sample_raw, bundle, DAY)
    assert set(members["client_id"]) == set(counts)
    ordered = [counts[c] for c in members["client_id"]]
    assert ordered == sorted(ordered, reverse=True)  # the most items due first


def test_an_item_bought_again_since_training_is_no_longer_due(
    recommender: HybridRecommender, bundle: Bundle, sample_raw: pd.DataFrame
) -> None:
    """Purchases the service accepted since training count: every due item of the
    most-due client, bought again since, takes it out; one of another's lowers its count."""
    bought = bought_by_hand(sample_raw, bundle)
    number = (bought["day"] - pd.Timestamp("1970-01-01")).dt.days
    stats = number.groupby([bought["client"], bought["item"]]).agg(["nunique", "min", "max"])
    stats = stats[stats["nunique"] >= 2]
    every = np.maximum((stats["max"] - stats["min"]) / (stats["nunique"] - 1), 1.0)
    due = stats[((pd.Timestamp(DAY) - pd.Timestamp("1970-01-01")).days - stats["max"]) >= every]
    counts = due.groupby(level=0).size().sort_values(ascending=False, kind="stable")
    top, other = str(counts.index[0]), str(counts.index[counts.to_numpy() >= 2][1])
    since = {
        top: due.loc[top].index.astype(str).tolist(),
        other: due.loc[other].index.astype(str).tolist()[:1],
    }
    chosen = campaign(audience={"kind": "repeat_due", "size": 100_000})
    members = build(recommender, chosen, exclusions=Exclusions(bought_since=since))
    expected = {**counts.to_dict(), other: counts[other] - 1}
    del expected[top]
    assert set(members["client_id"]) == set(expected)
    ordered = [expected[c] for c in members["client_id"]]
    assert ordered == sorted(ordered, reverse=True)


def purchases_by_hand(sample_raw: pd.DataFrame, bundle: Bundle) -> dict[str, int]:
    """Client → distinct (item, day) purchases, counted from the raw sample."""
    bought = bought_by_hand(sample_raw, bundle)
    return bought.drop_duplicates(["client", "item", "day"]).groupby("client").size().to_dict()


def test_segment_and_churn_audiences_follow_the_features(
    recommender: HybridRecommender, bundle: Bundle, sample_features: Path, sample_raw: pd.DataFrame
) -> None:
    features = pd.read_parquet(sample_features)
    champions = campaign(audience={"kind": "segment", "value": "champions", "size": 30})
    members = build(recommender, champions, features=features)
    named = set(features.index[features["segment"] == "champions"])
    assert len(members) == 30 and set(members["client_id"]) <= named
    bought = purchases_by_hand(sample_raw, bundle)
    activity = [bought.get(c, -1) for c in members["client_id"]]
    assert activity == sorted(activity, reverse=True)
    assert min(activity) >= max(bought.get(c, -1) for c in named - set(members["client_id"]))
    risky = build(
        recommender, campaign(audience={"kind": "churn_risk", "size": 20}), features=features
    )
    flagged = features[features["churn_risk"].astype(bool)].sort_values("monetary", ascending=False)
    assert risky["client_id"].tolist() == flagged.index[:20].tolist()


def test_segment_filter_and_deleted_clients_are_left_out(
    recommender: HybridRecommender, bundle: Bundle, sample_features: Path
) -> None:
    features = pd.read_parquet(sample_features)
    chosen = campaign(
        audience={"kind": "item", "value": most_bought(bundle), "size": 40, "segment": "loyal"}
    )
    members = build(recommender, chosen, features=features)
    assert len(members) > 0
    assert set(features.loc[members["client_id"], "segment"]) == {"loyal"}
    gone = members["client_id"].iloc[0]
    again = build(
        recommender, chosen, features=features, exclusions=Exclusions({client_hash(gone)})
    )
    assert gone not in set(again["client_id"])


def contacts_of(members: pd.DataFrame, start: str, channel: str) -> pd.DataFrame:
    treated = members[members["group"] == "treatment"]
    return pd.DataFrame({"client_id": treated["client_id"], "at": f"{start}T00:00:00+00:00",
                         "campaign": "x", "channel": channel})  # fmt: skip


def test_contact_cap_across_two_campaigns_and_channels(
    recommender: HybridRecommender, tmp_path: Path
) -> None:
    store = CampaignStore(tmp_path)
    mail = campaign("mail", audience={"kind": "repeat_due", "size": 60})
    store.save(mail)
    built = build(recommender, mail)
    store.record("mail", built, {})
    treated = set(built.loc[built["group"] == "treatment", "client_id"])
    held = set(built.loc[built["group"] == "holdout", "client_id"])
    # Two days later, by SMS, a cap of one: the mail's treatment members are left out.
    sms = campaign("sms", audience={"kind": "repeat_due", "size": 60}, channel="sms",
                   start="2011-01-12", end="2011-01-30", contact_cap=1)  # fmt: skip
    second = build(recommender, sms, store.contacts(leave_out="sms"))
    assert not treated & set(second["client_id"])
    assert held <= set(second["client_id"])  # the holdout was not contacted
    # Cap 2 lets them in; a week later (the window is 7 days) so does cap 1.
    assert treated <= set(
        build(recommender, sms.model_copy(update={"contact_cap": 2}), store.contacts())["client_id"]
    )
    later = sms.model_copy(update={"start": date(2011, 1, 17)})
    assert treated <= set(build(recommender, later, store.contacts())["client_id"])
    # A manager's logged outcome counts as a contact too.
    one = next(iter(held))
    logged = pd.DataFrame(
        [
            {
                "client_id": one,
                "at": "2011-01-11T15:00:00+00:00",
                "campaign": "outcome",
                "channel": "call",
            }
        ]
    )
    third = build(recommender, sms, pd.concat([store.contacts(), logged]))
    assert one not in set(third["client_id"])


def test_over_cap_counts_within_the_window_on_both_sides() -> None:
    at = pd.Timestamp("2011-01-10", tz="UTC")
    contacts = pd.DataFrame({
        "client_id": ["a", "a", "b", "b", "c"],
        "at": ["2011-01-04T00:00:01Z", "2011-01-16T23:00:00Z",  # both within 7 days
               "2011-01-03T00:00:00Z", "2011-01-17T00:00:00Z",  # exactly 7 days: outside
               "2011-01-10T00:00:00Z"],
        "campaign": "x", "channel": "email",
    })  # fmt: skip
    assert over_cap(contacts, np.array(["a", "b", "c", "d"]), at, 2, 7).tolist() == [
        True,
        False,
        False,
        False,
    ]
    assert over_cap(contacts, np.array(["a", "c"]), at, 1, 7).tolist() == [True, True]


def test_offers_given_targeted_and_next_best(
    recommender: HybridRecommender, bundle: Bundle
) -> None:
    item, other = most_bought(bundle), most_bought(bundle, 1)
    given = campaign(offer={"items": [item, other]})
    members = build(recommender, given, exclusions=None)
    assert all(o == [item, other] for o in members["offers"])
    assert all(r == [GIVEN, GIVEN] for r in members["reasons"])
    first = members["client_id"].iloc[0]
    declined = Exclusions(held_back={first: {item}})
    again = build(recommender, given, exclusions=declined)
    assert again.set_index("client_id").loc[first, "offers"] == [other]
    targeted = build(recommender, campaign(audience={"kind": "item", "value": item, "size": 10}))
    assert all(o == [item] for o in targeted["offers"]) and all(r[0] for r in targeted["reasons"])
    best = build(recommender, campaign(offer={"next_best": 4}))
    for client, offers in zip(best["client_id"][:25], best["offers"][:25], strict=True):
        alone = recommender.for_client(client, 4, options=RequestOptions(exclude_purchased=False))
        assert offers == [i.item_id for i in alone]


def test_uploaded_list_keeps_its_order_and_serves_unknown_clients(
    recommender: HybridRecommender, bundle: Bundle
) -> None:
    known = bundle.data.clients.ids[:3].tolist()
    listed = [known[2], "never-seen", known[0], known[2]]
    members = build(recommender, campaign(audience={"kind": "clients", "clients": listed}))
    assert members["client_id"].tolist() == [known[2], "never-seen", known[0]]
    assert len(members.set_index("client_id").loc["never-seen", "offers"]) == 3  # cold start
    # Two new clients get the cold-start list a request for each would get.
    two = build(recommender, campaign(audience={"kind": "clients", "clients": ["new-1", "new-2"]}))
    alone = recommender.for_client("new-2", 3, options=RequestOptions(exclude_purchased=False))
    assert two["offers"].tolist() == [[i.item_id for i in alone]] * 2


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"audience": {"kind": "item"}}, "value"),
        ({"audience": {"kind": "friends"}}, "audience.kind"),
        ({"audience": {"kind": "clients"}}, "clients"),
        ({"end": "2011-01-01"}, "end"),
        ({"holdout": 80}, "holdout"),
        ({"channel": "E mail"}, "channel"),
        ({"offer": {"next_best": 0}}, "offer.next_best"),
        ({"colour": "red"}, "colour"),
        ({"name": "a/b"}, "name"),
    ],
)
def test_bad_definitions_name_the_field(fields: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        campaign(**fields)


def test_store_round_trip(tmp_path: Path, recommender: HybridRecommender) -> None:
    store = CampaignStore(tmp_path / "campaigns")
    chosen = campaign(holdout=20)
    store.save(chosen)
    assert store.names() == ["spring"] and store.definition("spring") == chosen
    assert store.members("spring").empty and store.build_report("spring") is None
    members = build(recommender, chosen)
    store.record("spring", members, {"members": len(members)})
    back = store.members("spring")
    assert back["client_id"].tolist() == members["client_id"].tolist()
    assert back["offers"].tolist() == members["offers"].tolist()
    assert store.build_report("spring") == {"members": len(members)}
    contacts = store.contacts()
    assert len(contacts) == int((members["group"] == "treatment").sum())
    assert set(contacts["at"]) == {"2011-01-10T00:00:00+00:00"}


def test_the_report_counts_every_capped_client_of_a_short_audience(
    recommender: HybridRecommender, bundle: Bundle
) -> None:
    listed = bundle.data.clients.ids[:5].tolist()
    contacts = pd.DataFrame({"client_id": listed[1:3], "at": "2011-01-09T12:00:00+00:00",
                             "campaign": "x", "channel": "sms"})  # fmt: skip
    chosen = campaign(audience={"kind": "clients", "clients": listed})
    pressure = Pressure(contacts, 1, 7)
    found = build_campaign(recommender, chosen, pd.DataFrame(), Exclusions(), pressure, NOW)
    assert found.members["client_id"].tolist() == [listed[0], *listed[3:]]
    assert found.report["over_cap"] == 2 and found.report["members"] == 3


def test_an_uploaded_list_is_whole_unless_a_size_is_given() -> None:
    ids = [f"c{i}" for i in range(1500)]
    assert campaign(audience={"kind": "clients", "clients": ids}).audience.size == 1500
    assert campaign(audience={"kind": "clients", "clients": ids, "size": 10}).audience.size == 10
    with pytest.raises(ConfigError, match="clients"):
        campaign(audience={"kind": "clients", "clients": ["a", ""]})


def test_clients_without_an_offer_left_and_unknown_given_items_refused(
    recommender: HybridRecommender, bundle: Bundle
) -> None:
    item = most_bought(bundle)
    listed = bundle.data.clients.ids[:4].tolist()
    chosen = campaign(audience={"kind": "clients", "clients": listed}, offer={"items": [item]})
    declined = Exclusions(held_back={listed[1]: {item}})
    pressure = Pressure(pd.DataFrame(), 2, 7)
    found = build_campaign(recommender, chosen, pd.DataFrame(), declined, pressure, NOW)
    assert listed[1] not in set(found.members["client_id"])
    assert found.report["without_offers"] == 1 and found.report["members"] == 3
    typo = campaign(offer={"items": [item, "NO-SUCH-ITEM"]})
    with pytest.raises(NotFoundError, match=r"offer\.items\.1: unknown item 'NO-SUCH-ITEM'"):
        build_campaign(recommender, typo, pd.DataFrame(), Exclusions(), pressure, NOW)


def test_the_store_reads_the_share_and_start_a_build_used(
    tmp_path: Path, recommender: HybridRecommender
) -> None:
    store = CampaignStore(tmp_path)
    chosen = campaign(holdout=20)
    store.save(chosen)
    found = build_campaign(recommender, chosen, pd.DataFrame(), Exclusions(),
                           Pressure(pd.DataFrame(), 2, 7), NOW)  # fmt: skip
    store.record("spring", found.members, found.report)
    store.save(chosen.model_copy(update={"holdout": 40.0, "start": date(2011, 1, 20)}))
    built = store.as_built("spring")
    assert built.holdout == 20 and built.start == date(2011, 1, 10)
    assert set(store.contacts()["at"]) == {"2011-01-10T00:00:00+00:00"}
    (tmp_path / "spring.members.jsonl").write_text("{not json\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"spring\.members\.jsonl"):
        store.members("spring")


def test_purchases_since_training_count_as_history_in_next_best_offers(
    recommender: HybridRecommender, bundle: Bundle
) -> None:
    listed = bundle.data.clients.ids[:3].tolist()
    item = most_bought(bundle)
    chosen = campaign(audience={"kind": "clients", "clients": listed})
    since = Exclusions(bought_since={listed[1]: {item}})
    pressure = Pressure(pd.DataFrame(), 2, 7)
    found = build_campaign(recommender, chosen, pd.DataFrame(), since, pressure, NOW)
    offers = found.members.set_index("client_id")["offers"]
    options = RequestOptions(exclude_purchased=False)
    as_a_request = recommender.for_client(listed[1], 3, options=options, recent=(item,))
    assert offers[listed[1]] == [i.item_id for i in as_a_request]
    plain = recommender.for_client(listed[0], 3, options=options)
    assert offers[listed[0]] == [i.item_id for i in plain]


def test_every_item_of_the_bundle_may_be_given(
    recommender: HybridRecommender, bundle: Bundle
) -> None:
    from recsys.campaigns.build import _known_offers

    ids = [str(i) for i in bundle.data.items.ids]
    for start in range(0, len(ids), 20):
        _known_offers(recommender, campaign(offer={"items": ids[start : start + 20]}))


def test_next_best_offers_fire_analyst_rules_for_the_members_country(
    bundle: Bundle, sample_raw: pd.DataFrame
) -> None:
    """A rule aimed at one country (the shipped example: Regency teacups → the saucer,
    United Kingdom only) fires in a campaign's offers as on each member's CRM screen:
    the offers equal the list ranked for the client with its segment and country."""
    rules = load_cross_sell(ROOT / "examples" / "cross_sell.yaml")
    recommender = HybridRecommender(bundle, bundle.rules, rules, today=lambda: DAY)
    bought = bought_by_hand(sample_raw, bundle)
    cups = set(bought.loc[bought["item"].isin(["22697", "22699"]), "client"])
    clients = sorted(cups - set(bought.loc[bought["item"] == "22698", "client"]))[:30]
    assert len(clients) >= 5
    features = pd.DataFrame(
        {"segment": ["champions", None] * 15, "favourite_country": "United Kingdom"},
        index=pd.Index(clients + [f"other-{i}" for i in range(30 - len(clients))]),
    )
    chosen = campaign(audience={"kind": "clients", "clients": clients}, offer={"next_best": 5})
    members = build(recommender, chosen, features=features)
    for client, offers in zip(members["client_id"], members["offers"], strict=True):
        seen = features.loc[client]
        options = RequestOptions(
            exclude_purchased=False, segment=seen["segment"], country="United Kingdom"
        )
        assert offers == [i.item_id for i in recommender.for_client(client, 5, options=options)]
    said = [r for reasons in members["reasons"] for r in reasons]
    assert any("Regency teacups" in r for r in said)  # the rule did fire
    elsewhere = build(recommender, chosen)  # no country known: the rule stays silent
    assert not any("Regency teacups" in r for rs in elsewhere["reasons"] for r in rs)


def test_features_with_a_client_twice_read_its_last_row(
    recommender: HybridRecommender, bundle: Bundle
) -> None:
    """Client ids that repeat once read as text (an int and a str) do not stop a build:
    the last row counts, as for the segment column."""
    client = str(bundle.data.clients.ids[0])
    features = pd.DataFrame(
        {"segment": ["loyal", "champions"], "favourite_country": ["France", "Germany"]},
        index=pd.Index([int(client), client], dtype=object),
    )
    chosen = campaign(audience={"kind": "clients", "clients": [client]}, offer={"next_best": 3})
    members = build(recommender, chosen, features=features)
    assert members["segment"].tolist() == ["champions"]
