"""Screen candidate features of the re-purchase probability on the validation period.

    .venv/bin/python bench/rebuy_features.py [EVENTS] [--cutoff 2010-09-09]
        [--base days,age,quantity,buyers,rate,recent,season] [--try sincev,due,...]
        [--fit-only]

Each candidate is added in turn to ``--base`` (``a+b`` adds two at once). The logistic
model (``recsys.ranking.rebuy._newton``, ridge 1) is fitted on the last weeks before the
validation period (as long as it), features as of their eve, labels what each client
active in them bought there; it then ranks each client's bought items as of the
validation cut-off by the logit, popular items after, and NDCG@10 is read against what
the client bought in the validation period ("pure": no blend, no other source). Nothing
of the test period is read. ``--fit-only`` prints the coefficients fitted on the weeks
before the test cut-off instead (what ``bench/tune_blend.py --include-seen`` fits the
defaults on) and scores nothing.

The features (per pair unless said): ``days`` log distinct purchase days; ``age``
log(1 + days since the last); ``quantity`` log(1 + units a purchase day); ``buyers``
(item) log buyers; ``rate`` (item) the share of its returning buyers (who bought
anything after their first purchase of it) who bought it on two or more days;
``rate_all`` (item) the same share over all buyers; ``recent`` / ``season`` / ``week``
(item) log(1 + buyers whose last purchase falls in the last 14 / 56 / 7 days);
``sincev`` log(1 + the client's purchase days after the pair's last); ``share`` log(the
pair's days / the client's days); ``due`` log(1 + age / the pair's mean interval), 0
when bought on one day; ``idue`` log(1 + age / the item's median interval); ``cage``
log(1 + days since the client's last purchase); ``price`` log(1 + mean price);
``spend`` log(1 + units × price a purchase day); ``tenure`` log(1 + days since the
pair's first purchase).
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from _shared import shared_splits
from tune_blend import cutoff

from recsys.ranking.rebuy import _newton

BASE = "days,age,quantity,buyers,rate,recent,season"
TRY = "sincev,share,due,idue,cage,week,price,spend,tenure,rate_all"
K = 10


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", default=BASE)
    parser.add_argument("--try", dest="candidates", default=TRY)
    parser.add_argument("--fit-only", action="store_true")


def day_lines(events: pd.DataFrame) -> pd.DataFrame:
    """Per (client, item, day): units (positive quantities) and mean price."""
    known = events[events["client_id"].notna()]
    frame = pd.DataFrame(
        {
            "c": known["client_id"].astype(str).to_numpy(),
            "i": known["item_id"].astype(str).to_numpy(),
            "d": known["timestamp"].to_numpy().astype("datetime64[D]").astype(np.int64),
            "q": np.maximum(known["quantity"].to_numpy(np.float64), 0.0),
            "p": known["price"].to_numpy(np.float64),
        }
    )
    return frame.groupby(["c", "i", "d"], as_index=False).agg(q=("q", "sum"), p=("p", "mean"))


def pairs_of(lines: pd.DataFrame, as_of: int) -> pd.DataFrame:
    """Per (client, item): days, first, last, units, price, and the client's and the
    item's columns the features read."""
    g = lines.groupby(["c", "i"], as_index=False).agg(
        days=("d", "size"), first=("d", "min"), last=("d", "max"), q=("q", "sum"), p=("p", "mean")
    )
    visits = lines[["c", "d"]].drop_duplicates()
    g["visits"] = g["c"].map(visits.groupby("c").size()).to_numpy()
    g["newest"] = g["c"].map(visits.groupby("c")["d"].max()).to_numpy()
    rank = visits.assign(r=visits.groupby("c")["d"].rank(method="first"))
    g = g.merge(rank.rename(columns={"d": "last"}), on=["c", "last"], how="left")
    g["age"] = as_of - g["last"]
    g["interval"] = (g["last"] - g["first"]) / np.maximum(g["days"] - 1, 1)
    by_item = g.groupby("i")
    g["buyers"] = by_item["c"].transform("size")
    g["again"] = by_item["days"].transform(lambda x: (x >= 2).sum())
    g["returning"] = (g["first"] < g["newest"]).groupby(g["i"]).transform("sum")
    for name, window in (("n7", 7), ("n14", 14), ("n56", 56)):
        g[name] = (g["last"] > as_of - window).groupby(g["i"]).transform("sum")
    median = g["interval"].where(g["days"] >= 2).groupby(g["i"]).transform("median")
    g["median"] = median.fillna(median.median())
    return g


