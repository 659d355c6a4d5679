"""Write what `scripts/deploy-check helm` measured into docs/benchmarks.md, between
<!-- helm:begin --> and <!-- helm:end --> (helm.sh calls it when BERTH_HELM_RECORD=1).

  record.py WORK "KEY=SECONDS ..."     WORK: the run's directory (render-times.json,
                                       podman/podman-figures.json); KEY: helm.sh's steps
Environment: BERTH_HELM_TOTAL (seconds of the whole run).
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import platform
import subprocess
import sys

import helmlib


def sh(*cmd: str) -> str:
    try:
        return subprocess.run(cmd, text=True, capture_output=True, timeout=30).stdout.strip()
    except OSError:
        return "?"


def machine() -> str:
    mem = next((int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0)
    osname = next((line.split("=", 1)[1].strip().strip('"') for line in open("/etc/os-release")
                   if line.startswith("PRETTY_NAME=")), "?")
    return f"{os.cpu_count()} cores, {mem / 1024 / 1024:.0f} GiB, {osname}, {platform.release()}"


def main() -> None:
    work = pathlib.Path(sys.argv[1])
    took = dict(kv.split("=", 1) for kv in sys.argv[2].split())
    renders = json.loads((work / "render" / "render-times.json").read_text())
    figures_file = work / "podman-figures.json"
    figures = json.loads(figures_file.read_text()) if figures_file.exists() else {}
    import helm_python

    rows = [
        ("render (Helm SDK " + helm_python.helm_sdk_version() + ", in process), per profile",
         ", ".join(f"{p} {v['seconds']:.2f} s ({v['objects']} objects)" for p, v in renders.items())),
        ("helm lint --strict: 4 profiles x 3 Kubernetes versions", f"{took.get('2', '?')} s"),
        ("kubernetes-validate --strict: 4 renderings x 1.30, 1.32, 1.34", f"{took.get('4', '?')} s"),
        ("checkov (kubernetes) + trivy config (chart and renderings)", f"{took.get('6', '?')} s"),
        ("pytest deploy/helm/tests", f"{took.get('7', '?')} s"),
    ]
    if figures:
        stores = [k for k in figures if k.endswith(("-postgresql", "-redis"))]
        rows += [
            ("podman build of the image (prebuilt binary)", f"{took.get('image', '?')} s"),
            ("`podman kube play` to ready, dev stores (their own exec readiness probes)",
             ", ".join(f"{k.removeprefix('berth-helm-')} {figures[k]:.0f} s" for k in stores)),
            ("rates Job (`berth rates load --replace` of the sample) to exit 0",
             f"{figures.get('berth-helm-rates-load', 0):.0f} s"),
            ("`podman kube play` of the 6 berth Deployments to every `/healthcheck` 200 in its pod",
             f"**{figures['services']:.0f} s**"),
            ("the whole podman part (stores, Job, services, helm test pod, checks)", f"{took.get('podman', '?')} s"),
        ]
    total = os.environ.get("BERTH_HELM_TOTAL", "?")
    rows.append(("`scripts/deploy-check helm`, warm caches (venvs, stand-in images, binary)", f"**{total} s**"))
    body = "\n".join(f"| {a} | {b} |" for a, b in rows)
    podman_v = sh("podman", "--version").replace("podman version ", "")
    text = f"""## helm: the Kubernetes chart's check

Measured {datetime.date.today().isoformat()} on: {machine()}; Podman {podman_v} (runc).
Command: `BERTH_HELM_RECORD=1 scripts/deploy-check helm` (helm-python-sdk 0.2.2, kubernetes-validate
1.37.0, checkov 3.3.30, trivy 0.76.0; the static binary built beforehand, `BERTH_BINARY`).

| what | time |
|---|---|
{body}

Times are wall clock on the shared two cores (other builds may run at the same time).
The podman figures start at `podman kube play`; readiness is each container's own probe,
run by the check once a second (Podman runs no probe without systemd).
"""
    doc = helmlib.ROOT / "docs" / "benchmarks.md"
    src = doc.read_text()
    begin, end = "<!-- helm:begin -->", "<!-- helm:end -->"
    if begin not in src or end not in src:
        raise SystemExit(f"{doc}: markers {begin} ... {end} not found")
    head, rest = src.split(begin, 1)
    _, tail = rest.split(end, 1)
    doc.write_text(f"{head}{begin}\n{text}{end}{tail}")
    print(f"==> [helm] recorded in {doc.relative_to(helmlib.ROOT)}")


if __name__ == "__main__":
    main()
