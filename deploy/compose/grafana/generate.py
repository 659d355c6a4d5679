#!/usr/bin/env python3
"""Writes the Grafana dashboards in dashboards/ (run it after editing; commit the JSON).

berth-overview.json plus one berth-<service>.json per service. Every panel uses
the datasource uid "berth-prometheus" (provisioning/datasources/prometheus.yml)
and plain PromQL with fixed ranges, so scripts/e2e can run each expression
against the live Prometheus and require at least one series.
"""
import json
import pathlib

DS = {"type": "prometheus", "uid": "berth-prometheus"}
OUT = pathlib.Path(__file__).resolve().parent / "dashboards"


def panel(title, exprs, unit="short", kind="timeseries", legend="{{service}}", w=12, h=8):
    targets = []
    for i, e in enumerate(exprs if isinstance(exprs, list) else [exprs]):
        expr, fmt = e if isinstance(e, tuple) else (e, legend)
        targets.append({"datasource": DS, "expr": expr, "legendFormat": fmt, "refId": chr(65 + i)})
    p = {
        "type": kind,
        "title": title,
        "datasource": DS,
        "targets": targets,
        "gridPos": {"w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
    }
    if kind == "stat":
        p["options"] = {"colorMode": "background", "reduceOptions": {"calcs": ["lastNotNull"]}}
        p["fieldConfig"]["defaults"]["mappings"] = [
            {"type": "value", "options": {"0": {"text": "DOWN", "color": "red"}, "1": {"text": "UP", "color": "green"}}}
        ]
        p["fieldConfig"]["defaults"]["thresholds"] = {
            "mode": "absolute",
            "steps": [{"color": "red", "value": None}, {"color": "green", "value": 1}],
        }
    return p


def layout(panels):
    x = y = 0
    row_h = 0
    for i, p in enumerate(panels):
        g = p["gridPos"]
        if x + g["w"] > 24:
            x, y = 0, y + row_h
            row_h = 0
        g["x"], g["y"] = x, y
        x += g["w"]
        row_h = max(row_h, g["h"])
        p["id"] = i + 1
    return panels


def dashboard(uid, title, panels, tags):
    return {
        "uid": uid,
        "title": title,
        "tags": ["berth"] + tags,
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "10s",
        "time": {"from": "now-30m", "to": "now"},
        "panels": layout(panels),
        "links": [{"type": "dashboards", "tags": ["berth"], "asDropdown": True, "title": "berth"}],
    }


def http_panels(svc):
    sel = f'service="{svc}"'
    return [
        panel("Requests/s by route and status",
              f"sum by (route, status) (rate(http_requests_total{{{sel}}}[5m]))", "reqps",
              legend="{{route}} {{status}}"),
        panel("5xx ratio",
              f'(sum(rate(http_requests_total{{{sel}, status=~"5.."}}[5m])) or vector(0))'
              f" / sum(rate(http_requests_total{{{sel}}}[5m]))", "percentunit", legend="5xx"),
        panel("Latency p50 / p99 by route", [
            (f"histogram_quantile(0.5, sum by (route, le) (rate(http_request_duration_seconds_bucket{{{sel}}}[5m])))", "p50 {{route}}"),
            (f"histogram_quantile(0.99, sum by (route, le) (rate(http_request_duration_seconds_bucket{{{sel}}}[5m])))", "p99 {{route}}"),
        ], "s"),
    ]


def process_panels(job):
    return [
        panel("Up", f'up{{job="{job}"}}', kind="stat", legend="{{instance}}", w=6),
        panel("Resident memory", f'process_resident_memory_bytes{{job="{job}"}}', "bytes", legend="{{instance}}", w=9),
        panel("CPU", f'rate(process_cpu_seconds_total{{job="{job}"}}[5m])', "percentunit", legend="{{instance}}", w=9),
    ]


def health_panel(svc):
    return panel("Readiness checks (1 = ok)", f'berth_health_check_up{{service="{svc}"}}',
                 legend="{{check}}", w=24, h=6)


overview = [
    panel("Services up", "up", kind="stat", legend="{{job}}", w=24, h=4),
    panel("Requests/s per service", "sum by (service) (rate(http_requests_total[5m]))", "reqps"),
    panel("5xx error ratio per service",
          'sum by (service) (rate(http_requests_total{status=~"5.."}[5m]))'
          " / sum by (service) (rate(http_requests_total[5m]))"
          " or sum by (service) (rate(http_requests_total[5m])) * 0", "percentunit"),
    panel("Latency p50 per service",
          "histogram_quantile(0.5, sum by (service, le) (rate(http_request_duration_seconds_bucket[5m])))", "s"),
    panel("Latency p99 per service",
          "histogram_quantile(0.99, sum by (service, le) (rate(http_request_duration_seconds_bucket[5m])))", "s"),
    panel("Readiness checks (1 = ok)", "berth_health_check_up", legend="{{service}} {{check}}"),
    panel("multivac queue depth", [("multivac_queue_length", "queued"), ("multivac_dead_letters", "dead letters")],
          legend="{{job}}"),
]

services = {
    "clock": ([], None),
    "users": ([health_panel("users")], None),
    "rates": ([health_panel("rates")], None),
    "kv": ([health_panel("kv"),
            panel("Sets by outcome", "sum by (outcome) (rate(kv_sets_total[5m]))", "ops", legend="{{outcome}}")], None),
    "multivac": ([health_panel("multivac"),
                  panel("Queue", [("multivac_queue_length", "queued"), ("multivac_dead_letters", "dead letters"),
                                  ("multivac_records", "records")], legend="{{job}}"),
                  panel("Queued / processed per second", [
                      ("sum(rate(multivac_queued_total[5m]))", "queued"),
                      ("sum(rate(multivac_processed_total[5m]))", "processed"),
                  ], "ops"),
                  panel("Processing time p99",
                        "histogram_quantile(0.99, sum by (le) (rate(multivac_processing_duration_seconds_bucket[5m])))",
                        "s", legend="p99"),
                  health_panel("multivac-worker"),
                  ] + process_panels("multivac-worker"), None),
}

OUT.mkdir(exist_ok=True)
files = {"berth-overview.json": dashboard("berth-overview", "berth: overview", overview, ["overview"])}
for svc, (extra, _) in services.items():
    panels = process_panels(svc) + http_panels(svc) + extra
    files[f"berth-{svc}.json"] = dashboard(f"berth-{svc}", f"berth: {svc}", panels, [svc])
for name, d in files.items():
    (OUT / name).write_text(json.dumps(d, indent=2) + "\n")
print("wrote", ", ".join(sorted(files)))
