"""Properties of the berth chart, asserted on its renderings (Helm SDK, no cluster).

Each test names the property of issue 19 it holds the chart to.
"""

import base64
import copy
import json
import pathlib
import re
import tomllib

import helm_python as helm
import pytest
import yaml

import helmlib
from conftest import FIXED_SECRETS

ROOT = helmlib.ROOT
HTTP = {"clock": 8080, "users": 8300, "rates": 3000, "kv": 5000, "multivac": 5001}
WORKLOADS = {**HTTP, "multivac-worker": 9101}
IMAGE_ARGS = {
    "clock": ["serve", "clock"], "users": ["serve", "users"], "rates": ["serve", "rates"],
    "kv": ["serve", "kv"], "multivac": ["serve", "multivac"], "multivac-worker": ["worker", "multivac"],
}
POD_KINDS = ("Deployment", "StatefulSet", "Job", "Pod")


def pod_spec(obj):
    return obj["spec"] if obj["kind"] == "Pod" else obj["spec"]["template"]["spec"]


def pod_meta(obj):
    return obj["metadata"] if obj["kind"] == "Pod" else obj["spec"]["template"]["metadata"]


def pods(rendering):
    return [o for o in rendering.objects if o["kind"] in POD_KINDS]


def containers(rendering):
    for o in pods(rendering):
        spec = pod_spec(o)
        for c in spec.get("initContainers", []) + spec["containers"]:
            yield o, c


def berth_containers(rendering):
    return [(o, c) for o, c in containers(rendering) if c["image"].startswith("ghcr.io/berth/berth")]


def env_of(rendering, obj, container):
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    for src in container.get("envFrom", []):
        env.update(rendering.get("ConfigMap", src["configMapRef"]["name"])["data"])
    return env


def secret_data(secret):
    return {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}


def labels_match(selector, labels):
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for e in selector.get("matchExpressions", []):
        if e["operator"] == "In" and labels.get(e["key"]) not in e["values"]:
            return False
    return True


# ---------------------------------------------------------------- the chart itself

def test_chart_metadata_follows_the_workspace_version():
    meta = helmlib.chart_metadata()
    version = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["package"]["version"]
    assert meta["apiVersion"] == "v2"
    assert meta["appVersion"] == version
    assert meta["version"] == version
    assert meta["kubeVersion"] == ">=1.30.0-0"


def test_every_profile_lints_strict():
    for profile, (files, _name, ns) in helmlib.PROFILES.items():
        report = helmlib.lint(helmlib.load_values(files), namespace=ns)
        assert [m for m in report["messages"] if m["severity"] >= 2] == [], profile


def test_one_source_files_are_symlinks_into_deploy():
    files = helmlib.CHART / "files"
    expect = {
        "postgres": ROOT / "deploy/postgres",
        "postgres-init": ROOT / "deploy/compose/postgres/init",
        "redis": ROOT / "deploy/redis",
        "prometheus-rules": ROOT / "deploy/compose/prometheus/rules",
        "dashboards": ROOT / "deploy/compose/grafana/dashboards",
        "rates": ROOT / "deploy/compose/rates",
    }
    assert sorted(p.name for p in files.iterdir()) == sorted(expect)
    for name, target in expect.items():
        link = files / name
        assert link.is_symlink(), f"files/{name} must be a symlink, not a copy"
        assert link.resolve() == target.resolve()
    loaded = helmlib.chart_files()
    assert loaded["files/postgres/roles.sql"] == (ROOT / "deploy/postgres/roles.sql").read_text()


# ---------------------------------------------------------------- workloads

def test_each_service_is_switched_by_values(render):
    base = render("default", FIXED_SECRETS)
    assert base.names("Deployment") == sorted(f"berth-{w}" for w in WORKLOADS)
    off = render("default", FIXED_SECRETS, {"kv": {"enabled": False}, "multivacWorker": {"enabled": False}})
    assert off.names("Deployment") == sorted(f"berth-{w}" for w in WORKLOADS if w not in ("kv", "multivac-worker"))
    for kind in ("Service", "ConfigMap", "PodDisruptionBudget", "NetworkPolicy"):
        assert "berth-kv" not in off.names(kind), kind
    assert [c["name"] for c in off.get("Pod", "berth-test")["spec"]["containers"]] == [
        "clock", "users", "rates", "multivac"]
    # Without a separate worker, multivac processes its queue itself.
    assert off.get("ConfigMap", "berth-multivac")["data"]["BERTH_MULTIVAC_WORKER"] == "auto"
    assert base.get("ConfigMap", "berth-multivac")["data"]["BERTH_MULTIVAC_WORKER"] == "never"


def test_every_workload_runs_the_one_image_with_its_command(default):
    for name, args in IMAGE_ARGS.items():
        c = default.get("Deployment", f"berth-{name}")["spec"]["template"]["spec"]["containers"][0]
        assert c["image"] == "ghcr.io/berth/berth:0.1.0"
        assert c["args"] == args
        assert "command" not in c  # the image's entrypoint, /berth


