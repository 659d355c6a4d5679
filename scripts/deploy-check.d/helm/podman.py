"""Run the dev profile's pods for real with `podman kube play` (Podman 4.3).

  podman.py run MANIFEST STATE      play, wait, check; cleans up on the way out
  podman.py cleanup STATE           remove what STATE lists (the shell trap's net)

MANIFEST is the chart rendered with values-dev.yaml (release berth-helm, so every
object's name starts with berth-helm-) with the image values pointed at the local
berth image and the e2e stand-ins for PostgreSQL and Redis. STATE is a file where
every Podman object this script creates is recorded before it is created.

What Podman 4.3 plays, and how this script bridges the rest (nothing in the chart's
pod specs changes except what is listed here):
  - Deployment, ConfigMap, PersistentVolumeClaim: played as rendered.
  - StatefulSet: not supported; played as a Deployment with the same pod template,
    its volumeClaimTemplates as PersistentVolumeClaims.
  - Job and the helm test Pod: played as Pods (restartPolicy Never); their exit
    codes are the result.
  - Secret: a Secret in the played file is not read; each one becomes a Podman
    secret. Podman 4.3 writes a secret volume's `data` values verbatim (it does not
    base64-decode them), so the podman secret carries the decoded values.
  - Service: not supported, and no cluster DNS. The stores are played first; the
    pods that reach a Service get hostAliases mapping its name to the IP of the pod
    behind it (the test pod: every service's).
  - emptyDir: Podman 4.3 makes a named volume called after the pod's volume ("tmp",
    one for every pod naming one so), filled with a copy of the image's directory
    there; each becomes a fresh host directory, mode 0777, as a kubelet makes it.
  - probes: Podman runs none without systemd. This script runs each one's check
    itself (httpGet through `berth healthcheck` in the container, exec probes as
    they are), so readiness is the chart's own definition.
"""

from __future__ import annotations

import base64
import copy
import json
import pathlib
import subprocess
import sys
import time

import yaml

PREFIX = "berth-helm-"
NETWORK = "berth-helm-net"
STORE_DEADLINE = 180
JOB_DEADLINE = 180
SERVICE_DEADLINE = 180
TEST_DEADLINE = 90


def say(msg: str) -> None:
    print(f"==> [helm/podman] {msg}", flush=True)


class Failure(Exception):
    pass


def podman(*args: str, check: bool = True, capture: bool = True, timeout: int = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run(["podman", *args], text=True, capture_output=capture, timeout=timeout)
    if check and proc.returncode != 0:
        raise Failure(f"podman {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


class State:
    """The objects created, recorded before they are created."""

    def __init__(self, path: pathlib.Path):
        self.path = path

    def add(self, kind: str, name: str) -> None:
        if not name.startswith(PREFIX):
            raise Failure(f"refusing to create {kind} {name}: not prefixed {PREFIX}")
        with self.path.open("a") as f:
            f.write(f"{kind} {name}\n")

    def entries(self) -> list[tuple[str, str]]:
        if not self.path.exists():
            return []
        return [tuple(line.split(" ", 1)) for line in self.path.read_text().splitlines() if " " in line]


def cleanup(state: State) -> None:
    entries = list(dict.fromkeys(state.entries()))
    by_kind: dict[str, list[str]] = {}
    for kind, name in entries:
        by_kind.setdefault(kind, []).append(name)
    # One command per kind: Podman stops the pods in parallel.
    if by_kind.get("pod"):
        podman("pod", "rm", "-f", "-t", "5", *by_kind["pod"], check=False, timeout=120)
    for vol in by_kind.get("volume", []):
        podman("volume", "rm", "-f", vol, check=False)
    if by_kind.get("secret"):
        podman("secret", "rm", *by_kind["secret"], check=False)
    for net in by_kind.get("network", []):
        podman("network", "rm", "-f", net, check=False)
    if entries:
        say(f"removed what this run created ({len(entries)} objects: pods, volumes, secrets, network)")
    state.path.write_text("")


def pod_spec(obj: dict) -> dict:
    return obj["spec"] if obj["kind"] == "Pod" else obj["spec"]["template"]["spec"]


def as_pod(obj: dict) -> dict:
    """A Job's pod template (or a Pod) as a Pod named after the object."""
    tmpl = obj if obj["kind"] == "Pod" else obj["spec"]["template"]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": obj["metadata"]["name"], "labels": tmpl["metadata"].get("labels", {})},
            "spec": copy.deepcopy(tmpl["spec"])}


def as_deployment(sts: dict) -> tuple[dict, list[dict]]:
    """A StatefulSet as a Deployment, its volumeClaimTemplates as PVCs."""
    name = sts["metadata"]["name"]
    spec = copy.deepcopy(sts["spec"]["template"]["spec"])
    pvcs = []
    for vct in sts["spec"].get("volumeClaimTemplates", []):
        claim = f"{name}-{vct['metadata']['name']}-0"
        spec.setdefault("volumes", []).append({"name": vct["metadata"]["name"],
                                               "persistentVolumeClaim": {"claimName": claim}})
        pvcs.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": claim},
                     "spec": copy.deepcopy(vct["spec"])})
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": copy.deepcopy(sts["metadata"]),
           "spec": {"replicas": 1, "selector": sts["spec"]["selector"],
                    "template": {"metadata": sts["spec"]["template"]["metadata"], "spec": spec}}}
    return dep, pvcs


