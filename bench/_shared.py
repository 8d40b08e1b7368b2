"""Command-line handling the tuning scripts share: the events file and the time split."""

from __future__ import annotations

import argparse

from recsys.data import load_events
from recsys.split import Split, split_by_time

DEFAULT_EVENTS = "../shared/data/online_retail_ii_2009_2010.csv.gz"


def shared_time_split(description: str) -> Split:
    """Parse ``[EVENTS] [--cutoff DATE]`` and split the Online Retail events by time."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("events", nargs="?", default=DEFAULT_EVENTS)
    parser.add_argument("--cutoff", default="2010-09-09")
    args = parser.parse_args()
    return split_by_time(load_events(args.events, "online-retail").events, args.cutoff)
