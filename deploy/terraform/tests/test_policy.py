"""Policy tests over `terraform show -json` of each environment's plan.

scripts/deploy-check terraform writes the plans and runs:

    BERTH_TF_PLANS=DIR pytest deploy/terraform/tests

DIR holds local.json, staging.json, production.json (a plan of each environment),
bootstrap.json (a plan of the state bucket) and local-state.json (`terraform show
-json` after envs/local was applied), whose task definitions are checked as the
emulator gave them back. BERTH_REDIS_ACL names a file rendered by
deploy/redis/render-acl.sh: the cache users must carry exactly its rules.

What is asserted is what the issue calls the secure defaults: encryption at rest
everywhere, no public database or cache, no ingress from 0.0.0.0/0 except the
load balancer on 80/443, circuit breaker on, read-only root filesystem, non-root
user, log retention set, the state bucket locked down; and the zero-downtime
numbers (deregistration delay, stop timeout, rolling update percentages).

The emulator environment (local) switches off what moto lacks, and only that
(module input "emulator"); the tests say where they allow it.
"""

import json
import os
import pathlib
import re

import pytest

PLANS = pathlib.Path(os.environ.get("BERTH_TF_PLANS", ""))
ENVS = ["local", "staging", "production"]
OPEN = {"0.0.0.0/0", "::/0"}
SERVICES = {"clock": 8080, "users": 8300, "rates": 3000, "kv": 5000, "multivac": 5001, "multivac-worker": 9101}
SECRET_SETTINGS = {
    "users": {"BERTH_USERS_DATABASE_URL", "BERTH_API_TOKENS"},
    "rates": {"BERTH_RATES_DATABASE_URL", "BERTH_API_TOKENS"},
    "kv": {"BERTH_KV_REDIS_URL", "BERTH_API_TOKENS"},
    "multivac": {"BERTH_MULTIVAC_DATABASE_URL", "BERTH_MULTIVAC_REDIS_URL", "BERTH_API_TOKENS"},
    "multivac-worker": {"BERTH_MULTIVAC_DATABASE_URL", "BERTH_MULTIVAC_REDIS_URL"},
    "clock": set(),
}


def load(name):
    path = PLANS / f"{name}.json"
    if not path.is_file():
        pytest.fail(f"{path} is missing: set BERTH_TF_PLANS to the directory of the plans")
    return json.loads(path.read_text())


class Resource:
    """A planned resource: its values after the plan, and which are unknown until apply."""

    def __init__(self, address, rtype, after, unknown):
        self.address, self.type, self.after, self.unknown = address, rtype, after or {}, unknown or {}

    def known(self, key):
        return self.after.get(key)

    def set_or_pending(self, key):
        """True when the attribute has a value now or gets one at apply."""
        return bool(self.after.get(key)) or self.unknown.get(key) is True

    def __repr__(self):
        return self.address


def resources(plan, rtype=None):
    out = []
    for rc in plan.get("resource_changes", []):
        if rc.get("mode") != "managed" or "delete" in rc["change"]["actions"] and rc["change"]["after"] is None:
            continue
        if rtype and rc["type"] != rtype:
            continue
        out.append(Resource(rc["address"], rc["type"], rc["change"].get("after"), rc["change"].get("after_unknown")))
    return out


@pytest.fixture(scope="module", params=ENVS)
def env(request):
    return request.param, load(request.param)


def outputs(plan):
    return {k: v.get("value") for k, v in plan.get("planned_values", {}).get("outputs", {}).items()}


# ---------------------------------------------------------------- the plans are whole


def test_every_environment_plans_the_whole_stack(env):
    name, plan = env
    types = {r.type for r in resources(plan)}
    for t in [
        "aws_vpc", "aws_nat_gateway", "aws_vpc_endpoint", "aws_flow_log", "aws_ecr_repository",
        "aws_ecs_cluster", "aws_lb", "aws_lb_listener", "aws_ecs_service", "aws_ecs_task_definition",
        "aws_db_instance", "aws_secretsmanager_secret", "aws_kms_key", "aws_cloudwatch_log_group",
    ]:
        assert t in types, f"{name}: no {t} planned"
    services = [r for r in resources(plan, "aws_ecs_service")]
    assert len(services) == len(SERVICES), f"{name}: {services}"
    names = [r.known("name") for r in resources(plan) if r.known("name")]
    foreign = [n for n in names if isinstance(n, str) and "berth" in n and name not in n]
    assert not foreign, f"{name}: names without the environment: {foreign}"


