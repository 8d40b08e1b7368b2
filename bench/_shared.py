"""Command-line handling the tuning scripts share: the events file and the two splits.

Tuning never sees the reported test period: each grid is scored on a validation split
inside the train part (as long as the test period, at most half the train part, just
before the cut-off),
and only the chosen point is then refitted on the whole train part and scored on the
test period, once.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import NamedTuple

import pandas as pd

from recsys.data import load_events
from recsys.split import Split, split_by_time

DEFAULT_EVENTS = "../shared/data/online_retail_ii_2009_2010.csv.gz"


class Splits(NamedTuple):
    """The validation split (tune on it) and the test split (report the winner on it)."""

    validation: Split
    test: Split
    include_seen: bool
    args: argparse.Namespace | None = None
    """Every parsed option (a script's own ones too)."""


def shared_splits(
    description: str, options: Callable[[argparse.ArgumentParser], None] | None = None
) -> Splits:
    """Parse ``[EVENTS] [--cutoff DATE] [--include-seen]`` (and what ``options`` adds);
    the validation cut-off is as far before the test cut-off as the data's end is after
    it, at most half the train part's span."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("events", nargs="?", default=DEFAULT_EVENTS)
    parser.add_argument("--cutoff", default="2010-09-09")
    parser.add_argument("--include-seen", action="store_true")
    if options is not None:
        options(parser)
    args = parser.parse_args()
    test = split_by_time(load_events(args.events, "online-retail").events, args.cutoff)
    cut = pd.Timestamp(args.cutoff)
    # As long as the test period, but never more than half the train part (an early
    # cut-off keeps months to train on before its validation period).
    period = min(
        test.test["timestamp"].max().normalize() - cut,
        (cut - test.train["timestamp"].min().normalize()) / 2,
    )
    validation = split_by_time(test.train, (cut - period).normalize())
    print(f"validation: {cut - period:%Y-%m-%d}..{cut:%Y-%m-%d}; test from {cut:%Y-%m-%d}")
    return Splits(validation, test, args.include_seen, args)