def test_image_tag_defaults_to_app_version_and_digest_wins(render):
    tagged = render("default", FIXED_SECRETS, {"image": {"tag": "9.9.9"}})
    digest = "sha256:" + "a" * 64
    pinned = render("default", FIXED_SECRETS, {"image": {"tag": "9.9.9", "digest": digest}})
    for _o, c in berth_containers(tagged):
        assert c["image"] == "ghcr.io/berth/berth:9.9.9"
        assert c["imagePullPolicy"] == "Always"
    images = {c["image"] for _o, c in containers(pinned)}
    assert images == {f"ghcr.io/berth/berth@{digest}"}
    assert {c["imagePullPolicy"] for _o, c in containers(pinned)} == {"IfNotPresent"}


def test_http_services_default_to_two_replicas_and_never_go_below(default):
    for name in WORKLOADS:
        d = default.get("Deployment", f"berth-{name}")
        assert d["spec"]["replicas"] == 2, name
        assert d["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}


def test_probes_healthcheck_for_startup_and_readiness_livez_for_liveness(profile_rendering):
    _p, r = profile_rendering
    for o in r.kind("Deployment"):
        c = pod_spec(o)["containers"][0]
        assert c["startupProbe"]["httpGet"] == {"path": "/healthcheck", "port": "http"}
        assert c["readinessProbe"]["httpGet"] == {"path": "/healthcheck", "port": "http"}
        # A database outage fails /healthcheck, never /livez: no restart storm.
        assert c["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
        # Longer than berth's own readiness-check time limit (BERTH_HEALTH_TIMEOUT, 2s).
        assert c["readinessProbe"]["timeoutSeconds"] > 2


def test_prestop_native_sleep_and_grace_longer_than_sleep_plus_drain(profile_rendering, render):
    profile, r = profile_rendering
    values = helmlib.load_values(helmlib.PROFILES[profile][0])
    for o in r.kind("Deployment"):
        spec = pod_spec(o)
        c = spec["containers"][0]
        assert set(c["lifecycle"]["preStop"]) == {"sleep"}, "no exec: the image has no shell"
        sleep = c["lifecycle"]["preStop"]["sleep"]["seconds"]
        cm = r.get("ConfigMap", c["envFrom"][0]["configMapRef"]["name"])["data"]
        drain = int(cm["BERTH_DRAIN_TIMEOUT"].rstrip("s"))
        delay = int(cm["BERTH_SHUTDOWN_DELAY"].rstrip("s"))
        assert spec["terminationGracePeriodSeconds"] > sleep + delay + drain
    if values.get("lifecycle", {}).get("terminationGracePeriodSeconds"):
        assert spec["terminationGracePeriodSeconds"] == values["lifecycle"]["terminationGracePeriodSeconds"]


def test_a_grace_period_too_short_for_the_drain_fails_naming_it(render):
    with pytest.raises(helm.HelmError, match="terminationGracePeriodSeconds"):
        render("default", FIXED_SECRETS, {"lifecycle": {"terminationGracePeriodSeconds": 12}})


def test_every_container_has_requests_and_a_memory_limit(profile_rendering):
    _p, r = profile_rendering
    seen = 0
    for o, c in containers(r):
        res = c["resources"]
        assert res["requests"]["cpu"] and res["requests"]["memory"], (o["metadata"]["name"], c["name"])
        assert res["limits"]["memory"], (o["metadata"]["name"], c["name"])
        seen += 1
    assert seen >= 7


def test_replicas_spread_across_nodes_and_zones(default):
    for o in default.kind("Deployment"):
        tsc = pod_spec(o)["topologySpreadConstraints"]
        assert {t["topologyKey"] for t in tsc} == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
        for t in tsc:
            assert labels_match(t["labelSelector"], pod_meta(o)["labels"])


def test_pdb_only_when_more_than_one_replica(render, default):
    for name in WORKLOADS:
        pdb = default.get("PodDisruptionBudget", f"berth-{name}")
        assert pdb["spec"]["minAvailable"] == 1
        d = default.get("Deployment", f"berth-{name}")
        assert labels_match(pdb["spec"]["selector"], pod_meta(d)["labels"])
    one = render("default", FIXED_SECRETS, {"clock": {"replicas": 1}})
    assert "berth-clock" not in one.names("PodDisruptionBudget")
    assert "berth-users" in one.names("PodDisruptionBudget")
    assert render("dev").kind("PodDisruptionBudget") == []


def test_optional_hpa_autoscaling_v2(render, default):
    assert default.kind("HorizontalPodAutoscaler") == []
    r = render("default", FIXED_SECRETS, {"rates": {"autoscaling": {"enabled": True, "minReplicas": 3, "maxReplicas": 9}}})
    hpa = r.get("HorizontalPodAutoscaler", "berth-rates")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "berth-rates"}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 9)
    # The HPA owns the replica count; the PDB follows its minimum.
    assert "replicas" not in r.get("Deployment", "berth-rates")["spec"]
    assert "berth-rates" in r.names("PodDisruptionBudget")


