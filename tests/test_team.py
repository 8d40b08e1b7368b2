"""The team report against a hand-counted log; outcomes naming who recorded them.

Report day 2024-03-15, window 7 days (UTC). The log (O = outcome, P = purchase):

  O1  ann   c1 i1 accepted  02-28 10:00   (before the month)
  O2  ann   c1 i2 declined  03-04 09:00
  O3  ann   c2 i3 accepted  03-15 09:00
  O4  ann   c3 i1 postponed 03-15 11:00
  O5  ann   c2 i4 declined  03-15 12:00
  O6  bob   c4 i5 accepted  03-10 10:00
  O7  bob   c5 i5 accepted  03-14 16:00
  O8  bob   c4 i6 declined  03-15 08:00
  O9  key   c6 i7 accepted  03-01 00:00   (key:crm-sync)
  O10 key   c7 i8 postponed 03-12 10:00
  O11 ann   c9 i9 accepted  03-16 09:00   (after the day)

  P1  c1 i1 03-02 10:00  2 × 10  → O1 (2 days after): ann, month
  P2  c1 i1 03-08 10:00  1 × 10  → none (8 days after O1)
  P3  c2 i3 03-15 15:00  3 × 5   → O3: ann, day and month
  P4  c2 i3 03-15 08:00  1 × 5   → none (before O3)
  P5  c4 i5 03-12 10:00  1 × 7.5 → O6: bob, month
  P6  c5 i5 03-15 10:00  1 × 30  → O7: bob, day and month (names a list: still by window)
  P7  c5 i6 03-15 10:30  1 × 99  → none (i6 was declined, not accepted)
  P8  c6 i7 03-07 23:00  1 × 12  → O9: key:crm-sync, month
  P9  c6 i7 03-09 00:00  1 × 12  → none (8 days after O9)
  P10 c9 i9 03-16 10:00  1 × 50  → after the day
  P11 c4 i5 03-16 09:00  1 × 7.5 → after the day
  a view of c2 i3 on 03-15: not a purchase
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from recsys.feedback import Outcome, OutcomeBook, team_report
from training.cli import team
from training.experiments import read_log

DAY = date(2024, 3, 15)
_O = [
    ("user:ann", "c1", "i1", "accepted", "2024-02-28T10:00:00Z"),
    ("user:ann", "c1", "i2", "declined", "2024-03-04T09:00:00Z"),
    ("user:ann", "c2", "i3", "accepted", "2024-03-15T09:00:00Z"),
    ("user:ann", "c3", "i1", "postponed", "2024-03-15T11:00:00Z"),
    ("user:ann", "c2", "i4", "declined", "2024-03-15T12:00:00Z"),
    ("user:bob", "c4", "i5", "accepted", "2024-03-10T10:00:00Z"),
    ("user:bob", "c5", "i5", "accepted", "2024-03-14T16:00:00Z"),
    ("user:bob", "c4", "i6", "declined", "2024-03-15T08:00:00Z"),
    ("key:crm-sync", "c6", "i7", "accepted", "2024-03-01T00:00:00Z"),
    ("key:crm-sync", "c7", "i8", "postponed", "2024-03-12T10:00:00Z"),
    ("user:ann", "c9", "i9", "accepted", "2024-03-16T09:00:00Z"),
]
_P = [  # client, item, time, quantity, price
    ("c1", "i1", "2024-03-02T10:00:00Z", 2, 10.0),
    ("c1", "i1", "2024-03-08T10:00:00Z", 1, 10.0),
    ("c2", "i3", "2024-03-15T15:00:00Z", 3, 5.0),
    ("c2", "i3", "2024-03-15T08:00:00Z", 1, 5.0),
    ("c4", "i5", "2024-03-12T10:00:00Z", 1, 7.5),
    ("c5", "i5", "2024-03-15T10:00:00Z", 1, 30.0),
    ("c5", "i6", "2024-03-15T10:30:00Z", 1, 99.0),
    ("c6", "i7", "2024-03-07T23:00:00Z", 1, 12.0),
    ("c6", "i7", "2024-03-09T00:00:00Z", 1, 12.0),
    ("c9", "i9", "2024-03-16T10:00:00Z", 1, 50.0),
    ("c4", "i5", "2024-03-16T09:00:00Z", 1, 7.5),
]
_KEYS = ("clients_contacted", "offers", "accepted", "declined", "postponed", "orders")


def _figures(*counts: int, revenue: float) -> dict[str, Any]:
    return dict(zip(_KEYS, counts, strict=True)) | {"revenue": revenue}


EXPECTED = {
    "date": "2024-03-15",
    "managers": {
        "ann": {
            # O3 O4 O5: clients c2 c3; 1 accepted, 1 declined, 1 postponed; P3 = 15
            "day": _figures(2, 3, 1, 1, 1, 1, revenue=15.0),
            # O2-O5: clients c1 c2 c3; declined O2 O5; P1 20 (O1 from February) + P3 15
            "month": _figures(3, 4, 1, 2, 1, 2, revenue=35.0),
        },
        "bob": {
            "day": _figures(1, 1, 0, 1, 0, 1, revenue=30.0),  # O8; P6 (from O7)
            "month": _figures(2, 3, 2, 1, 0, 2, revenue=37.5),  # O6-O8: c4 c5; P5 + P6
        },
        "key:crm-sync": {
            "day": _figures(0, 0, 0, 0, 0, 0, revenue=0.0),
            "month": _figures(2, 2, 1, 0, 1, 1, revenue=12.0),  # O9 O10: c6 c7; P8
        },
    },
}


def _outcome(by: str, client: str, item: str, said: str, at: str) -> Outcome:
    until = date(2024, 4, 1) if said == "postponed" else None
    fields = {"client_id": client, "item_id": item, "outcome": said, "channel": "call"}
    return Outcome.model_validate(
        fields | {"until": until, "at": datetime.fromisoformat(at), "by": by}
    )


@pytest.fixture
def logs(tmp_path: Path) -> tuple[Path, Path]:
    """The outcome log and the event log, as the service writes them (JSON lines)."""
    outcomes = tmp_path / "outcomes.jsonl"
    records = [
        {"id": f"o{n}", "outcome": _outcome(*o).model_dump(mode="json")} for n, o in enumerate(_O)
    ]
    outcomes.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    events = [
        {
            "type": "purchase",
            "client_id": c,
            "item_id": i,
            "timestamp": t,
            "quantity": q,
            "price": p,
        }
        for c, i, t, q, p in _P
    ]
    events[5]["recommendation_id"] = "r-from-a-list"  # P6
    events.append(
        {"type": "view", "client_id": "c2", "item_id": "i3", "timestamp": "2024-03-15T16:00:00Z"}
    )
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return outcomes, path


def _read(logs: tuple[Path, Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    return read_log(str(logs[0]), "unused"), read_log(str(logs[1]), "unused")


def test_team_report_matches_the_hand_count(logs: tuple[Path, Path]) -> None:
    assert team_report(*_read(logs), DAY) == EXPECTED


def test_a_shorter_window_keeps_only_the_quick_purchases(logs: tuple[Path, Path]) -> None:
    found = team_report(*_read(logs), DAY, window_days=1)
    # Within a day of the acceptance only P3 (6 h after O3) and P6 (18 h after O7).
    months = {
        m: (f["month"]["orders"], f["month"]["revenue"]) for m, f in found["managers"].items()
    }
    assert months == {"ann": (1, 15.0), "bob": (1, 30.0), "key:crm-sync": (0, 0.0)}


def test_outcomes_without_by_and_empty_logs() -> None:
    old = {"client_id": "c1", "item_id": "i1", "outcome": "declined", "channel": "call"}
    outcomes = pd.DataFrame({"id": ["x"], "outcome": [old | {"at": "2024-03-15T10:00:00Z"}]})
    found = team_report(outcomes, pd.DataFrame(), DAY)
    assert list(found["managers"]) == ["(unknown)"]
    assert found["managers"]["(unknown)"]["day"] == _figures(1, 1, 0, 1, 0, 0, revenue=0.0)
    assert team_report(pd.DataFrame(), pd.DataFrame(), DAY) == {
        "date": "2024-03-15",
        "managers": {},
    }


def _cli(*args: str) -> Any:
    root = typer.Typer()  # as training/cli/__init__.py registers it: ``recsys report``
    root.add_typer(team.app, name="report")
    return CliRunner().invoke(root, ["report", "team", *args])


def test_cli_json_and_table(logs: tuple[Path, Path]) -> None:
    files = ["--date", "2024-03-15", "--outcomes", str(logs[0]), "--events", str(logs[1])]
    result = _cli(*files, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == EXPECTED
    table = _cli(*files)
    assert table.exit_code == 0, table.output
    ann = next(line for line in table.output.splitlines() if line.startswith("ann "))
    # clients, offers, accepted, declined, postponed, orders, revenue: day / month
    assert " ".join(ann.split()) == "ann 2 / 3 3 / 4 1 / 1 1 / 2 1 / 1 1 / 2 15.00 / 35.00"


def test_cli_reads_a_purchases_file_in_another_format(
    logs: tuple[Path, Path], tmp_path: Path
) -> None:
    purchases = pd.DataFrame(_P, columns=["client_id", "item_id", "timestamp", "quantity", "price"])
    path = tmp_path / "sales.csv"
    purchases.assign(order_id=[f"o{n}" for n in range(len(_P))]).to_csv(path, index=False)
    args = ["--date", "2024-03-15", "--outcomes", str(logs[0]), "--events", str(path)]
    result = _cli(*args, "--format", "canonical", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == EXPECTED


def test_cli_refuses_a_bad_date(logs: tuple[Path, Path]) -> None:
    result = _cli("--date", "15/03/2024", "--outcomes", str(logs[0]), "--events", str(logs[1]))
    assert result.exit_code != 0 and "15/03/2024" in result.output


def test_outcome_by_round_trips_and_old_lines_load() -> None:
    said = _outcome("user:ann", "c1", "i1", "declined", "2024-03-15T10:00:00Z")
    assert Outcome.model_validate_json(said.model_dump_json()) == said
    assert said.model_dump(mode="json")["by"] == "user:ann"
    anonymous = said.model_copy(update={"by": None})
    assert Outcome.model_validate_json(anonymous.model_dump_json()).by is None
    old_line = (
        '{"client_id": "c1", "item_id": "i2", "outcome": "accepted", "channel": "call",'
        ' "reason": null, "until": null, "recommendation_id": null, "at": "2024-01-02T10:00:00Z"}'
    )
    old = Outcome.model_validate(orjson.loads(old_line))
    assert old.by is None
    book = OutcomeBook()
    book.record(old)
    book.record(said)
    assert [o.by for o in book.history("c1")] == ["user:ann", None]  # newest first
