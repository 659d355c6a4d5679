"""Requests through HAProxy without pause until STOP_FILE exists (multi-tier check).

Runs on mon-1 while rolling-restart.yml restarts the app hosts one by one.
Cycles GET /clock, GET /user (users on PostgreSQL) and GET /get/x (kv on Redis)
through the load balancer's frontends, each with a 5 s timeout. Prints
"ok N requests, 0 failed" or "FAILED ..." with the first failures. Bounded: 15 min.
"""

import os
import sys
import time
import urllib.error
import urllib.request

STOP = sys.argv[1]
URLS = [
    "http://127.0.0.1:8080/clock?mirror_time=12:22",
    "http://127.0.0.1:8300/user?limit=1",
    "http://127.0.0.1:5000/healthcheck",
]
deadline = time.monotonic() + 900
total, failures = 0, []
while not os.path.exists(STOP) and time.monotonic() < deadline:
    url = URLS[total % len(URLS)]
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            status = r.status
    except urllib.error.HTTPError as e:
        status = e.code
    except OSError as e:
        status = f"{type(e).__name__}: {e}"
    total += 1
    if status != 200:
        failures.append(f"{time.strftime('%H:%M:%S')} {url} -> {status}")
    time.sleep(0.02)
if failures:
    print(f"FAILED {len(failures)} of {total} requests: " + "; ".join(failures[:5]))
else:
    print(f"ok {total} requests, 0 failed")
