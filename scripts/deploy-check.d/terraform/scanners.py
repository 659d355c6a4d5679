"""Read a checkov or trivy JSON report; print every failed check; exit 1 if any.

    python3 scanners.py checkov results_json.json
    python3 scanners.py trivy trivy.json

Also prints how many checks passed and were skipped (skips are made at the
resource, with the reason in a comment: scripts/deploy-check.d/terraform.sh).
"""

import json
import sys


def checkov(report):
    reports = report if isinstance(report, list) else [report]
    passed = failed = skipped = 0
    for r in reports:
        s = r.get("summary", {})
        passed += s.get("passed", 0)
        failed += s.get("failed", 0)
        skipped += s.get("skipped", 0)
        for c in r.get("results", {}).get("failed_checks", []):
            print(f"    FAILED {c['check_id']} {c['check_name']}: {c['resource']} ({c['file_path']}:{c['file_line_range']})")
        for c in r.get("results", {}).get("skipped_checks", []):
            reason = (c.get("check_result") or {}).get("suppress_comment") or ""
            if not reason.strip():
                print(f"    SKIPPED WITHOUT A REASON {c['check_id']}: {c['resource']}")
                failed += 1
    if passed == 0:
        print("    checkov checked nothing")
        return 1
    print(f"    checkov: {passed} passed, {failed} failed, {skipped} skipped at the resource with a reason")
    return 1 if failed else 0


def trivy(report):
    failed = passed = ignored = 0
    for r in report.get("Results") or []:
        s = r.get("MisconfSummary") or {}
        passed += s.get("Successes", 0)
        failed += s.get("Failures", 0)
        for m in r.get("Misconfigurations") or []:
            if m.get("Status") == "FAIL":
                print(f"    FAILED {m['ID']} ({m['Severity']}) {m['Title']}: {r['Target']} {m.get('CauseMetadata', {}).get('Resource', '')}")
    print(f"    trivy: {passed} passed, {failed} failed (ignores sit at the resource with a reason)")
    return 1 if failed else 0


if __name__ == "__main__":
    kind, path = sys.argv[1], sys.argv[2]
    with open(path) as f:
        data = json.load(f)
    sys.exit({"checkov": checkov, "trivy": trivy}[kind](data))
