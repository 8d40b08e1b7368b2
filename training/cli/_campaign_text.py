"""How ``recsys campaign`` prints: the build summary and the effect table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["built", "numbers", "report"]


def built(found: dict[str, Any], out: Path) -> str:
    """One line per build."""
    return (
        f"{found['campaign']}: {found['members']} members ({found['treatment']} treatment, "
        f"{found['holdout']} holdout); {found['over_cap']} left out over the contact cap; "
        f"contact list written to {out}"
    )


def _interval(pair: list[float] | None) -> str:
    return "—" if pair is None else f"[{pair[0]:+.4g}, {pair[1]:+.4g}]"


def report(name: str, found: dict[str, Any]) -> str:
    """The effect table: a row per metric."""
    clients = found["clients"]
    lines = [
        f"campaign {name}: treatment {clients['treatment']}, holdout {clients['holdout']}",
        f"{'metric':<28}{'treatment':>11}{'holdout':>11}{'difference':>12}  "
        f"{'95% CI':<22}{'CUPED 95% CI':<22}{'DiD':>10}{'MDE':>10}",
    ]
    for metric, m in found["metrics"].items():
        lines.append(
            f"{metric:<28}{_number(m['treatment']):>11}{_number(m['holdout']):>11}"
            f"{_number(m['difference']):>12}  {_interval(m['ci95']):<22}"
            f"{_interval(m['cuped_ci95']):<22}{_number(m['did']):>10}"
            f"{_number(m.get('mde')):>10}"
        )
    srm = found["srm_p"]
    flag = "MISMATCH" if found.get("srm_mismatch") else "ok"
    lines.append(f"sample ratio: p = {'—' if srm is None else f'{srm:.3g}'} ({flag})")
    return "\n".join(lines)


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def numbers(found: dict[str, Any]) -> dict[str, Any]:
    """The report's figures MLflow can log (no ``None``)."""
    keep = ("treatment", "holdout", "difference", "ci95", "cuped_ci95", "did", "relative", "mde")
    out: dict[str, Any] = {
        f"{metric}.{key}": m[key]
        for metric, m in found["metrics"].items()
        for key in keep
        if m.get(key) is not None
    }
    if found.get("srm_p") is not None:
        out["srm_p"] = found["srm_p"]
    return out
