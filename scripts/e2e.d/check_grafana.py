#!/usr/bin/env python3
"""The provisioned Grafana, checked through its HTTP API (scripts/e2e with
BERTH_E2E_ENGINE=docker, where the real Grafana image runs):

  1. GET /api/health answers (database ok), within 120 s;
  2. the datasource uid "berth-prometheus" is provisioned, a Prometheus one, and
     GET /api/datasources/uid/berth-prometheus/health says OK (Grafana reaches it);
  3. every dashboard of deploy/compose/grafana/dashboards/*.json is provisioned
     (GET /api/dashboards/uid/UID: same title, same panel titles, meta.provisioned,
     folder "berth"), and Grafana has no berth dashboard the repository lacks;
  4. every panel's query, sent through Grafana (POST /api/ds/query on the
     datasource), returns at least one series, for the services of this build
     (the same rule as check_panels.py: a dashboard of a service not built is
     reported as skipped, never silently).

usage: check_grafana.py GRAFANA_URL ADMIN_PASSWORD_FILE "SERVICE SERVICE ..."
Exits 1 naming every failure.
"""
import base64
import json
import pathlib
import sys
import time
import urllib.error
import urllib.request

url, password_file, services = sys.argv[1].rstrip("/"), sys.argv[2], set(sys.argv[3].split())
root = pathlib.Path(__file__).resolve().parents[2] / "deploy/compose/grafana/dashboards"
password = pathlib.Path(password_file).read_text().strip()
auth = "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()
failures = []


def needs(dashboard, expr, services):
    """The berth service an expression depends on, if any (check_panels.py's rule)."""
    if dashboard.startswith("berth-") and dashboard != "berth-overview":
        return dashboard.removeprefix("berth-")
    if "multivac_" in expr:
        return "multivac"
    if "berth_health_check_up" in expr:
        return next((s for s in ("users", "rates", "kv", "multivac") if s in services), "users")
    return None


def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, method=method,
                                 headers={"authorization": auth, "content-type": "application/json",
                                          "accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw or b"null")
        except ValueError:
            return e.code, raw.decode("utf-8", "replace")


def fail(msg):
    print(f"    FAIL {msg}", flush=True)
    failures.append(msg)


# 1. health
deadline = time.time() + 120
while True:
    try:
        status, body = call("GET", "/api/health")
        if status == 200 and isinstance(body, dict) and body.get("database") == "ok":
            break
    except (urllib.error.URLError, OSError) as e:
        status, body = None, str(e)
    if time.time() > deadline:
        sys.exit(f"grafana: /api/health not ok after 120 s: {status} {body}")
    time.sleep(2)
print(f"    ok  grafana {body.get('version', '?')}: /api/health database ok", flush=True)

# 2. the datasource
status, ds = call("GET", "/api/datasources/uid/berth-prometheus")
if status != 200:
    fail(f"datasource berth-prometheus: HTTP {status}: {ds}")
elif ds.get("type") != "prometheus":
    fail(f"datasource berth-prometheus has type {ds.get('type')!r}, not prometheus")
else:
    print(f"    ok  datasource berth-prometheus provisioned ({ds.get('url')})", flush=True)
    deadline = time.time() + 60
    while True:
        status, health = call("GET", "/api/datasources/uid/berth-prometheus/health")
        if status == 200 and isinstance(health, dict) and health.get("status") == "OK":
            print("    ok  datasource health: Grafana reaches Prometheus", flush=True)
            break
        if time.time() > deadline:
            fail(f"datasource health: HTTP {status}: {health}")
            break
        time.sleep(2)

# 3. the dashboards (provisioning reads the files at start and every 30 s)
files = {}
for f in sorted(root.glob("*.json")):
    d = json.loads(f.read_text())
    files[d["uid"]] = (f.stem, d)
deadline = time.time() + 60
while True:
    status, found = call("GET", "/api/search?type=dash-db&limit=5000")
    have = {d["uid"] for d in found} if status == 200 and isinstance(found, list) else set()
    if set(files) <= have or time.time() > deadline:
        break
    time.sleep(2)
for uid in sorted(set(files) - have):
    fail(f"dashboard {uid} ({files[uid][0]}.json) is not provisioned")
for d in found if isinstance(found, list) else []:
    if d.get("folderTitle") == "berth" and d["uid"] not in files:
        fail(f"Grafana has a berth dashboard the repository lacks: {d['uid']} {d.get('title')!r}")

exprs = []
skips = {}
for uid, (stem, want) in sorted(files.items()):
    if uid not in have:
        continue
    status, got = call("GET", f"/api/dashboards/uid/{uid}")
    if status != 200:
        fail(f"dashboard {uid}: HTTP {status}: {got}")
        continue
    dash, meta = got["dashboard"], got["meta"]
    problems = []
    if dash.get("title") != want["title"]:
        problems.append(f"title {dash.get('title')!r} != {want['title']!r}")
    got_panels = [p.get("title") for p in dash.get("panels", [])]
    want_panels = [p["title"] for p in want["panels"]]
    if got_panels != want_panels:
        problems.append(f"panels {got_panels} != {want_panels}")
    if not meta.get("provisioned"):
        problems.append("not marked provisioned")
    if meta.get("folderTitle") != "berth":
        problems.append(f"in folder {meta.get('folderTitle')!r}, not 'berth'")
    if problems:
        fail(f"dashboard {uid}: " + "; ".join(problems))
    else:
        print(f"    ok  dashboard {uid}: {len(got_panels)} panels, provisioned in folder berth", flush=True)
    for p in want["panels"]:
        for t in p["targets"]:
            svc = needs(stem, t["expr"], services)
            if svc and svc not in services:
                skips.setdefault(svc, set()).add(f"{stem} / {p['title']}")
            else:
                exprs.append((f"{stem} / {p['title']}", t["expr"]))


# 4. every panel's query through Grafana
def series(expr):
    body = {"from": "now-5m", "to": "now",
            "queries": [{"refId": "A", "datasource": {"type": "prometheus", "uid": "berth-prometheus"},
                         "expr": expr, "instant": True, "range": False}]}
    status, r = call("POST", "/api/ds/query", body)
    if status != 200:
        return f"HTTP {status}: {r}"
    frames = r.get("results", {}).get("A", {}).get("frames", [])
    n = sum(1 for fr in frames if fr.get("data", {}).get("values") and fr["data"]["values"][0])
    return n if n else "no series"


deadline = time.time() + 120
while True:
    answers = {where: series(expr) for where, expr in exprs}
    missing = [(w, e) for w, e in exprs if not isinstance(answers[w], int)]
    if not missing or time.time() > deadline:
        break
    time.sleep(5)
for where, expr in missing:
    fail(f"{where}: Grafana's query {expr!r}: {answers[where]}")
skipped = sum(len(w) for w in skips.values())
for svc, where in sorted(skips.items()):
    print(f"    skip {len(where)} panels: {svc} is not in this build ({', '.join(sorted(where))})")
print(f"grafana: {len(exprs) - len(missing)} panel queries answered through Grafana, "
      f"{len(missing)} without series, {skipped} skipped", flush=True)
if failures:
    sys.exit(f"grafana: {len(failures)} failures")
