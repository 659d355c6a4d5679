#!/usr/bin/env python3
"""Every Grafana panel's PromQL must return at least one series from the live
Prometheus (Grafana itself cannot run in CI). Also: every scrape target is up.

usage: check_panels.py PROMETHEUS_URL "SERVICE SERVICE ..."

A dashboard or expression about a service that this build does not have (not in
the list from `berth serve --help`) is reported as skipped, never silently.
"""
import json
import pathlib
import sys
import time
import urllib.parse
import urllib.request

prom, services = sys.argv[1], set(sys.argv[2].split())
root = pathlib.Path(__file__).resolve().parents[2] / "deploy/compose/grafana/dashboards"


def query(expr):
    url = f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"{expr}: {body}")
    return body["data"]["result"]


def needs(dashboard, expr):
    """The berth service an expression depends on, if any."""
    if dashboard.startswith("berth-") and dashboard != "berth-overview":
        return dashboard.removeprefix("berth-")
    if "multivac_" in expr:
        return "multivac"
    if "berth_health_check_up" in expr:
        # Only services with a store have readiness checks (clock has none).
        return next((s for s in ("users", "rates", "kv", "multivac") if s in services), "users")
    return None


# Targets: every job of a service in this build, and prometheus, must be up.
deadline = time.time() + 60
while True:
    down = [r["metric"] for r in query("up == 0")]
    jobs = {r["metric"]["job"] for r in query("up == 1")}
    want = {"prometheus"} | services | ({"multivac-worker"} if "multivac" in services else set())
    relevant_down = [m for m in down if m["job"] in want]
    if not relevant_down and want <= jobs:
        break
    if time.time() > deadline:
        sys.exit(f"targets not up after 60 s: down={relevant_down} missing={want - jobs}")
    time.sleep(2)
print(f"    ok  targets up: {', '.join(sorted(want))}")

# Every panel's expressions, but those of a service not in this build.
exprs = []
skips = {}
for f in sorted(root.glob("*.json")):
    dash = json.loads(f.read_text())
    for p in dash["panels"]:
        for t in p["targets"]:
            expr = t["expr"]
            svc = needs(f.stem, expr)
            if svc and svc not in services:
                skips.setdefault(svc, set()).add(f"{f.stem} / {p['title']}")
            else:
                exprs.append((f"{f.stem} / {p['title']}", expr))

# A rate() has a series only once two scrapes saw its counter, and a new target is
# found and scraped within a DNS refresh and a scrape interval: ask again until every
# expression answers, for at most 120 s.
deadline = time.time() + 120
while True:
    missing = [(where, expr) for where, expr in exprs if not query(expr)]
    if not missing or time.time() > deadline:
        break
    time.sleep(5)
for where, expr in missing:
    print(f"    FAIL {where}: no series for {expr}")
skipped = sum(len(w) for w in skips.values())
for svc, where in sorted(skips.items()):
    print(f"    skip {len(where)} panels: {svc} is not in this build ({', '.join(sorted(where))})")
print(f"panels: {len(exprs) - len(missing)} queries with series, {len(missing)} without, {skipped} skipped")
sys.exit(1 if missing else 0)