# ---------------------------------------------------------------- Pod Security "restricted"

def test_pod_security_restricted_everywhere(profile_rendering):
    _p, r = profile_rendering
    assert pods(r)
    for o in pods(r):
        spec = pod_spec(o)
        name = f"{o['kind']}/{o['metadata']['name']}"
        psc = spec["securityContext"]
        assert psc["runAsNonRoot"] is True, name
        assert psc["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["enableServiceLinks"] is False, name
        assert spec["serviceAccountName"] == r.names("ServiceAccount")[0] != "default", name
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC"), name
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["runAsNonRoot"] is True, name
            assert sc["capabilities"] == {"drop": ["ALL"]}, name
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, name
            assert sc.get("privileged") is False, name
        vols = {v["name"]: v for v in spec.get("volumes", [])}
        vols.update({v["metadata"]["name"]: {"persistentVolumeClaim": {}}
                     for v in o["spec"].get("volumeClaimTemplates", [])})
        for c in spec["containers"]:
            for m in c.get("volumeMounts", []):
                assert m["name"] in vols, name
                assert "hostPath" not in vols[m["name"]], name
    for sa in r.kind("ServiceAccount"):
        assert sa["automountServiceAccountToken"] is False


def test_berth_pods_run_as_65532_with_an_emptydir_tmp(profile_rendering):
    _p, r = profile_rendering
    for o, c in berth_containers(r):
        assert c["securityContext"]["runAsUser"] == 65532
        assert pod_spec(o)["securityContext"]["runAsUser"] == 65532
        if o["kind"] == "Pod":
            continue  # the helm test pod writes nothing
        tmp = [m for m in c["volumeMounts"] if m["mountPath"] == "/tmp"]
        assert len(tmp) == 1
        vol = {v["name"]: v for v in pod_spec(o)["volumes"]}[tmp[0]["name"]]
        assert "emptyDir" in vol


# ---------------------------------------------------------------- configuration and secrets

def test_settings_come_from_a_configmap_in_berths_variables(default):
    for name, port in WORKLOADS.items():
        d = default.get("Deployment", f"berth-{name}")
        c = pod_spec(d)["containers"][0]
        assert c["envFrom"] == [{"configMapRef": {"name": f"berth-{name}"}}]
        data = default.get("ConfigMap", f"berth-{name}")["data"]
        var = "BERTH_MULTIVAC_WORKER_ADDR" if name == "multivac-worker" else f"BERTH_{name.upper()}_ADDR"
        assert data[var] == f"0.0.0.0:{port}"
        assert data["BERTH_LOG_FORMAT"] == "json"
        assert data["BERTH_DATA_DIR"] == "/data"
        assert data["BERTH_DRAIN_TIMEOUT"] == "10s"
        assert c["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]


def test_extra_settings_reach_the_configmap(render):
    r = render("default", FIXED_SECRETS, {"config": {"env": {"BERTH_REQUEST_TIMEOUT": "20s"}},
                                          "users": {"env": {"BERTH_USERS_POOL_SIZE": 8}}})
    assert r.get("ConfigMap", "berth-clock")["data"]["BERTH_REQUEST_TIMEOUT"] == "20s"
    assert r.get("ConfigMap", "berth-users")["data"]["BERTH_USERS_POOL_SIZE"] == "8"
    assert "BERTH_USERS_POOL_SIZE" not in r.get("ConfigMap", "berth-clock")["data"]


EXPECTED_KEYS = {
    "clock": set(),
    "users": {"api-tokens", "users-database-url"},
    "rates": {"api-tokens", "rates-database-url"},
    "kv": {"kv-redis-url"},
    "multivac": {"api-tokens", "multivac-database-url", "multivac-redis-url"},
    "multivac-worker": {"multivac-database-url", "multivac-redis-url"},
}
FILE_VARS = {
    "api-tokens": "BERTH_API_TOKENS_FILE", "users-database-url": "BERTH_USERS_DATABASE_URL_FILE",
    "rates-database-url": "BERTH_RATES_DATABASE_URL_FILE", "multivac-database-url": "BERTH_MULTIVAC_DATABASE_URL_FILE",
    "kv-redis-url": "BERTH_KV_REDIS_URL_FILE", "multivac-redis-url": "BERTH_MULTIVAC_REDIS_URL_FILE",
}


def test_secrets_are_files_read_through_file_variables_each_pod_only_its_own(default):
    secret = default.get("Secret", "berth-secrets")
    data = secret_data(secret)
    assert data["users-database-url"] == FIXED_SECRETS["secrets"]["usersDatabaseUrl"]
    for name, keys in EXPECTED_KEYS.items():
        d = default.get("Deployment", f"berth-{name}")
        spec = pod_spec(d)
        c = spec["containers"][0]
        vols = {v["name"]: v for v in spec["volumes"]}
        mounted = {}
        for m in c["volumeMounts"]:
            s = vols[m["name"]].get("secret")
            if s:
                assert s["secretName"] == "berth-secrets"
                assert m["readOnly"] is True
                assert s["defaultMode"] == 0o440
                for item in s["items"]:
                    mounted[item["key"]] = f"{m['mountPath']}/{item['path']}"
        assert set(mounted) == keys, name
        env = env_of(default, d, c)
        for key, path in mounted.items():
            assert env[FILE_VARS[key]] == path, (name, key)
        # No secret value in any variable.
        for val in env.values():
            assert val not in data.values(), name
        assert not any("valueFrom" in e for e in c.get("env", []))


def test_kv_needs_a_token_only_when_asked(render, default):
    assert "BERTH_API_TOKENS_FILE" not in env_of(default, None, pod_spec(default.get("Deployment", "berth-kv"))["containers"][0])
    r = render("default", FIXED_SECRETS, {"kv": {"requireApiToken": True}})
    c = pod_spec(r.get("Deployment", "berth-kv"))["containers"][0]
    assert env_of(r, None, c)["BERTH_API_TOKENS_FILE"] == "/run/secrets/berth/api-tokens"


def test_existing_secret_for_production(render):
    r = render("default", {"secrets": {"existingSecret": "berth-prod"}})
    assert r.kind("Secret") == []
    for name, keys in EXPECTED_KEYS.items():
        vols = [v for v in pod_spec(r.get("Deployment", f"berth-{name}"))["volumes"] if "secret" in v]
        assert [v["secret"]["secretName"] for v in vols] == (["berth-prod"] if keys else []), name
    assert "no store configured" not in r.notes


def test_missing_store_urls_are_named_in_the_notes(render):
    r = render("default")
    assert "users needs users-database-url" in r.notes
    assert "kv needs kv-redis-url" in r.notes
    assert "no store configured" not in render("dev").notes


def test_generated_api_token_is_random_and_long(render):
    a = secret_data(render("default").get("Secret", "berth-secrets"))["api-tokens"]
    b = secret_data(render("default").get("Secret", "berth-secrets"))["api-tokens"]
    assert len(a) >= 32 and a != b


def checksums(rendering):
    return {o["metadata"]["name"]: (pod_meta(o)["annotations"]["checksum/config"],
                                    pod_meta(o)["annotations"]["checksum/secret"])
            for o in rendering.kind("Deployment")}


def test_checksum_annotations_change_when_a_value_changes(render):
    base = checksums(render("default", FIXED_SECRETS))
    assert base == checksums(render("default", FIXED_SECRETS)), "same values, same checksums"
    assert all(re.fullmatch(r"[0-9a-f]{64}", v) for pair in base.values() for v in pair)

    log = checksums(render("default", FIXED_SECRETS, {"config": {"logLevel": "debug"}}))
    for name in base:
        assert log[name][0] != base[name][0], f"{name}: checksum/config must change"
        assert log[name][1] == base[name][1], f"{name}: checksum/secret must not change"

    users = checksums(render("default", FIXED_SECRETS, {"users": {"env": {"BERTH_USERS_POOL_SIZE": "4"}}}))
    assert users["berth-users"][0] != base["berth-users"][0]
    assert users["berth-clock"] == base["berth-clock"], "another service's settings do not roll clock"

    token = checksums(render("default", FIXED_SECRETS, {"secrets": {"apiTokens": "another-token-0123456789"}}))
    for name in base:
        assert token[name][0] == base[name][0]
        assert token[name][1] != base[name][1], f"{name}: checksum/secret must change"


def test_checksum_annotations_of_the_dev_stores(render):
    fixed = {"postgresql": {"auth": {k: f"pw-{k}-0123456789" for k in
                                     ("postgresPassword", "usersPassword", "ratesPassword", "multivacPassword")}},
             "redis": {"auth": {k: f"pw-{k}-0123456789" for k in
                                ("kvPassword", "multivacPassword", "healthcheckPassword", "adminPassword")}},
             "secrets": {"apiTokens": "token-0123456789abcdef0123"}}

    def sums(r):
        return {o["metadata"]["name"]: dict(pod_meta(o)["annotations"]) for o in r.kind("StatefulSet")}

    base = sums(render("dev", fixed))
    assert base == sums(render("dev", fixed))
    mem = sums(render("dev", fixed, {"redis": {"maxmemory": "100mb"}}))
    assert mem["berth-redis"]["checksum/config"] != base["berth-redis"]["checksum/config"]
    pw = sums(render("dev", fixed, {"postgresql": {"auth": {"ratesPassword": "another-password-0123"}}}))
    assert pw["berth-postgresql"]["checksum/secret"] != base["berth-postgresql"]["checksum/secret"]
    assert pw["berth-redis"] == base["berth-redis"]


# ---------------------------------------------------------------- stores

def test_external_stores_by_default(default):
    assert default.kind("StatefulSet") == []
    assert "berth-postgresql" not in default.names("Service")


def test_dev_profile_adds_postgresql_and_redis_statefulsets(dev):
    for name, port in (("berth-postgresql", 5432), ("berth-redis", 6379)):
        sts = dev.get("StatefulSet", name)
        assert sts["spec"]["replicas"] == 1
        vct = sts["spec"]["volumeClaimTemplates"]
        assert [v["metadata"]["name"] for v in vct] == ["data"]
        assert vct[0]["spec"]["accessModes"] == ["ReadWriteOnce"]
        assert dev.get("Service", name)["spec"]["ports"][0]["port"] == port
        assert dev.get("Service", f"{name}-headless")["spec"]["clusterIP"] == "None"
        assert sts["spec"]["serviceName"] == f"{name}-headless"


def test_dev_postgresql_is_initialised_by_roles_sql_one_source(dev):
    assert dev.get("ConfigMap", "berth-postgresql-roles")["data"]["roles.sql"] == \
        (ROOT / "deploy/postgres/roles.sql").read_text()
    init = dev.get("ConfigMap", "berth-postgresql-initdb")["data"]["10-berth.sh"]
    assert init == (ROOT / "deploy/compose/postgres/init/10-berth.sh").read_text()
    # What 10-berth.sh reads, the pod provides: the passwords at /run/secrets, roles.sql
    # at /etc/berth/postgres, the script in the image's init directory.
    assert "/etc/berth/postgres/roles.sql" in init and "/run/secrets/postgres_${role}_password" in init
    sts = dev.get("StatefulSet", "berth-postgresql")
    c = pod_spec(sts)["containers"][0]
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    vols = {v["name"]: v for v in pod_spec(sts)["volumes"]}
    assert vols[mounts["/docker-entrypoint-initdb.d"]]["configMap"]["name"] == "berth-postgresql-initdb"
    assert vols[mounts["/etc/berth/postgres"]]["configMap"]["name"] == "berth-postgresql-roles"
    items = {i["path"] for i in vols[mounts["/run/secrets"]]["secret"]["items"]}
    assert items == {"postgres_password", "postgres_users_password", "postgres_rates_password", "postgres_multivac_password"}
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"


def test_dev_redis_runs_the_shipped_config_and_acl_one_source(dev):
    cm = dev.get("ConfigMap", "berth-redis")["data"]
    for f in ("redis.conf", "render-acl.sh", "entrypoint.sh"):
        assert cm[f] == (ROOT / "deploy/redis" / f).read_text(), f
    assert "appendfsync always" in cm["redis.conf"]
    assert "user default off" in cm["render-acl.sh"]
    sts = dev.get("StatefulSet", "berth-redis")
    c = pod_spec(sts)["containers"][0]
    assert c["command"] == ["/bin/sh", "/etc/berth/redis/entrypoint.sh"]
    assert c["args"] == ["--maxmemory", "200mb"]
    env = {e["name"]: e["value"] for e in c["env"]}
    vols = {v["name"]: v for v in pod_spec(sts)["volumes"]}
    mount = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    for key in ("redis_kv_password", "redis_multivac_password", "redis_healthcheck_password", "redis_admin_password"):
        assert env[f"{key.upper()}_FILE"] == f"{mount['secrets']}/{key}"
        assert key in {i["key"] for i in vols["secrets"]["secret"]["items"]}
    assert mount["data"] == env["REDIS_DATA_DIR"] == "/data"
    assert "PONG" in " ".join(c["readinessProbe"]["exec"]["command"])


def test_dev_urls_carry_the_store_passwords(dev):
    app = secret_data(dev.get("Secret", "berth-secrets"))
    pg = secret_data(dev.get("Secret", "berth-postgresql"))
    rd = secret_data(dev.get("Secret", "berth-redis"))
    for role in ("users", "rates", "multivac"):
        assert app[f"{role}-database-url"] == \
            f"postgres://{role}:{pg[f'postgres_{role}_password']}@berth-postgresql:5432/{role}"
    for user in ("kv", "multivac"):
        assert app[f"{user}-redis-url"] == f"redis://{user}:{rd[f'redis_{user}_password']}@berth-redis:6379/0"
    for pw in list(pg.values()) + list(rd.values()):
        assert len(pw) >= 32
    assert len(set(pg.values()) | set(rd.values())) == 8, "every password its own"
    for name in ("berth-postgresql", "berth-redis"):
        assert dev.get("Secret", name)["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_embedded_sqlite_only_with_one_replica_and_a_pvc(render):
    with pytest.raises(helm.HelmError, match=r"users\.embedded\.enabled needs users\.replicas: 1"):
        render("default", FIXED_SECRETS, {"users": {"embedded": {"enabled": True}}})
    r = render("default", FIXED_SECRETS, {"users": {"replicas": 1, "embedded": {"enabled": True, "size": "3Gi"}}})
    d = r.get("Deployment", "berth-users")
    assert d["spec"]["strategy"] == {"type": "Recreate"}
    pvc = r.get("PersistentVolumeClaim", "berth-users-data")
    assert pvc["spec"]["resources"]["requests"]["storage"] == "3Gi"
    data = {v["name"]: v for v in pod_spec(d)["volumes"]}["data"]
    assert data["persistentVolumeClaim"]["claimName"] == "berth-users-data"
    env = env_of(r, d, pod_spec(d)["containers"][0])
    assert "BERTH_USERS_DATABASE_URL_FILE" not in env and env["BERTH_DATA_DIR"] == "/data"
    with pytest.raises(helm.HelmError, match="multivacWorker.enabled: false"):
        render("default", FIXED_SECRETS, {"multivac": {"replicas": 1, "embedded": {"enabled": True}}})
    values = (helmlib.CHART / "values.yaml").read_text()
    assert "Only with replicas: 1" in values


# ---------------------------------------------------------------- rates data

def test_rates_job_loads_the_sample_and_is_safe_to_rerun(dev):
    job = dev.get("Job", "berth-rates-load")
    ann = job["metadata"]["annotations"]
    assert ann["helm.sh/hook"] == "post-install,post-upgrade"
    assert ann["helm.sh/hook-delete-policy"] == "before-hook-creation"
    c = pod_spec(job)["containers"][0]
    assert c["args"] == ["rates", "load", "--replace", "/dumps/rates.sql"]
    assert pod_spec(job)["restartPolicy"] == "Never"
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["BERTH_RATES_DATABASE_URL_FILE"] == "/run/secrets/berth/rates-database-url"
    assert dev.get("ConfigMap", "berth-rates-sample")["data"]["rates.sql"] == \
        (ROOT / "deploy/compose/rates/sample.sql").read_text()


def test_rates_job_from_a_url_keeps_the_url_in_the_secret(everything):
    job = everything.get("Job", "berth-rates-load")
    c = pod_spec(job)["containers"][0]
    assert c["args"] == ["rates", "load", "--replace", "$(BERTH_RATES_DUMP)"]
    ref = {e["name"]: e for e in c["env"]}["BERTH_RATES_DUMP"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "berth-secrets", "key": "rates-dump-url"}
    assert "X-Amz-Signature" not in everything.manifest().replace(
        everything.get("Secret", "berth-secrets")["data"]["rates-dump-url"], "")


def test_rates_job_from_a_pvc_or_a_configmap(render):
    r = render("default", FIXED_SECRETS, {"ratesLoad": {"enabled": True, "source": "persistentVolumeClaim",
                                                        "persistentVolumeClaim": {"claimName": "dumps", "path": "x/rates.sql"}}})
    job = r.get("Job", "berth-rates-load")
    assert pod_spec(job)["containers"][0]["args"][-1] == "/dumps/x/rates.sql"
    vol = {v["name"]: v for v in pod_spec(job)["volumes"]}["dumps"]
    assert vol["persistentVolumeClaim"] == {"claimName": "dumps", "readOnly": True}
    r = render("default", FIXED_SECRETS, {"ratesLoad": {"enabled": True, "source": "configMap",
                                                        "configMap": {"name": "my-dump", "key": "dump.sql"}}})
    vol = {v["name"]: v for v in pod_spec(r.get("Job", "berth-rates-load"))["volumes"]}["dumps"]
    assert vol["configMap"] == {"name": "my-dump", "items": [{"key": "dump.sql", "path": "rates.sql"}]}
    with pytest.raises(helm.HelmError, match="ratesLoad.configMap.name"):
        render("default", FIXED_SECRETS, {"ratesLoad": {"enabled": True, "source": "configMap"}})


# ---------------------------------------------------------------- networking

def test_a_clusterip_service_per_workload(default):
    for name, port in WORKLOADS.items():
        svc = default.get("Service", f"berth-{name}")
        assert svc["spec"]["type"] == "ClusterIP"
        assert svc["spec"]["ports"] == [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}]
        assert labels_match({"matchLabels": svc["spec"]["selector"]},
                            pod_meta(default.get("Deployment", f"berth-{name}"))["labels"])


def test_optional_ingress_with_class_hosts_and_tls(default, everything):
    assert default.kind("Ingress") == []
    ing = everything.get("Ingress", "berth")
    assert ing["spec"]["ingressClassName"] == "nginx"
    assert ing["spec"]["tls"][0]["secretName"] == "berth-tls"
    rules = {r["host"]: r["http"]["paths"][0]["backend"]["service"] for r in ing["spec"]["rules"]}
    assert rules["clock.berth.example.com"] == {"name": "berth-clock", "port": {"name": "http"}}
    assert len(rules) == 5


def policies_for(r, obj):
    labels = pod_meta(obj)["labels"]
    return [np for np in r.kind("NetworkPolicy") if labels_match(np["spec"]["podSelector"], labels)]


def allowed_ingress_ports(r, obj, peer_pred):
    ports = set()
    for np in policies_for(r, obj):
        for rule in np["spec"].get("ingress", []):
            if any(peer_pred(p) for p in rule.get("from", [])):
                ports |= {p["port"] for p in rule.get("ports", [])}
    return ports


def test_network_policies_deny_by_default_in_the_release(profile_rendering):
    _p, r = profile_rendering
    deny = r.get("NetworkPolicy", f"{r.names('ServiceAccount')[0]}-default-deny")
    assert deny["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny["spec"] and "egress" not in deny["spec"]
    for o in pods(r):
        assert deny in policies_for(r, o), o["metadata"]["name"]


def test_network_policies_allow_ingress_controller_prometheus_and_the_stores_only(dev):
    ingress_ns = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
    prometheus_ns = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    for name, port in WORKLOADS.items():
        d = dev.get("Deployment", f"berth-{name}")
        assert allowed_ingress_ports(dev, d, lambda p: p == prometheus_ns) == {port}, name
        assert allowed_ingress_ports(dev, d, lambda p: p == ingress_ns) == ({port} if name in HTTP else set()), name
    # Egress of the services: DNS, and their stores' ports only.
    need = {"clock": set(), "users": {5432}, "rates": {5432}, "kv": {6379},
            "multivac": {5432, 6379}, "multivac-worker": {5432, 6379}}
    for name, ports in need.items():
        d = dev.get("Deployment", f"berth-{name}")
        egress = {p["port"] for np in policies_for(dev, d) for rule in np["spec"].get("egress", [])
                  for p in rule.get("ports", [])}
        assert egress == ports | {53}, name
    # The stores: only from the services that use them.
    pg = dev.get("StatefulSet", "berth-postgresql")
    callers = {name for name in WORKLOADS
               if allowed_ingress_ports(dev, pg, lambda p, n=name: "podSelector" in p and labels_match(
                   p["podSelector"], pod_meta(dev.get("Deployment", f"berth-{n}"))["labels"]))}
    assert callers == {"users", "rates", "multivac", "multivac-worker"}
    assert allowed_ingress_ports(dev, pg, lambda p: "namespaceSelector" in p) == set()
    rd = dev.get("StatefulSet", "berth-redis")
    callers = {name for name in WORKLOADS
               if allowed_ingress_ports(dev, rd, lambda p, n=name: "podSelector" in p and labels_match(
                   p["podSelector"], pod_meta(dev.get("Deployment", f"berth-{n}"))["labels"]))}
    assert callers == {"kv", "multivac", "multivac-worker"}
    job = dev.get("Job", "berth-rates-load")
    assert allowed_ingress_ports(dev, pg, lambda p: "podSelector" in p and labels_match(
        p["podSelector"], pod_meta(job)["labels"])) == {5432}


def test_network_policies_let_the_test_pod_reach_every_service(dev):
    test = dev.get("Pod", "berth-test")
    for name, port in WORKLOADS.items():
        d = dev.get("Deployment", f"berth-{name}")
        assert port in allowed_ingress_ports(dev, d, lambda p: "podSelector" in p and labels_match(
            p["podSelector"], test["metadata"]["labels"])), name


# ---------------------------------------------------------------- monitoring

def test_servicemonitor_scrapes_every_workload_with_compose_job_names(everything):
    sm = everything.get("ServiceMonitor", "berth")
    assert sm["metadata"]["labels"]["release"] == "prometheus"
    assert sm["spec"]["jobLabel"] == "app.kubernetes.io/component"
    assert sm["spec"]["endpoints"][0]["port"] == "http" and sm["spec"]["endpoints"][0]["path"] == "/metrics"
    selected = [s for s in everything.kind("Service") if labels_match(sm["spec"]["selector"], s["metadata"]["labels"])]
    assert sorted(s["metadata"]["labels"]["app.kubernetes.io/component"] for s in selected) == sorted(WORKLOADS)
    # The dashboards query job="clock", ...: the job names compose's Prometheus uses.
    compose_jobs = {j["job_name"] for j in yaml.safe_load(
        (ROOT / "deploy/compose/prometheus/prometheus.yml").read_text())["scrape_configs"]} - {"prometheus"}
    assert compose_jobs == set(WORKLOADS)


def test_prometheusrule_carries_the_compose_rules_unchanged(everything):
    rule = everything.get("PrometheusRule", "berth")
    source = yaml.safe_load((ROOT / "deploy/compose/prometheus/rules/berth.yml").read_text())
    assert rule["spec"]["groups"] == source["groups"]


def test_grafana_dashboards_as_configmaps_for_the_sidecar(everything):
    sources = sorted((ROOT / "deploy/compose/grafana/dashboards").glob("*.json"))
    cms = [c for c in everything.kind("ConfigMap") if c["metadata"]["name"].startswith("berth-dashboard-")]
    assert len(cms) == len(sources) >= 6
    for src in sources:
        cm = next(c for c in cms if src.name in c["data"])
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert cm["metadata"]["annotations"]["grafana_folder"] == "berth"
        got = json.loads(cm["data"][src.name])
        want = json.loads(src.read_text().replace('"berth-prometheus"', '"prometheus"'))
        assert got == want, src.name
        assert "berth-prometheus" not in cm["data"][src.name]


# ---------------------------------------------------------------- schema

@pytest.mark.parametrize("values, names", [
    ({"clock": {"replicas": "two"}}, ["/clock/replicas", "got string, want integer"]),
    ({"billing": {"enabled": True}}, ["billing", "not allowed"]),
    ({"users": {"replicaz": 2}}, ["replicaz"]),
    ({"image": {"digest": "latest"}}, ["/image/digest"]),
    ({"ratesLoad": {"source": "ftp"}}, ["/ratesLoad/source"]),
    # null deletes a default (helm's rule): a container without a memory limit.
    ({"kv": {"resources": {"limits": {"memory": None}}}}, ["/kv/resources/limits", "memory"]),
])
def test_schema_rejects_bad_values_naming_them(values, names):
    with pytest.raises(helm.HelmValuesError) as err:
        helmlib.validate_schema(values)
    for n in names:
        assert n in str(err.value)
    # An install (rendering) refuses them the same way.
    with pytest.raises(helm.HelmValuesError) as err:
        helmlib.render(copy.deepcopy(values))
    assert names[0] in str(err.value)


def test_schema_accepts_every_profile():
    for files, _n, _ns in helmlib.PROFILES.values():
        helmlib.validate_schema(helmlib.load_values(files))


# ---------------------------------------------------------------- staging, notes, helm test

def test_staging_is_a_scaled_down_copy_for_another_namespace(render):
    s = render("staging")
    for o in s.kind("Deployment"):
        assert o["spec"]["replicas"] == 1
        assert o["metadata"]["name"].startswith("berth-staging-")
        assert o["metadata"]["labels"]["environment"] == "staging"
    assert s.kind("PodDisruptionBudget") == [] and s.kind("Secret") == []
    prod = render("default", FIXED_SECRETS)

    def mib(q):
        return int(q[:-2]) * (1024 if q.endswith("Gi") else 1)

    for o in s.kind("Deployment"):
        big = prod.get("Deployment", o["metadata"]["name"].replace("berth-staging-", "berth-"))
        small_c, big_c = pod_spec(o)["containers"][0], pod_spec(big)["containers"][0]
        assert mib(small_c["resources"]["limits"]["memory"]) < mib(big_c["resources"]["limits"]["memory"])
        assert mib(small_c["resources"]["requests"]["memory"]) <= mib(big_c["resources"]["requests"]["memory"])
    assert {v["secret"]["secretName"] for o in s.kind("Deployment") for v in pod_spec(o)["volumes"]
            if "secret" in v} == {"berth-secrets"}


NAMESPACED = {"ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Ingress", "Job", "NetworkPolicy", "Pod",
              "PodDisruptionBudget", "PrometheusRule", "Secret", "Service", "ServiceAccount", "ServiceMonitor",
              "StatefulSet", "PersistentVolumeClaim"}


def test_nothing_cluster_wide_everything_in_the_release_namespace(profile_rendering):
    profile, r = profile_rendering
    ns = helmlib.PROFILES[profile][2]
    for o in r.objects:
        assert o["kind"] in NAMESPACED, o["kind"]
        assert o["metadata"]["namespace"] == ns, (o["kind"], o["metadata"]["name"])


def test_notes_give_each_service_url(render, everything):
    notes = render("default", FIXED_SECRETS).notes
    for name, port in WORKLOADS.items():
        assert f"http://berth-{name}.berth.svc:{port}" in notes
    assert "https://clock.berth.example.com/" in everything.notes
    assert "helm test berth" in notes


def test_helm_test_pod_runs_berth_healthcheck_against_every_service(default):
    pod = default.get("Pod", "berth-test")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert pod["spec"]["restartPolicy"] == "Never"
    got = {c["name"]: c["args"] for c in pod["spec"]["containers"]}
    assert got == {name: ["healthcheck", "--timeout", "5s", f"http://berth-{name}:{port}/healthcheck"]
                   for name, port in WORKLOADS.items()}
    for c in pod["spec"]["containers"]:
        assert c["image"] == "ghcr.io/berth/berth:0.1.0" and "command" not in c