def empty_dirs_on_host(obj: dict, base: pathlib.Path) -> None:
    """emptyDir volumes as fresh host directories, mode 0777 (what a kubelet makes).
    Podman 4.3 makes a named volume instead, called after the pod's volume ("tmp",
    shared by every pod that names one so) and filled with a copy of the image's
    directory at that path, owner and mode included."""
    spec = pod_spec(obj)
    for v in spec.get("volumes", []):
        if "emptyDir" in v:
            d = base / obj["metadata"]["name"] / v["name"]
            d.mkdir(parents=True, exist_ok=True)
            d.chmod(0o777)
            del v["emptyDir"]
            v["hostPath"] = {"path": str(d), "type": "Directory"}


def volume_names(obj: dict) -> list[str]:
    """The Podman volumes a pod spec makes: ConfigMaps, Secrets and claims, by name."""
    out = []
    for v in pod_spec(obj).get("volumes", []):
        if "configMap" in v:
            out.append(v["configMap"]["name"])
        elif "secret" in v:
            out.append(v["secret"]["secretName"])
        elif "persistentVolumeClaim" in v:
            out.append(v["persistentVolumeClaim"]["claimName"])
    return out


def service_targets(objects: list[dict]) -> dict[str, dict]:
    """Service name -> the workload (Deployment/StatefulSet) its selector picks."""
    workloads = [o for o in objects if o["kind"] in ("Deployment", "StatefulSet")]
    out = {}
    for svc in (o for o in objects if o["kind"] == "Service"):
        sel = svc["spec"].get("selector", {})
        for w in workloads:
            labels = w["spec"]["template"]["metadata"]["labels"]
            if all(labels.get(k) == v for k, v in sel.items()):
                out[svc["metadata"]["name"]] = w
    return out


def pod_ip(pod: str) -> str:
    info = json.loads(podman("pod", "inspect", pod).stdout)
    info = info[0] if isinstance(info, list) else info
    infra = info["InfraContainerID"]
    nets = json.loads(podman("inspect", infra).stdout)[0]["NetworkSettings"]["Networks"]
    ip = nets[NETWORK]["IPAddress"]
    if not ip:
        raise Failure(f"pod {pod} has no address on {NETWORK}")
    return ip


def play(objs: list[dict], workdir: pathlib.Path, label: str, state: State) -> list[str]:
    """podman kube play the objects (ConfigMaps they need included); returns the pods."""
    if not any(o["kind"] in ("Deployment", "Pod") for o in objs):
        return []
    path = workdir / f"{label}.yaml"
    path.write_text(yaml.safe_dump_all(objs, sort_keys=False))
    pods = []
    for o in objs:
        if o["kind"] == "PersistentVolumeClaim":
            state.add("volume", o["metadata"]["name"])
        if o["kind"] in ("Deployment", "Pod"):
            for v in volume_names(o):
                state.add("volume", v)
            if o["kind"] == "Deployment":
                pods += [f"{o['metadata']['name']}-pod-{i}" for i in range(o["spec"].get("replicas", 1))]
            else:
                pods.append(o["metadata"]["name"])
    for p in pods:
        state.add("pod", p)
    podman("kube", "play", "--network", NETWORK, str(path), timeout=300)
    return pods


