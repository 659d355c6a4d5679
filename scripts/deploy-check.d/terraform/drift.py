"""Judge the second plan of envs/local (`terraform show -json` of it).

    python3 drift.py plan.json

The second plan after an apply must change nothing. moto gives a few attributes
back wrong or not at all; those, and only those, are allowed here, each with
what moto does. Any other change, and any create, replace or delete, fails.
"""

import json
import sys

# (resource type, attribute) => what moto does. Nothing else may differ.
MOTO_GAPS = {
    ("aws_ecs_service", "health_check_grace_period_seconds"): "moto does not store healthCheckGracePeriodSeconds",
    ("aws_ecs_service", "availability_zone_rebalancing"): "moto does not return availabilityZoneRebalancing",
    ("aws_memorydb_cluster", "engine"): "moto's DescribeClusters has no Engine",
    ("aws_db_parameter_group", "parameter"): "moto's DescribeDBParameters gives no Source, so the provider finds no user parameter",
}


def main(path):
    with open(path) as f:
        plan = json.load(f)
    bad, allowed = [], []
    for rc in plan.get("resource_changes", []):
        actions = rc["change"]["actions"]
        if actions == ["no-op"] or actions == ["read"]:
            continue
        if actions != ["update"]:
            bad.append(f"{rc['address']}: {actions}")
            continue
        before, after = rc["change"]["before"] or {}, rc["change"]["after"] or {}
        for key in sorted(set(before) | set(after)):
            if before.get(key) == after.get(key) or rc["change"]["after_unknown"].get(key):
                continue
            if (rc["type"], key) in MOTO_GAPS:
                allowed.append((rc["type"], key))
            else:
                bad.append(f"{rc['address']}: {key}: {before.get(key)!r} -> {after.get(key)!r}")
    for t, k in sorted(set(allowed)):
        print(f"    moto gap, allowed: {t}.{k} ({MOTO_GAPS[(t, k)]})")
    for b in bad:
        print(f"    DRIFT: {b}")
    if bad:
        return 1
    print("    ok: no change but moto's known gaps")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
