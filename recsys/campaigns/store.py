"""Where campaigns live: one directory, three files per campaign.

- ``NAME.yaml``: the definition (what ``PUT /v1/campaigns/NAME`` and an analyst's
  editor write);
- ``NAME.members.jsonl``: the last build's members, one JSON object per line
  (client, group, channel, segment, offers with reasons): who was contacted and who
  held out, read by the report, the contact-pressure check and the CRM screen;
- ``NAME.build.json``: the last build's report (counts, who was left out and why).

Every write replaces a file whole (:func:`recsys._io.write_atomic`): a reader sees a
build or the one before, never half of one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import yaml

from recsys._io import write_atomic
from recsys.campaigns.definition import Campaign, load_campaign
from recsys.campaigns.groups import TREATMENT
from recsys.campaigns.pressure import CONTACT_COLUMNS
from recsys.errors import ConfigError, NotFoundError

__all__ = ["MEMBER_COLUMNS", "CampaignStore"]

#: One member of a built campaign.
MEMBER_COLUMNS = ("client_id", "group", "channel", "segment", "offers", "reasons")


class CampaignStore:
    """The campaigns of one directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def names(self) -> list[str]:
        """Every defined campaign, by name."""
        return sorted(p.name.removesuffix(".yaml") for p in self.root.glob("*.yaml"))

    def definition(self, name: str) -> Campaign:
        """The campaign called ``name`` (:class:`NotFoundError` when there is none)."""
        path = self.root / f"{name}.yaml"
        if not path.is_file():
            raise NotFoundError(f"campaign: no campaign named {name!r} in {self.root}")
        return load_campaign(path)

    def save(self, campaign: Campaign) -> None:
        """Write (or replace) a definition."""
        text = yaml.safe_dump(campaign.model_dump(mode="json", exclude_none=True), sort_keys=False)
        write_atomic(self.root / f"{campaign.name}.yaml", text.encode())

    def record(self, name: str, members: pd.DataFrame, report: dict[str, Any]) -> None:
        """Keep a build: its members (``MEMBER_COLUMNS``), then its report."""
        rows = members.loc[:, list(MEMBER_COLUMNS)].to_dict(orient="records")
        data = b"".join(orjson.dumps(r, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n" for r in rows)
        write_atomic(self.root / f"{name}.members.jsonl", data)
        write_atomic(self.root / f"{name}.build.json", orjson.dumps(report))

    def members(self, name: str) -> pd.DataFrame:
        """The last build's members (no build: an empty table of ``MEMBER_COLUMNS``)."""
        path = self.root / f"{name}.members.jsonl"
        if not path.is_file() or path.stat().st_size == 0:
            return pd.DataFrame(columns=list(MEMBER_COLUMNS))
        rows = [_parsed(path, line) for line in path.read_bytes().splitlines() if line]
        return pd.DataFrame(rows, columns=list(MEMBER_COLUMNS))

    def as_built(self, name: str) -> Campaign:
        """The definition with the holdout share and start its last build used (a
        definition changed since does not move the groups' share or the contacts' day;
        its ``end`` does move the window read)."""
        campaign = self.definition(name)
        built = (self.build_report(name) or {}).get("definition") or {}
        kept = {k: built[k] for k in ("holdout", "start") if k in built}
        return Campaign.model_validate({**campaign.model_dump(), **kept})

    def build_report(self, name: str) -> dict[str, Any] | None:
        """The last build's report, or ``None`` before the first build."""
        path = self.root / f"{name}.build.json"
        return _parsed(path, path.read_bytes()) if path.is_file() else None

    def contacts(self, leave_out: str | None = None) -> pd.DataFrame:
        """Every built campaign's treatment members as contacts at its start (but
        ``leave_out``'s: a rebuild replaces its own)."""
        tables = [self._contacts(n) for n in self.names() if n != leave_out]
        tables = [t for t in tables if not t.empty]
        if not tables:
            return pd.DataFrame(columns=list(CONTACT_COLUMNS))
        return pd.concat(tables, ignore_index=True)

    def _contacts(self, name: str) -> pd.DataFrame:
        members = self.members(name)
        treated = members[members["group"] == TREATMENT]
        if treated.empty:
            return pd.DataFrame(columns=list(CONTACT_COLUMNS))
        start = pd.Timestamp(self.as_built(name).start, tz="UTC")
        return treated.assign(at=start.isoformat(), campaign=name).loc[:, list(CONTACT_COLUMNS)]


def _parsed(path: Path, data: bytes) -> Any:
    """One JSON value of a build's file (a damaged one: :class:`ConfigError` naming it)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise ConfigError(f"{path}: unreadable ({error})") from None
