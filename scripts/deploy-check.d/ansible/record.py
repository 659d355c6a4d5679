"""Write the ansible timings into docs/benchmarks.md (between the ansible markers).

Usage: record.py BENCHMARKS_MD CONVERGE_S SECOND_RUN_S ROLLING_S MT_CONVERGE_S MT_SECOND_S MT_ROLLING_S TOTAL_S IMAGE_S
(scripts/deploy-check.d/ansible.sh with BERTH_ANSIBLE_RECORD=1; "-" for the
multi-tier figures when that step did not run).
"""

import datetime
import os
import platform
import re
import subprocess
import sys

path, converge, second, rolling, mt_converge, mt_second, mt_rolling, total, image = sys.argv[1:10]
binary = os.environ.get("BERTH_ANSIBLE_BINARY_VERSION", "?")


def cmd(*args):
    try:
        return subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


mem_kib = int(re.search(r"MemTotal:\s+(\d+)", open("/proc/meminfo").read()).group(1))
distro = re.search(r'PRETTY_NAME="([^"]+)"', open("/etc/os-release").read()).group(1)
machine = f"{os.cpu_count()} cores, {mem_kib // 1024 // 1024} GiB, {distro}, {platform.release()}"
versions = ", ".join([cmd("ansible-playbook", "--version").splitlines()[0], cmd("podman", "--version")])
section = f"""<!-- ansible:begin -->
## Ansible: converge into a systemd host

Measured {datetime.date.today()} on: {machine}; {versions}.
Command: `BERTH_ANSIBLE_MULTI_TIER=1 scripts/deploy-check ansible` (steps 5, 6, 10 and 12),
which runs `ansible-playbook -i deploy/ansible/inventories/single/hosts.yml deploy/ansible/site.yml`
against one host: a Podman container booting systemd from a Debian bookworm rootfs with the
packages preinstalled (no network), reached through the `containers.podman.podman` connection
with pipelining added (one `podman exec` per module). Binary: {binary}.

| run | wall time |
|---|---|
| first converge of `site.yml` on a fresh host (PostgreSQL roles, Redis ACL, 6 berth units, the rates sample loaded, Prometheus) | {converge} s |
| second run, `changed=0` | {second} s |
| `rolling-restart.yml` (one host: converge, restart `berth.target`, wait for every `/healthcheck`) | {rolling} s |
| multi-tier (`BERTH_ANSIBLE_MULTI_TIER=1`): first converge of app-1, app-2, db-1, mon-1 (`--forks 4`) | {mt_converge} s |
| multi-tier: second run, `changed=0` | {mt_second} s |
| multi-tier: `rolling-restart.yml` over both app hosts behind HAProxy, under a steady stream of requests, none failed | {mt_rolling} s |
| the whole `BERTH_ANSIBLE_MULTI_TIER=1 scripts/deploy-check ansible` run | {total} s, of which {image} s making the host image (0 on a warm cache; about 2-4 min from Debian's packages on a cold one) |

Most of the time is Ansible's round trips: each task, or each item of a loop, starts
Python in the host for its module (about 0.5 s here; a template is two modules), much as
over SSH with pipelining. The second run is a converge that finds nothing to change.
The other engineers' builds ran on the same two cores meanwhile (load average 5 to 14).
<!-- ansible:end -->"""
text = open(path).read()
new = re.sub(r"<!-- ansible:begin -->.*?<!-- ansible:end -->", lambda _: section, text, flags=re.S)
if new == text and section not in text:
    sys.exit("record.py: no ansible markers in " + path)
open(path, "w").write(new)
print(f"==> [ansible] recorded in {path}")