def features(g: pd.DataFrame, names: list[str], as_of: int) -> np.ndarray:
    """The named columns (and a last column of ones)."""
    per_day = g["q"] / g["days"]
    table = {
        "days": np.log(g["days"]),
        "age": np.log1p(g["age"]),
        "quantity": np.log1p(per_day),
        "buyers": np.log(g["buyers"]),
        "rate": (g["again"] + 1) / (g["returning"] + 2),
        "rate_all": (g["again"] + 1) / (g["buyers"] + 2),
        "recent": np.log1p(g["n14"]),
        "season": np.log1p(g["n56"]),
        "week": np.log1p(g["n7"]),
        "sincev": np.log1p(g["visits"] - g["r"]),
        "share": np.log(g["days"] / g["visits"]),
        "due": np.where(g["days"] >= 2, np.log1p(g["age"] / np.maximum(g["interval"], 1)), 0.0),
        "idue": np.log1p(g["age"] / np.maximum(g["median"], 1)),
        "cage": np.log1p(as_of - g["newest"]),
        "price": np.log1p(np.maximum(g["p"].fillna(0), 0)),
        "spend": np.log1p(np.maximum(per_day * g["p"].fillna(0), 0)),
        "tenure": np.log1p(as_of - g["first"]),
    }
    columns = [np.asarray(table[n], dtype=np.float64) for n in names]
    return np.column_stack([*columns, np.ones(len(g))])


def fit(lines: pd.DataFrame, start: int, end: int, names: list[str]) -> np.ndarray:
    """Coefficients (the intercept last) from the pairs bought before day ``start`` as of
    its eve, labels the purchases of days ``start`` to ``end`` (excluded) of clients
    active then."""
    before = lines[lines["d"] < start]
    g = pairs_of(before, int(before["d"].max()))
    label = lines[(lines["d"] >= start) & (lines["d"] < end)][["c", "i"]].drop_duplicates()
    active = g["c"].isin(set(label["c"])).to_numpy()
    bought = g[active].merge(label.assign(y=1.0), on=["c", "i"], how="left")["y"].fillna(0.0)
    x = features(g[active].reset_index(drop=True), names, int(before["d"].max()))
    return _newton(x, bought.to_numpy(), 1.0)


def ndcg(g: pd.DataFrame, scores: np.ndarray, truth: pd.DataFrame, popular: list[str]) -> float:
    """Mean NDCG@K over the clients of ``truth`` that ``g`` knows: each client's bought
    items by score, then ``popular`` items it did not buy."""
    clients = pd.Index(sorted(set(truth["c"]) & set(g["c"])))
    ranked = g[["c", "i"]].assign(s=scores)
    ranked = ranked[ranked["c"].isin(clients)].sort_values(["c", "s"], ascending=[True, False])
    ranked["pos"] = ranked.groupby("c").cumcount()
    ranked = ranked[ranked["pos"] < K]
    filler = pd.DataFrame({"c": np.repeat(clients, len(popular)), "i": popular * len(clients)})
    filler = filler.merge(ranked[["c", "i"]], how="left", indicator=True)
    filler = filler[filler["_merge"] == "left_only"].drop(columns="_merge")
    counts = ranked.groupby("c").size().reindex(clients, fill_value=0)
    filler["pos"] = filler.groupby("c").cumcount() + filler["c"].map(counts).to_numpy()
    lists = pd.concat([ranked[["c", "i", "pos"]], filler[filler["pos"] < K]])
    hits = lists.merge(truth[["c", "i"]].drop_duplicates(), on=["c", "i"])
    dcg = (1 / np.log2(hits["pos"] + 2)).groupby(hits["c"]).sum().reindex(clients, fill_value=0)
    ideal = np.cumsum(1 / np.log2(np.arange(K) + 2))
    sizes = truth[truth["c"].isin(clients)].drop_duplicates(["c", "i"]).groupby("c").size()
    return float((dcg / ideal[np.minimum(sizes.reindex(clients), K) - 1]).mean())


def main() -> None:
    splits = shared_splits(__doc__ or "", _options)
    args = splits.args
    assert args is not None
    day = lambda t: int(np.datetime64(t, "D").astype(np.int64))  # noqa: E731
    test_cut, validation_cut = day(cutoff(splits.test)), day(cutoff(splits.validation))
    period = test_cut - validation_cut
    base = args.base.split(",")
    sets = [base] + [base + c.split("+") for c in args.candidates.split(",") if c]
    if args.fit_only:
        lines = day_lines(splits.test.train)
        for names in sets:
            print(_coefficients(names, fit(lines, validation_cut, test_cut, names)))
        return
    lines = day_lines(splits.validation.train)
    truth = day_lines(splits.validation.test)
    as_of = int(lines["d"].max())
    g = pairs_of(lines, as_of)
    popular = lines.groupby("i").size().sort_values(ascending=False).index[: 2 * K].tolist()
    for names in sets:
        beta = fit(lines, validation_cut - period, validation_cut, names)
        score = ndcg(g, features(g, names, as_of) @ beta, truth, popular)
        print(f"{'+'.join(names):70s} validation ndcg@{K}={score:.4f}", flush=True)
        print("   ", _coefficients(names, beta))


def _coefficients(names: list[str], beta: np.ndarray) -> str:
    return " ".join(f"{n}={b:+.3f}" for n, b in zip([*names, "intercept"], beta, strict=True))


if __name__ == "__main__":
    main()
