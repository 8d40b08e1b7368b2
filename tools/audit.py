"""Dependency audit: pip-audit over the installed environment (PyPI advisory data).

    .venv/bin/python tools/audit.py

Prints every known vulnerability; exits 1 when one of them has a fixed version
to move to (something we can act on), 0 otherwise. Called by scripts/test.sh.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


def main() -> int:
    report = _report() or _report()  # one retry: the advisory service is on the network
    if report is None:
        return 2
    found = [(d, v) for d in report["dependencies"] for v in d.get("vulns", [])]
    fixable = [(d, v) for d, v in found if v.get("fix_versions")]
    for dependency, vuln in found:
        fix = ", ".join(vuln.get("fix_versions") or []) or "no fix released"
        print(f"{dependency['name']} {dependency['version']}: {vuln['id']} (fix: {fix})")
    print(
        f"pip-audit: {len(report['dependencies'])} packages, {len(found)} known "
        f"vulnerabilities, {len(fixable)} with a fix available"
    )
    return 1 if fixable else 0


def _report() -> dict[str, Any] | None:
    """pip-audit's JSON report, or ``None`` (said on stderr) when it gave none."""
    command = [str(BIN / "pip-audit"), "--skip-editable", "--progress-spinner", "off", "-f", "json"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        report: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError:
        print(f"pip-audit gave no report (exit {done.returncode}):\n{done.stderr}", file=sys.stderr)
        return None
    return report


if __name__ == "__main__":
    raise SystemExit(main())
