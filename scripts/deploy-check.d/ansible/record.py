"""Write the ansible timings into docs/benchmarks.md (between the ansible markers).

Usage: record.py BENCHMARKS_MD CONVERGE_S SECOND_RUN_S ROLLING_S
(scripts/deploy-check.d/ansible.sh with BERTH_ANSIBLE_RECORD=1).
"""

import datetime
import os
import platform
import re
import subprocess
import sys

path, converge, second, rolling = sys.argv[1:5]


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
Command: `scripts/deploy-check ansible` (steps 5 and 9), which runs
`ansible-playbook -i deploy/ansible/inventories/single/hosts.yml deploy/ansible/site.yml`
against one host: a Podman container booting systemd from a Debian bookworm rootfs with the
packages preinstalled (no network), reached through the `containers.podman.podman` connection.

| run | wall time |
|---|---|
| first converge of `site.yml` on a fresh host (PostgreSQL roles, Redis ACL, 6 berth units, the rates sample loaded, Prometheus) | {converge} s |
| second run, `changed=0` | {second} s |
| `rolling-restart.yml` (one host: drain, converge, restart `berth.target`, wait for every `/healthcheck`) | {rolling} s |

Most of the time is Ansible's round trips: each task is a few `podman exec` calls
(the connection has no pipelining); over SSH with pipelining a task costs about the same.
Everything shares the machine's two cores with the other engineers' builds.
<!-- ansible:end -->"""
text = open(path).read()
new = re.sub(r"<!-- ansible:begin -->.*?<!-- ansible:end -->", lambda _: section, text, flags=re.S)
if new == text and section not in text:
    sys.exit("record.py: no ansible markers in " + path)
open(path, "w").write(new)
print(f"==> [ansible] recorded in {path}")
