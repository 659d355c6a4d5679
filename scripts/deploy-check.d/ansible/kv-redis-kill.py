"""kv loses no acknowledged write when Redis is SIGKILLed.

Runs inside the converged host (python3, stdlib only); scripts/deploy-check.d/
ansible.sh pipes it into `podman exec`. One client writes distinct keys to kv
without pause; after WARMUP seconds `systemctl kill -s KILL redis-server`
kills Redis mid-stream and systemd restarts it (Restart=always in Debian's
unit). The writer goes on until kv's /healthcheck is 200 again and a few more
writes were acknowledged. Then every key whose POST /set was acknowledged
(201/200) must read back with its value. Exit 1 if one is missing or wrong, or
if Redis was not really killed (its MainPID must change). Bounded: 60 s.
"""

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

KV = "http://127.0.0.1:5000"
WARMUP = 2.0
DEADLINE = time.monotonic() + 60


def post(key, value):
    body = json.dumps({"id": key, "data": value}).encode()
    req = urllib.request.Request(KV + "/set", body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=3) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""
    except OSError:
        return None, ""


def main_pid():
    out = subprocess.run(["systemctl", "show", "-p", "MainPID", "--value", "redis-server"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


acked, refused = {}, [0]
stop = threading.Event()


def writer():
    i = 0
    run = f"{time.time_ns()}"
    while not stop.is_set() and time.monotonic() < DEADLINE:
        key, value = f"chaos-{run}-{i}", f"value-{i}"
        status = post(key, value)
        if status in (200, 201):
            acked[key] = value
        else:
            refused[0] += 1
            time.sleep(0.05)
        i += 1


pid_before = main_pid()
t = threading.Thread(target=writer)
t.start()
time.sleep(WARMUP)
acked_before_kill = len(acked)
subprocess.run(["systemctl", "kill", "-s", "KILL", "redis-server"], check=True)
killed_at = time.monotonic()
# Wait for Redis to come back (a new MainPID) and kv to be healthy again.
while time.monotonic() < DEADLINE:
    if main_pid() not in ("0", pid_before) and get(KV + "/healthcheck")[0] == 200:
        break
    time.sleep(0.1)
else:
    stop.set()
    t.join()
    sys.exit("kv-redis-kill: Redis or kv did not come back within the deadline")
recovered = time.monotonic() - killed_at
after = len(acked)
time.sleep(1.0)
stop.set()
t.join()
pid_after = main_pid()

missing = [k for k, v in acked.items() if get(f"{KV}/get/{k}") != (200, json.dumps({k: v}, separators=(",", ":")))]
print(f"    redis-server MainPID {pid_before} -> {pid_after}; kv healthy again {recovered:.1f} s after the kill; "
      f"{len(acked)} writes acknowledged ({acked_before_kill} before the kill, {len(acked) - after} after recovery), "
      f"{refused[0]} refused while Redis was down; {len(missing)} acknowledged writes missing")
if pid_after in ("0", pid_before):
    sys.exit("kv-redis-kill: redis-server was not restarted")
if acked_before_kill == 0 or len(acked) == after:
    sys.exit("kv-redis-kill: too few writes acknowledged to tell")
if missing:
    sys.exit(f"kv-redis-kill: acknowledged writes lost: {missing[:5]}")