# ---------------------------------------------------------------- encryption at rest


def test_databases_are_encrypted_private_and_backed_up(env):
    name, plan = env
    for db in resources(plan, "aws_db_instance"):
        assert db.known("storage_encrypted") is True, db
        assert db.set_or_pending("kms_key_id"), f"{db}: no KMS key"
        assert db.known("publicly_accessible") is False, db
        assert db.known("manage_master_user_password") is True, f"{db}: master password not managed by RDS"
        assert db.known("backup_retention_period") >= 1, f"{db}: no backups, no PITR"
        assert db.known("performance_insights_enabled") is True and db.set_or_pending("performance_insights_kms_key_id")
        if name == "production":
            assert db.known("multi_az") is True, db
            assert db.known("deletion_protection") is True, db
            assert db.known("skip_final_snapshot") is False, db


def test_postgres_forces_tls(env):
    _, plan = env
    groups = resources(plan, "aws_db_parameter_group")
    assert groups
    for g in groups:
        params = {p["name"]: p["value"] for p in g.known("parameter") or []}
        assert params.get("rds.force_ssl") == "1", g


def test_caches_are_encrypted_with_tls_and_acl(env):
    name, plan = env
    memorydb = resources(plan, "aws_memorydb_cluster")
    elasticache = resources(plan, "aws_elasticache_replication_group")
    assert len(memorydb) + len(elasticache) == 1, f"{name}: one cache expected"
    for c in memorydb:
        assert c.known("tls_enabled") is True, c
        assert c.set_or_pending("kms_key_arn"), c
        if name != "local":  # moto has no MemoryDB ACL API: the emulator run alone uses open-access
            assert c.known("acl_name") != "open-access" and c.set_or_pending("acl_name"), c
    for c in elasticache:
        assert c.known("transit_encryption_enabled") is True and c.known("transit_encryption_mode") == "required", c
        assert c.known("at_rest_encryption_enabled") in (True, "true") and c.set_or_pending("kms_key_id"), c
        assert c.set_or_pending("user_group_ids"), f"{c}: no ACL users"
    defaults = [u for u in resources(plan, "aws_elasticache_user") if u.known("user_name") == "default"]
    for u in defaults:
        assert u.known("access_string").split()[0] == "off", f"{u}: the default user must be off"
    if name == "production":
        assert memorydb, "production keeps kv on MemoryDB (no acknowledged write lost)"
        assert memorydb[0].known("num_replicas_per_shard") >= 1, "production: automatic failover needs a replica"


def test_everything_stored_is_encrypted_with_kms(env):
    name, plan = env
    for key in resources(plan, "aws_kms_key"):
        assert key.known("enable_key_rotation") is True, key
    for g in resources(plan, "aws_cloudwatch_log_group"):
        assert g.set_or_pending("kms_key_id"), f"{g}: log group without KMS"
    for s in resources(plan, "aws_secretsmanager_secret"):
        assert s.set_or_pending("kms_key_id"), f"{s}: secret without a customer-managed key"
    for r in resources(plan, "aws_ecr_repository"):
        enc = r.known("encryption_configuration")[0]
        assert enc["encryption_type"] == "KMS", r
        assert r.known("image_tag_mutability") == "IMMUTABLE", r
        assert r.known("image_scanning_configuration")[0]["scan_on_push"] is True, r
    buckets = {r.address.rsplit(".", 1)[0] + "." + r.address.rsplit(".", 1)[1]: r for r in resources(plan, "aws_s3_bucket")}
    sse = resources(plan, "aws_s3_bucket_server_side_encryption_configuration")
    assert len(sse) == len(buckets), f"{name}: a bucket without default encryption ({len(sse)} of {len(buckets)})"
    for c in sse:
        algo = c.known("rule")[0]["apply_server_side_encryption_by_default"][0]["sse_algorithm"]
        # Only the access-log bucket may use SSE-S3: ALB and S3 access logs cannot be delivered to SSE-KMS.
        assert algo == "aws:kms" or c.address.endswith(".logs"), f"{c}: {algo}"


