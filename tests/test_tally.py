"""The service's lock-free per-request series expose what prometheus_client's own
``Counter`` and ``Histogram`` expose for the same increments and observations."""

from __future__ import annotations

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from serving._tally import Counts, Timings

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


def _samples(registry: CollectorRegistry) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
    """Every sample of a scrape but the ``_created`` times (ours keep none)."""
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items())), round(s.value, 9))
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.name.endswith("_created")
    }


def test_counts_and_timings_scrape_as_prometheus_client_does() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    counts = Counts("x_requests_total", "requests", ["route", "status"], ours)
    timings = Timings("x_seconds", "latency", ["route"], BUCKETS, ours)
    counter = Counter("x_requests_total", "requests", ["route", "status"], registry=theirs)
    histogram = Histogram("x_seconds", "latency", ["route"], buckets=BUCKETS, registry=theirs)
    rng = np.random.default_rng(7)
    # Bounds themselves, values between and beyond them, and 0.
    values = [*BUCKETS, 0.0, 3.0, 1e-4, *rng.exponential(0.05, 500).tolist()]
    for n, value in enumerate(values):
        route, status = ("/a", "/b")[n % 2], ("200", "404", "503")[n % 3]
        counts.labels(route, status).inc()
        counter.labels(route, status).inc()
        timings.labels(route).observe(value)
        histogram.labels(route).observe(value)
    counts.labels("/a", "200").inc(2.5)
    counter.labels("/a", "200").inc(2.5)
    assert _samples(ours) == _samples(theirs)
