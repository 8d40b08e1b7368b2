"""Why a client is in an audience, in a sentence a manager can say aloud.

The reason is the one of the source with the largest share in the client's score for
the target that counts most for them: the blend's own sources say theirs ("Clients
like this one bought it; it goes with …", "Clients who buy X buy Y: confidence …",
"Popular: …"), rendered from the bundle as a served list's are
(:meth:`~recsys.ranking.HybridRecommender.explain_row`); re-purchases say the client's
rhythm ("Bought it on 3 days, about every 40 days; last 52 days ago: due").
"""

from __future__ import annotations

from datetime import date

import numpy as np
import scipy.sparse as sp

from recsys.audience.scored import Scored, day_number
from recsys.ranking import Blended, HybridRecommender, Reason, RequestOptions
from recsys.ranking.explain import ago
from recsys.repeat import RepeatIndex

__all__ = ["best_target", "reason_for", "repeat_reason"]


def best_target(
    scores: sp.csr_matrix, row: int, subset: np.ndarray, dropped: frozenset[int]
) -> int:
    """The target position (of ``subset``, less ``dropped``) with the row's top score."""
    start, end = scores.indptr[row], scores.indptr[row + 1]
    cols, values = scores.indices[start:end], scores.data[start:end]
    mine = np.isin(cols, subset) & ~np.isin(cols, list(dropped))
    return int(cols[mine][np.argmax(values[mine])])


def reason_for(recommender: HybridRecommender, scored: Scored, row: int, position: int) -> Reason:
    """The reason of the source with the largest share in the row's blend score for the
    target at ``position``."""
    shares = {name: float(part[row, position]) for name, part in scored.parts.items()}
    ordered = sorted((n for n in shares if shares[n] > 0), key=lambda n: -shares[n])
    column = int(scored.targets[position])
    repeats = recommender.bundle.repeats
    if ordered and ordered[0] == "repeat" and repeats is not None:
        return repeat_reason(repeats, row, column, scored.day, float(scored.usual[position]))
    others = {n: np.array([[shares[n]]]) for n in ordered if n != "repeat"}
    score = np.array([[sum(shares.values())]], dtype=np.float32)
    ranked = Blended(np.array([[column]], dtype=np.int64), score, others)
    options = RequestOptions(exclude_purchased=False, day=scored.day)
    found = recommender.explain_row(row, ranked, options)
    reasons = found[0].reasons if found else []
    return reasons[0] if reasons else Reason("blend", "Scored by the blend of the models")


def repeat_reason(index: RepeatIndex, row: int, column: int, day: date, usual: float) -> Reason:
    """A bought item again: the client's rhythm and how due it is on ``day`` (``usual``:
    the item's usual interval, said to a client who bought it once)."""
    days, first, last = (float(m[row, column]) for m in (index.days, index.first, index.last))
    age = max(0, round(day_number(day) - last))
    evidence: dict[str, float | int] = {"days_bought": int(days), "last_days_ago": age}
    if days >= 2:
        every = max((last - first) / (days - 1), 1.0)
        evidence["every_days"] = round(every, 1)
        return Reason("repeat", _rhythm(int(days), every, age), evidence)
    text = f"Bought it once, {ago(age)}"
    if np.isfinite(usual):
        evidence["item_every_days"] = round(usual, 1)
        text += f"; its buyers buy it again about every {usual:.0f} days"
    return Reason("repeat", text, evidence)


def _rhythm(days: int, every: float, age: int) -> str:
    """ "Bought it on 3 days, about every 40 days; last 52 days ago: due" (overdue past
    twice the interval)."""
    state = "due" if age <= 2 * every else "overdue"
    return f"Bought it on {days} days, about every {every:.0f} days; last {age} days ago: {state}"
