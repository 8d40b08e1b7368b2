"""``recsys experiments report`` and ``simulate``: online results with intervals.

The report reads the service's logs (impressions, events, outcomes: JSON-lines files
or the Redis streams), attributes events to lists (:mod:`recsys.feedback`), and
gives per arm lists, CTR, conversion and revenue per 1,000 lists with 95 %
intervals, the difference to the control with its interval and p-value, and the
sample-ratio-mismatch check. The simulator replays a test period through the real
service in process: train before a cut-off, serve each later client the list of
its arm, count a purchase of a listed item within the window as a conversion.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import redis

from recsys.feedback import Experiment, load_experiments
from serving.event_store import parse_lines
from serving.impressions import decode
from serving.stream import FIELD

__all__ = ["read_impressions", "read_log", "summarise"]


def read_log(source: str, stream: str) -> pd.DataFrame:
    """A service log as a table: a JSON-lines file, or ``redis://…`` (``stream``)."""
    if source.startswith(("redis://", "rediss://", "unix://")):
        client = redis.Redis.from_url(source)
        rows = [orjson.loads(f[FIELD]) for _, f in client.xrange(stream)]
        client.close()
    else:
        path = Path(source)
        rows = parse_lines(path.read_bytes()) if path.exists() else []
    return pd.DataFrame(rows)


def read_impressions(source: str, stream: str = "recsys:impressions") -> pd.DataFrame:
    """The impression log (:func:`serving.impressions.decode`): a file or ``redis://…``."""
    if source.startswith(("redis://", "rediss://", "unix://")):
        client = redis.Redis.from_url(source)
        data = b"".join(f[FIELD] for _, f in client.xrange(stream))
        client.close()
    else:
        path = Path(source)
        data = path.read_bytes() if path.exists() else b""
    return pd.DataFrame(decode(data))


def summarise(found: dict[str, Any]) -> dict[str, Any]:
    """The simulator's JSON: lists, conversion and its interval per arm, the control,
    and the winner (the arm whose conversion differs from every other with p < 0.05
    and is highest), or ``None``."""
    arms = found["arms"]
    best = max(arms, key=lambda a: arms[a]["conversion"])
    others = [a for a in arms if a != best]
    significant = all(_p(found, best, other) < 0.05 for other in others)
    return {
        "arms": {
            name: {"lists": a["lists"], "conversion": a["conversion"], "ci95": a["conversion_ci95"]}
            for name, a in arms.items()
        },
        "control": found["control"],
        "winner": best if significant else None,
        "p_value": {
            a: arms[a].get("vs_control", {}).get("conversion", {}).get("p_value")
            for a in arms
            if a != found["control"]
        },
    }


def _p(found: dict[str, Any], a: str, b: str) -> float:
    """p-value of the conversion difference of arms ``a`` and ``b`` (one is the control
    in a two-arm experiment; with more arms, each is compared with the control)."""
    control = found["control"]
    other = b if a == control else a
    value = found["arms"][other].get("vs_control", {}).get("conversion", {}).get("p_value")
    return 1.0 if value is None else float(value)


def load_experiment(path: Path, name: str | None) -> Experiment:
    """The experiment ``name`` of the file, or its latest one."""
    experiments = load_experiments(path)
    if name is not None:
        return experiments.named(name)
    if not experiments.experiments:
        from recsys.errors import ConfigError

        raise ConfigError(f"{path}: no experiment in the file")
    return max(experiments.experiments, key=lambda e: e.start)
