"""Check the outputs JSON that scripts/deploy-aws printed last (envs/local).

    python3 outputs.py outputs.json

The interface other engineers rely on: alb_dns_name, service_urls (service =>
https base URL, the five services), ecr_repository_url, log_groups (every
service and the worker among them).
"""

import json
import sys

SERVICES = ["clock", "users", "rates", "kv", "multivac"]


def main(path):
    with open(path) as f:
        out = {k: v["value"] for k, v in json.load(f).items()}
    errors = []
    for key in ("alb_dns_name", "service_urls", "ecr_repository_url", "log_groups"):
        if not out.get(key):
            errors.append(f"output {key} is missing or empty")
    urls = out.get("service_urls") or {}
    if sorted(urls) != sorted(SERVICES):
        errors.append(f"service_urls names {sorted(urls)}, not {sorted(SERVICES)}")
    for name, url in urls.items():
        if not url.startswith(f"https://{name}."):
            errors.append(f"service_urls[{name}] = {url}: not https://{name}.<domain>")
    if "elb" not in (out.get("alb_dns_name") or ""):
        errors.append(f"alb_dns_name {out.get('alb_dns_name')!r} is no load balancer name")
    if not (out.get("ecr_repository_url") or "").endswith("/berth-local"):
        errors.append(f"ecr_repository_url {out.get('ecr_repository_url')!r} is not berth-local's repository")
    groups = out.get("log_groups") or {}
    for svc in SERVICES + ["multivac-worker", "db-init", "rates-load", "vpc-flow-logs"]:
        if svc not in groups:
            errors.append(f"log_groups has no {svc}")
    for e in errors:
        print(f"    {e}")
    if errors:
        return 1
    print(f"    ok: outputs alb_dns_name={out['alb_dns_name']}, {len(urls)} service_urls, "
          f"ecr_repository_url={out['ecr_repository_url']}, {len(groups)} log_groups")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
