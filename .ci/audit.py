"""Audit every package installed in the project's virtualenv (the pinned requirements and what they pull
in) for known vulnerabilities with pip-audit, and say plainly how much could actually be checked.

Exit 1 when a known vulnerability is found; a package the vulnerability service cannot look up is
reported as not audited (on a machine that reaches only a package mirror, that can be all of them).
Run: ``make audit`` (CI runs it after ``make test``).
"""

from __future__ import annotations

import json
import subprocess
import sys


def main() -> int:
    cmd = [sys.executable, "-m", "pip_audit", "--local", "--format", "json", "--progress-spinner", "off"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    try:
        deps = json.loads(proc.stdout)["dependencies"]
    except (json.JSONDecodeError, KeyError):
        reason = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"pip-audit: NOT RUN - the vulnerability service could not be used: {reason}")
        return 0
    vulnerable = [d for d in deps if d.get("vulns")]
    skipped = [d for d in deps if "skip_reason" in d]
    audited = len(deps) - len(skipped)
    print(
        f"pip-audit: {len(deps)} installed packages, {audited} audited, {len(skipped)} NOT audited, "
        f"{sum(len(d['vulns']) for d in vulnerable)} known vulnerabilities"
    )
    if skipped:
        names = ", ".join(d["name"] for d in skipped[:8]) + (" ..." if len(skipped) > 8 else "")
        print(f"  not audited (the vulnerability service does not know them here): {names}")
    for d in vulnerable:
        for v in d["vulns"]:
            fix = ", ".join(v.get("fix_versions", [])) or "no fix released"
            print(f"  VULNERABLE {d['name']} {d['version']}: {v['id']} (fixed in: {fix})")
    return 1 if vulnerable else 0


if __name__ == "__main__":
    sys.exit(main())