# ---------------------------------------------------------------- network exposure


def ingress_rules(plan):
    for r in resources(plan, "aws_security_group_rule"):
        if r.known("type") == "ingress":
            yield r, set(r.known("cidr_blocks") or []) | set(r.known("ipv6_cidr_blocks") or [])
    for sg in resources(plan, "aws_security_group"):
        for rule in sg.known("ingress") or []:
            yield sg, set(rule.get("cidr_blocks") or []) | set(rule.get("ipv6_cidr_blocks") or [])
    for r in resources(plan, "aws_vpc_security_group_ingress_rule"):
        yield r, {r.known("cidr_ipv4"), r.known("cidr_ipv6")} - {None}


def test_only_the_load_balancer_is_open_and_only_on_80_and_443(env):
    name, plan = env
    opened = []
    for r, cidrs in ingress_rules(plan):
        if cidrs & OPEN:
            opened.append(r)
            assert ".module.platform." in r.address and r.address.split(".")[-1] in ("alb_http", "alb_https"), (
                f"{name}: {r} opens {cidrs & OPEN}"
            )
            assert (r.known("from_port"), r.known("to_port")) in ((80, 80), (443, 443)), r
    assert len(opened) == 2, f"{name}: expected the ALB's 80 and 443 only, got {opened}"
    for sg in resources(plan, "aws_default_security_group"):
        assert not sg.known("ingress") and not sg.known("egress"), f"{sg}: the default group must allow nothing"


def test_stores_admit_security_groups_only(env):
    name, plan = env
    for r in resources(plan, "aws_security_group_rule"):
        if r.known("type") != "ingress" or not any(m in r.address for m in (".module.database.", ".module.cache.")):
            continue
        assert not r.known("cidr_blocks") and r.set_or_pending("source_security_group_id"), (
            f"{name}: {r} admits an address range"
        )
        assert r.known("from_port") in (5432, 6379), r


def test_load_balancer_redirects_http_and_speaks_modern_tls(env):
    _, plan = env
    listeners = {r.known("port"): r for r in resources(plan, "aws_lb_listener")}
    assert set(listeners) == {80, 443}
    http = listeners[80].known("default_action")[0]
    assert http["type"] == "redirect" and http["redirect"][0]["protocol"] == "HTTPS"
    assert listeners[443].known("protocol") == "HTTPS"
    assert listeners[443].known("ssl_policy").startswith("ELBSecurityPolicy-TLS13")
    for lb in resources(plan, "aws_lb"):
        assert lb.known("drop_invalid_header_fields") is True
        assert lb.known("access_logs")[0]["enabled"] is True


def test_tasks_get_no_public_ip_and_no_internet(env):
    name, plan = env
    for s in resources(plan, "aws_ecs_service"):
        assert s.known("network_configuration")[0]["assign_public_ip"] is False, s
    for r in resources(plan, "aws_security_group_rule"):
        if r.known("type") == "egress" and set(r.known("cidr_blocks") or []) & OPEN:
            # The one-shot tasks may leave through NAT for what they fetch; services never.
            assert r.address.endswith(("init_internet[0]", "rates_data.aws_security_group_rule.internet[0]")), (
                f"{name}: {r} lets a service reach the internet"
            )


# ---------------------------------------------------------------- ECS: rollout and hardening


def test_services_roll_out_without_losing_capacity_and_roll_back(env):
    _, plan = env
    for s in resources(plan, "aws_ecs_service"):
        cb = s.known("deployment_circuit_breaker")[0]
        assert cb["enable"] is True and cb["rollback"] is True, s
        assert s.known("deployment_minimum_healthy_percent") == 100, s
        assert s.known("deployment_maximum_percent") == 200, s
        if s.known("load_balancer"):
            assert s.known("health_check_grace_period_seconds") > 0, s


