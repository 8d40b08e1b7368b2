"""Counters and a histogram for the per-request series, read by the registry at scrape
time like any collector.

prometheus_client's own ``Counter.inc`` and ``Histogram.observe`` take a lock and check
the metric each call; a cached list bumps five such values (requests, latency sum and
bucket, cache, lookups): a fifth of a hit's CPU in process (cProfile, 30,000 hits). These
are bumped on the event loop's thread only (ASGI layers and async routes), so a plain
addition is exact; nothing else writes them.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

__all__ = ["Counts", "Tally", "Timing", "Timings"]


class Tally:
    """One labelled counter's value."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        """Add ``amount`` (on the event loop's thread)."""
        self.value += amount


class Timing:
    """One labelled histogram's per-bucket counts (not cumulative) and sum."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds, self.counts, self.sum = bounds, [0] * (len(bounds) + 1), 0.0

    def observe(self, value: float) -> None:
        """Count ``value`` in the first bucket whose upper bound holds it (``+Inf`` last)."""
        self.sum += value
        self.counts[bisect_left(self.bounds, value)] += 1


class Counts:
    """A labelled counter family; ``name`` as prometheus_client's ``Counter`` takes it."""

    def __init__(
        self, name: str, documentation: str, labels: Sequence[str], registry: CollectorRegistry
    ) -> None:
        self.name, self.documentation, self.labelnames = name, documentation, list(labels)
        self.children: dict[tuple[str, ...], Tally] = {}
        registry.register(self)

    def labels(self, *values: str) -> Tally:
        """The child of ``values`` (resolve once, then ``inc`` it)."""
        return self.children.setdefault(values, Tally())

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for values, tally in list(self.children.items()):
            family.add_metric(list(values), tally.value)
        yield family


class Timings:
    """A labelled histogram family with the upper bounds ``buckets`` (``+Inf`` added)."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labels: Sequence[str],
        buckets: Sequence[float],
        registry: CollectorRegistry,
    ) -> None:
        self.name, self.documentation, self.labelnames = name, documentation, list(labels)
        self.bounds = tuple(float(b) for b in buckets)
        self.children: dict[tuple[str, ...], Timing] = {}
        registry.register(self)

    def labels(self, *values: str) -> Timing:
        """The child of ``values`` (resolve once, then ``observe`` with it)."""
        found = self.children.get(values)
        if found is None:
            found = self.children[values] = Timing(self.bounds)
        return found

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for values, timing in list(self.children.items()):
            running, buckets = 0, []
            for bound, count in zip((*self.bounds, float("inf")), timing.counts, strict=True):
                running += count
                buckets.append((_le(bound), float(running)))
            family.add_metric(list(values), buckets, timing.sum)
        yield family


def _le(bound: float) -> str:
    """A bucket's ``le`` label as prometheus_client writes it."""
    return "+Inf" if bound == float("inf") else repr(bound)
