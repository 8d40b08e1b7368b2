"""``recsys diff-versions`` on a hand-made pair of bundles whose differences are counted
by hand, and the rank-biased overlap on lists worked out on paper."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from typer.testing import CliRunner

from recsys.bundle import Bundle
from recsys.matrix import InteractionMatrix, MatrixConfig
from recsys.models import PopularScorer
from recsys.rules import RuleIndex
from recsys.vocab import IdMap
from training.cli import app
from training.diff import rank_biased_overlap

runner = CliRunner()

#: Rules as (antecedent ids, consequent id, confidence, lift).
RULES_A = [
    (("x",), "y", 0.5, 2.0),
    (("y",), "x", 0.5, 2.0),
    (("x", "y"), "z", 0.4, 3.0),  # removed in B
    (("w",), "z", 0.3, 1.5),
]
RULES_B = [
    (("x",), "y", 0.5, 2.0),  # the same
    (("y",), "x", 0.7, 2.8),  # changed
    (("w",), "z", 0.3005, 1.5),  # moved less than the tolerance (0.001): unchanged
    (("x",), "z", 0.2, 1.2),  # added
    (("v",), "x", 0.6, 4.0),  # added, the highest lift
]


def _bundle(clients: list[str], items: list[str], rules: list, version: str) -> Bundle:
    """A bundle with popularity, the given rules, and one purchase per client."""
    rows = np.arange(len(clients))
    matrix = sp.csr_matrix(
        (np.ones(len(clients), np.float32), (rows, rows % len(items))),
        shape=(len(clients), len(items)),
    )
    column = {item: i for i, item in enumerate(items)}
    table = pd.DataFrame(
        {
            "antecedents": [tuple(column[i] for i in a) for a, _, _, _ in rules],
            "consequents": [(column[c],) for _, c, _, _ in rules],
            "support": [0.1] * len(rules),
            "confidence": [conf for _, _, conf, _ in rules],
            "lift": [lift for _, _, _, lift in rules],
            "leverage": [0.01] * len(rules),
        }
    )
    data = InteractionMatrix(matrix, IdMap(clients), IdMap(items))
    titles = np.array(items)
    return Bundle(
        data,
        {"popular": PopularScorer().fit(matrix)},
        MatrixConfig(),
        "hand-made",
        titles,
        rules=RuleIndex.from_rules(table, len(items)),
        version=version,
    )


@pytest.fixture
def pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("RECSYS_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    # B orders its items differently: rules are matched by ids, not by columns.
    a = _bundle(["c1", "c2", "c3"], ["w", "x", "y", "z"], RULES_A, "a")
    b = _bundle(["c2", "c3", "c4", "c5"], ["v", "w", "x", "y", "z"], RULES_B, "b")
    return a.save(tmp_path / "a"), b.save(tmp_path / "b")


def test_counts_match_the_hand_count(pair: tuple[Path, Path]) -> None:
    result = runner.invoke(app, ["diff-versions", str(pair[0]), str(pair[1]), "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert found["clients"] == {"added": 2, "removed": 1, "a": 3, "b": 4}  # +c4 c5, −c1
    assert found["items"] == {"added": 1, "removed": 0, "a": 4, "b": 5}  # +v
    rules = found["rules"]
    assert (rules["added"], rules["removed"], rules["changed"]) == (2, 1, 1)
    assert [(r["antecedent"], r["consequent"]) for r in rules["top_added"]] == [
        (["v"], "x"),
        (["x"], "z"),
    ]
    assert [(r["antecedent"], r["consequent"]) for r in rules["top_removed"]] == [(["x", "y"], "z")]
    assert found["sampled_clients"] == 2  # c2 and c3, the clients both know
    assert 0.0 <= found["lists_changed_share"] <= 1.0
    assert 0.0 <= found["rank_biased_overlap"] <= 1.0


def test_a_bundle_against_itself_changes_nothing(pair: tuple[Path, Path]) -> None:
    result = runner.invoke(app, ["diff-versions", str(pair[1]), str(pair[1]), "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert found["rules"]["added"] == found["rules"]["removed"] == found["rules"]["changed"] == 0
    assert found["lists_changed_share"] == 0.0
    assert found["rank_biased_overlap"] == pytest.approx(1.0)


def test_human_output_and_unknown_version(pair: tuple[Path, Path]) -> None:
    result = runner.invoke(app, ["diff-versions", str(pair[0]), str(pair[1])])
    assert result.exit_code == 0, result.output
    assert "rules: 4 → 5 (+2 added, −1 removed, 1 changed)" in result.output
    result = runner.invoke(app, ["diff-versions", "nowhere", str(pair[1])])
    assert result.exit_code == 4 and "version 'nowhere'" in result.output


def test_rank_biased_overlap_known_answers() -> None:
    assert rank_biased_overlap(["a", "b", "c"], ["a", "b", "c"]) == pytest.approx(1.0)
    assert rank_biased_overlap(["a", "b", "c"], ["d", "e", "f"]) == 0.0
    # Overlaps X1 = 1, X2 = 1 ({a,b} vs {a,c}), X3 = 3; p = 0.9:
    # X3/3 · p³ + (1 − p)/p · (1/1 · p + 1/2 · p² + 3/3 · p³) = 0.729 + 2.034/9
    expected = 0.729 + (0.9 + 0.5 * 0.81 + 0.729) / 9
    assert rank_biased_overlap(["a", "b", "c"], ["a", "c", "b"]) == pytest.approx(expected)
    # Swapping the top pair costs more than swapping the bottom pair.
    top = rank_biased_overlap(["a", "b", "c", "d"], ["b", "a", "c", "d"])
    bottom = rank_biased_overlap(["a", "b", "c", "d"], ["a", "b", "d", "c"])
    assert top < bottom < 1.0