def test_containers_are_hardened_and_take_secrets_from_secrets_manager(env):
    name, plan = env
    containers = outputs(plan)["containers"]
    assert set(containers) == set(SERVICES), name
    for svc, c in containers.items():
        port = SERVICES[svc]
        assert c["user"] == "65532:65532", svc
        assert c["readonlyRootFilesystem"] is True, svc
        assert c["privileged"] is False, svc
        assert c["linuxParameters"]["capabilities"]["drop"] == ["ALL"], svc
        assert c["port"] == port, svc
        assert c["healthCheck"]["command"] == ["CMD", "/berth", "healthcheck", f"http://127.0.0.1:{port}/healthcheck"]
        assert c["command"][0] in ("serve", "worker") and c["command"][1] == svc.replace("-worker", "")
        assert set(c["secrets"]) == SECRET_SETTINGS[svc], svc
        leaked = [k for k in c["environment"] if re.search(r"(URL|TOKEN|PASSWORD|SECRET)", k) and k != "BERTH_HEALTHCHECK_URL"]
        assert not leaked, f"{name}/{svc}: secret-looking plain settings {leaked}"
        assert c["stopTimeout"] > c["shutdown_delay_seconds"] + c["drain_timeout_seconds"], svc
    assert containers["multivac"]["environment"]["BERTH_MULTIVAC_WORKER"] == "never"
    assert containers["multivac-worker"]["environment"]["BERTH_MULTIVAC_WORKER_ADDR"] == "0.0.0.0:9101"


def test_redis_clients_speak_the_cluster_protocol_on_memorydb(env):
    name, plan = env
    containers = outputs(plan)["containers"]
    memorydb = bool(resources(plan, "aws_memorydb_cluster"))
    want = "true" if memorydb else "false"
    for svc, setting in (
        ("kv", "BERTH_KV_REDIS_CLUSTER"),
        ("multivac", "BERTH_MULTIVAC_REDIS_CLUSTER"),
        ("multivac-worker", "BERTH_MULTIVAC_REDIS_CLUSTER"),
    ):
        assert containers[svc]["environment"].get(setting) == want, f"{name}/{svc}: {setting}"
    for svc in ("clock", "users", "rates"):
        assert not any(k.endswith("_REDIS_CLUSTER") for k in containers[svc]["environment"]), svc


def test_deregistration_matches_the_drain(env):
    _, plan = env
    drain = {svc: c["drain_timeout_seconds"] for svc, c in outputs(plan)["containers"].items()}
    groups = resources(plan, "aws_lb_target_group")
    assert len(groups) == 5
    for tg in groups:
        svc = tg.known("name").split("-", 2)[2]
        assert tg.known("deregistration_delay") == str(drain[svc]), tg
        hc = tg.known("health_check")[0]
        assert hc["path"] == "/healthcheck" and hc["matcher"] == "200", tg


def test_task_definitions_as_stored():
    """After the emulator run: the task definitions of envs/local as AWS (moto) gave them back."""
    state = load("local-state")

    def walk(module):
        yield from module.get("resources", [])
        for child in module.get("child_modules", []):
            yield from walk(child)

    defs = [r["values"] for r in walk(state["values"]["root_module"]) if r["type"] == "aws_ecs_task_definition"]
    assert len(defs) == len(SERVICES) + 2, "six services and two one-shot tasks"
    for d in defs:
        assert d["requires_compatibilities"] == ["FARGATE"] and d["network_mode"] == "awsvpc"
        assert d["execution_role_arn"] != d["task_role_arn"]
        for c in json.loads(d["container_definitions"]):
            assert c["readonlyRootFilesystem"] is True, d["family"]
            assert c["user"] in ("65532:65532", "65534:65534"), d["family"]
            assert c.get("privileged") is False, d["family"]
            assert c["linuxParameters"]["capabilities"]["drop"] == ["ALL"], d["family"]
            assert c["logConfiguration"]["logDriver"] == "awslogs", d["family"]
            for e in c.get("environment", []):
                assert not re.search(r"(PASSWORD|TOKENS|DATABASE_URL|REDIS_URL)$", e["name"]), (d["family"], e["name"])
            for s in c.get("secrets", []):
                assert s["valueFrom"].startswith("arn:aws:secretsmanager:"), (d["family"], s)


# ---------------------------------------------------------------- logs