def container_name(obj: dict, container: dict) -> str:
    pod = f"{obj['metadata']['name']}-pod-0" if obj["kind"] == "Deployment" else obj["metadata"]["name"]
    return f"{pod}-{container['name']}"


def probe_ok(cname: str, probe: dict, port: int) -> bool:
    if "exec" in probe:
        cmd = probe["exec"]["command"]
    else:
        get = probe["httpGet"]
        p = port if get["port"] == "http" else get["port"]
        cmd = ["/berth", "healthcheck", "--timeout", f"{probe.get('timeoutSeconds', 3)}s",
               f"http://127.0.0.1:{p}{get['path']}"]
    return podman("exec", cname, *cmd, check=False, timeout=30).returncode == 0


def state_of(cname: str) -> dict:
    return json.loads(podman("inspect", cname).stdout)[0]["State"]


def wait_ready(obj: dict, deadline_s: int) -> float:
    """Until the readiness probe of every container passes; returns the seconds it took."""
    t0 = time.monotonic()
    for c in pod_spec(obj)["containers"]:
        cname = container_name(obj, c)
        port = c["ports"][0]["containerPort"]
        while True:
            st = state_of(cname)
            if st["Status"] == "exited":
                logs = podman("logs", "--tail", "40", cname, check=False).stdout + podman(
                    "logs", "--tail", "40", cname, check=False).stderr
                raise Failure(f"{cname} exited ({st['ExitCode']}) before it was ready:\n{logs}")
            if probe_ok(cname, c["readinessProbe"], port):
                break
            if time.monotonic() - t0 > deadline_s:
                logs = podman("logs", "--tail", "40", cname, check=False)
                raise Failure(f"{cname}: readiness probe still failing after {deadline_s}s\n{logs.stdout}{logs.stderr}")
            time.sleep(1)
    return time.monotonic() - t0


def wait_exit(pod: dict, deadline_s: int) -> dict[str, int]:
    t0 = time.monotonic()
    codes = {}
    for c in pod_spec(pod)["containers"]:
        cname = container_name(pod, c)
        while True:
            st = state_of(cname)
            if st["Status"] in ("exited", "stopped"):
                codes[c["name"]] = st["ExitCode"]
                break
            if time.monotonic() - t0 > deadline_s:
                raise Failure(f"{cname} still running after {deadline_s}s")
            time.sleep(1)
    return codes


def check_security(obj: dict) -> None:
    """The chart's securityContext, as Podman enforces it on the running container."""
    for c in pod_spec(obj)["containers"]:
        cname = container_name(obj, c)
        info = json.loads(podman("inspect", cname).stdout)[0]
        sc = c["securityContext"]
        uid = str(sc["runAsUser"])
        user = info["Config"]["User"]
        if user.split(":")[0] != uid:
            raise Failure(f"{cname} runs as {user!r}, the chart says uid {uid}")
        if info["HostConfig"]["ReadonlyRootfs"] is not True:
            raise Failure(f"{cname}: root filesystem is writable")
        if info.get("EffectiveCaps") not in (None, []):
            raise Failure(f"{cname} has capabilities {info['EffectiveCaps']}")
        if "no-new-privileges" not in " ".join(info["HostConfig"].get("SecurityOpt") or []):
            raise Failure(f"{cname}: no-new-privileges is not set")