def test_every_log_group_has_a_retention(env):
    _, plan = env
    groups = resources(plan, "aws_cloudwatch_log_group")
    assert len(groups) >= len(SERVICES) + 3
    for g in groups:
        assert (g.known("retention_in_days") or 0) > 0, g
    assert resources(plan, "aws_flow_log")[0].known("traffic_type") == "ALL"


# ---------------------------------------------------------------- Redis ACL from one source


def test_cache_users_carry_the_rules_of_render_acl(env):
    name, plan = env
    rendered = os.environ.get("BERTH_REDIS_ACL")
    if not rendered:
        pytest.fail("BERTH_REDIS_ACL (an ACL file rendered by deploy/redis/render-acl.sh) is not set")
    want = {}
    for line in pathlib.Path(rendered).read_text().splitlines():
        words = line.split()
        if words[:1] == ["user"] and words[1] in ("kv", "multivac"):
            rules = [w for w in words[2:] if not w.startswith("#") and w not in ("on", "resetkeys", "resetchannels")]
            want[words[1]] = sorted(rules)
    users = resources(plan, "aws_memorydb_user") + resources(plan, "aws_elasticache_user")
    got = {}
    for u in users:
        login = u.known("user_name")
        if login == "default":
            continue
        short = login.rsplit("-", 1)[1]
        words = u.known("access_string").split()
        assert words[0] == "on", u
        got[short] = sorted(w for w in words[1:] if w != "+client|setinfo")
    assert got == want, f"{name}: cache users drifted from deploy/redis/render-acl.sh"


# ---------------------------------------------------------------- the state bucket


def test_state_bucket_is_locked_down():
    plan = load("bootstrap")
    state = [b for b in resources(plan, "aws_s3_bucket") if b.address == "aws_s3_bucket.state"]
    assert state and state[0].known("force_destroy") is False
    v = [r for r in resources(plan, "aws_s3_bucket_versioning") if r.address.endswith(".state")][0]
    assert v.known("versioning_configuration")[0]["status"] == "Enabled"
    sse = [r for r in resources(plan, "aws_s3_bucket_server_side_encryption_configuration") if r.address.endswith(".state")][0]
    rule = sse.known("rule")[0]["apply_server_side_encryption_by_default"][0]
    assert rule["sse_algorithm"] == "aws:kms" and (rule.get("kms_master_key_id") or sse.unknown)
    for pab in resources(plan, "aws_s3_bucket_public_access_block"):
        for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"):
            assert pab.known(k) is True, (pab, k)
    policies = [r for r in resources(plan, "aws_s3_bucket_policy") if r.address.startswith("aws_s3_bucket_policy.state")]
    assert policies, "no bucket policy on the state bucket"
    doc = json.loads(policies[0].known("policy"))
    tls = [
        s for s in doc["Statement"]
        if s["Effect"] == "Deny" and s["Condition"].get("Bool", {}).get("aws:SecureTransport") == "false"
    ]
    assert tls, "the state bucket must refuse requests without TLS"
    assert [r for r in resources(plan, "aws_s3_bucket_logging") if r.address.endswith(".state")]
    assert [r for r in resources(plan, "aws_kms_key")][0].known("enable_key_rotation") is True


def test_environments_lock_their_state_in_s3():
    for name in ENVS:
        text = (pathlib.Path(__file__).parent.parent / "envs" / name / "main.tf").read_text()
        backend = re.search(r'backend "s3" \{(.*?)\n  \}', text, re.S)
        assert backend, f"envs/{name}: no S3 backend"
        assert re.search(r"use_lockfile\s*=\s*true", backend.group(1)), f"envs/{name}: no S3 lock file"
        assert "dynamodb" not in backend.group(1), f"envs/{name}: DynamoDB locking"
        assert f'key          = "berth/{name}/terraform.tfstate"' in backend.group(1)


def test_other_buckets_refuse_plain_http():
    for name in ("staging", "production"):
        plan = load(name)
        buckets = resources(plan, "aws_s3_bucket")
        policies = resources(plan, "aws_s3_bucket_policy")
        assert len(policies) == len(buckets), name
        for p in policies:
            doc = json.loads(p.known("policy"))
            assert any(
                s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
                for s in doc["Statement"]
            ), f"{name}: {p} lets plain HTTP in"