def run(manifest: pathlib.Path, state: State) -> None:
    objects = [o for o in yaml.safe_load_all(manifest.read_text()) if o]
    for o in objects:
        if not (o["metadata"]["name"] + "-").startswith(PREFIX):
            raise Failure(f"{o['kind']}/{o['metadata']['name']} is not prefixed {PREFIX}: render with release berth-helm")
    by_kind: dict[str, list[dict]] = {}
    for o in objects:
        by_kind.setdefault(o["kind"], []).append(o)
    configmaps = by_kind.get("ConfigMap", [])
    targets = service_targets(objects)
    ignored = sorted({o["kind"] for o in objects} - {"ConfigMap", "Deployment", "StatefulSet", "Job", "Pod", "Secret"})
    say(f"not played (Podman has no such object): {', '.join(ignored)}")
    workdir = manifest.parent / "podman"
    workdir.mkdir(exist_ok=True)
    figures = {}

    state.add("network", NETWORK)
    podman("network", "create", NETWORK)

    # Secrets -> Podman secrets holding a Kubernetes Secret with decoded values.
    for s in by_kind.get("Secret", []):
        name = s["metadata"]["name"]
        data = {k: base64.b64decode(v).decode() for k, v in s.get("data", {}).items()}
        f = workdir / f"{name}.json"
        f.write_text(json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": data}))
        f.chmod(0o600)
        state.add("secret", name)
        podman("secret", "create", name, str(f))
        f.unlink()
    say(f"secrets: {', '.join(s['metadata']['name'] for s in by_kind.get('Secret', []))} (as Podman secrets)")

    def with_hosts(obj: dict, services: list[str], ips: dict[str, str]) -> dict:
        obj = copy.deepcopy(obj)
        spec = pod_spec(obj)
        spec["hostAliases"] = [{"ip": ips[s], "hostnames": [s]} for s in services]
        empty_dirs_on_host(obj, workdir / "emptydir")
        return obj

    # 1. The stores (StatefulSets, played as Deployments).
    t_all = time.monotonic()
    stores, pvcs = [], []
    for sts in by_kind.get("StatefulSet", []):
        dep, claims = as_deployment(sts)
        empty_dirs_on_host(dep, workdir / "emptydir")
        stores.append(dep)
        pvcs += claims
    play(configmaps + pvcs + stores, workdir, "stores", state)
    ips: dict[str, str] = {}
    for dep in stores:
        took = wait_ready(dep, STORE_DEADLINE)
        check_security(dep)
        ip = pod_ip(f"{dep['metadata']['name']}-pod-0")
        for svc, w in targets.items():
            if w["metadata"]["name"] == dep["metadata"]["name"]:
                ips[svc] = ip
        say(f"{dep['metadata']['name']}: ready ({took:.0f}s, its own readiness probe), {ip}")
        figures[dep["metadata"]["name"]] = took
    store_services = sorted(ips)

    # What the dev stores were set up with: roles.sql's databases, Redis's ACL.
    pg = next((d for d in stores if d["metadata"]["name"].endswith("-postgresql")), None)
    if pg:
        cname = container_name(pg, pod_spec(pg)["containers"][0])
        dbs = podman("exec", cname, "psql", "-h", "/var/run/postgresql", "-U", "postgres", "-d", "postgres",
                     "-tAc", "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database "
                     "JOIN pg_roles ON pg_roles.oid = datdba WHERE datname = rolname "
                     "AND NOT rolsuper AND NOT rolcreatedb AND NOT rolcreaterole").stdout.strip()
        if dbs != "multivac,rates,users":
            raise Failure(f"PostgreSQL: databases owned by least-privilege roles of the same name: {dbs!r}")
        say("postgresql: databases users, rates, multivac, each owned by its own non-superuser role (roles.sql)")
    rd = next((d for d in stores if d["metadata"]["name"].endswith("-redis")), None)
    if rd:
        cname = container_name(rd, pod_spec(rd)["containers"][0])
        out = podman("exec", cname, "/bin/sh", "-c", "redis-cli ping", check=False)
        if "NOAUTH" not in out.stdout + out.stderr:
            raise Failure(f"Redis answered an unauthenticated PING with {out.stdout.strip()!r}: the default user is on")
        fsync = podman("exec", cname, "/bin/sh", "-c",
                       'REDISCLI_AUTH="$(cat /run/secrets/redis/redis_admin_password)" '
                       "redis-cli --no-auth-warning --user admin config get appendfsync").stdout.split()
        if fsync[-1:] != ["always"]:
            raise Failure(f"Redis appendfsync is {fsync}")
        say("redis: default user off (NOAUTH), appendfsync always (deploy/redis)")

    # 2. The rates data Job, as a Pod.
    for job in by_kind.get("Job", []):
        pod = with_hosts(as_pod(job), store_services, ips)
        t = time.monotonic()
        play(configmaps + [pod], workdir, "job", state)
        codes = wait_exit(pod, JOB_DEADLINE)
        logs = podman("logs", container_name(pod, pod_spec(pod)["containers"][0]), check=False)
        if any(codes.values()):
            raise Failure(f"Job {job['metadata']['name']} failed: {codes}\n{logs.stdout}{logs.stderr}")
        figures[job["metadata"]["name"]] = time.monotonic() - t
        say(f"{job['metadata']['name']}: `{' '.join(pod_spec(pod)['containers'][0]['args'])}` exited 0 "
            f"({figures[job['metadata']['name']]:.0f}s)")

    # 3. The services and the worker.
    services = [with_hosts(d, store_services, ips) for d in by_kind.get("Deployment", [])]
    t = time.monotonic()
    play(configmaps + services, workdir, "services", state)
    for dep in services:
        wait_ready(dep, SERVICE_DEADLINE)
    took = time.monotonic() - t
    figures["services"] = took
    for dep in services:
        c = pod_spec(dep)["containers"][0]
        cname = container_name(dep, c)
        port = c["ports"][0]["containerPort"]
        if not probe_ok(cname, c["livenessProbe"], port):
            raise Failure(f"{cname}: liveness probe {c['livenessProbe']['httpGet']['path']} fails")
        check_security(dep)
        ip = pod_ip(f"{dep['metadata']['name']}-pod-0")
        for svc, w in targets.items():
            if w["metadata"]["name"] == dep["metadata"]["name"]:
                ips[svc] = ip
    say(f"every service answers /healthcheck (readiness) and /livez (liveness) inside its pod, "
        f"{len(services)} pods in {took:.0f}s after play: "
        f"{', '.join(d['metadata']['name'][len(PREFIX):] for d in services)}")
    say("securityContext in force in every container: uid as the chart says, read-only root, "
        "no capabilities, no-new-privileges")

    # The rates Job's data is what rates serves: a lane of the sample answers 200 (an
    # unknown port code would be a 400).
    rates = next((d for d in services if d["metadata"]["name"].endswith("-rates")), None)
    if rates and by_kind.get("Job"):
        cname = container_name(rates, pod_spec(rates)["containers"][0])
        url = "http://127.0.0.1:3000/rates?date_from=2021-01-01&date_to=2021-01-03&orig_code=RUWES&dest_code=ESBQX"
        if podman("exec", cname, "/berth", "healthcheck", url, check=False).returncode != 0:
            raise Failure("rates does not know the sample's ports: the Job's data did not arrive")
        say("rates serves the sample the Job loaded (GET /rates RUWES -> ESBQX: 200)")

    # 4. The helm test pod, with every Service's name pointing at its pod.
    for test in by_kind.get("Pod", []):
        names = sorted(s for s in targets if s in ips)
        pod = with_hosts(as_pod(test), names, ips)
        play([pod], workdir, "test", state)
        codes = wait_exit(pod, TEST_DEADLINE)
        if any(codes.values()):
            raise Failure(f"helm test pod {test['metadata']['name']}: {codes}")
        say(f"helm test pod: `berth healthcheck` exited 0 for {', '.join(sorted(codes))}")

    figures["total"] = time.monotonic() - t_all
    (manifest.parent / "podman-figures.json").write_text(json.dumps(figures))


def main() -> int:
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "cleanup":
        cleanup(State(pathlib.Path(sys.argv[2])))
        return 0
    if cmd != "run":
        print(__doc__, file=sys.stderr)
        return 2
    state = State(pathlib.Path(sys.argv[3]))
    try:
        run(pathlib.Path(sys.argv[2]), state)
        return 0
    except Failure as e:
        print(f"==> [helm/podman] FAIL: {e}", file=sys.stderr, flush=True)
        return 1
    finally:
        cleanup(state)


if __name__ == "__main__":
    sys.exit(main())
