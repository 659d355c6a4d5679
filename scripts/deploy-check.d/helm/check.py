"""Steps of `scripts/deploy-check helm` that need the Helm SDK (see helm.sh).

  check.py version                 Chart.yaml's appVersion and version against Cargo.toml
  check.py lint                    helm lint --strict, every profile, every Kubernetes version
  check.py render OUTDIR           every profile into OUTDIR/files/PROFILE/templates/ (one
                                   file per template) and OUTDIR/PROFILE.yaml (one stream)
  check.py package OUTDIR          `helm package` (SDK): the archive must carry the files
                                   behind the files/ symlinks, byte for byte
  check.py podman OUTFILE VALUES   render the dev profile with VALUES (a JSON object of
                                   overrides) for scripts/deploy-check.d/helm/podman.py
"""

from __future__ import annotations

import json
import pathlib
import sys
import tarfile
import time
import tomllib

import helmlib

KUBE_VERSIONS = ["1.30.0", "1.32.0", "1.34.0"]


def say(msg: str) -> None:
    print(f"==> [helm] {msg}", flush=True)


def fail(msg: str) -> None:
    print(f"==> [helm] FAIL: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def cmd_version() -> None:
    cargo = tomllib.loads((helmlib.ROOT / "Cargo.toml").read_text())
    want = cargo["workspace"]["package"]["version"]
    meta = helmlib.chart_metadata()
    got = {"appVersion": meta.get("appVersion"), "version": meta.get("version")}
    say(f"Chart.yaml appVersion {got['appVersion']}, version {got['version']}; Cargo.toml workspace version {want}")
    for key, val in got.items():
        if val != want:
            fail(f"Chart.yaml {key} is {val!r}, the workspace version (Cargo.toml) is {want!r}: bump them together")
    if meta.get("apiVersion") != "v2":
        fail(f"Chart.yaml apiVersion is {meta.get('apiVersion')!r}, want v2")
    if meta.get("kubeVersion") != ">=1.30.0-0":
        fail(f"Chart.yaml kubeVersion is {meta.get('kubeVersion')!r}, want >=1.30.0-0")


def cmd_lint() -> None:
    for profile, (files, _name, namespace) in helmlib.PROFILES.items():
        values = helmlib.load_values(files)
        for kv in KUBE_VERSIONS:
            report = helmlib.lint(values, namespace=namespace, kube_version=f"v{kv}")
            bad = [m for m in report["messages"] if m["severity"] >= 2] + [
                {"severity": 3, "path": "", "error": e} for e in report.get("errors", [])
            ]
            if bad:
                for m in bad:
                    print(f"    {profile} k8s {kv}: [{m['severity']}] {m['path']}: {m['error']}", file=sys.stderr)
                fail(f"helm lint --strict failed: profile {profile}, Kubernetes {kv}")
        info = [m["error"] for m in report["messages"] if m["severity"] < 2]
        say(f"lint --strict {profile} ({', '.join(f.name for f in files) or 'values.yaml'}): ok on "
            f"{', '.join(KUBE_VERSIONS)}" + (f" (info: {'; '.join(info)})" if info else ""))


def cmd_render(outdir: str) -> None:
    out = pathlib.Path(outdir)
    times = {}
    for profile in helmlib.PROFILES:
        t = time.monotonic()
        rendering = helmlib.render_profile(profile)
        times[profile] = {"seconds": round(time.monotonic() - t, 2), "objects": len(rendering.objects)}
        d = out / "files" / profile
        d.mkdir(parents=True, exist_ok=True)
        rendering.write(d)
        (out / f"{profile}.yaml").write_text(rendering.manifest())
        kinds: dict[str, int] = {}
        for o in rendering.objects:
            kinds[o["kind"]] = kinds.get(o["kind"], 0) + 1
        say(f"render {profile}: {len(rendering.objects)} objects in {time.monotonic() - t:.2f}s "
            f"({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))})")
    (out / "render-times.json").write_text(json.dumps(times))


def cmd_package(outdir: str) -> None:
    archive = helmlib.package(outdir)
    links = sorted(p for p in (helmlib.CHART / "files").iterdir() if p.is_symlink())
    if not links:
        fail("deploy/helm/berth/files holds no symlink: the one-source files are missing")
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
        checked = 0
        for link in links:
            target = link.resolve()
            if not target.exists():
                fail(f"{link.relative_to(helmlib.ROOT)} -> {link.readlink()} is broken")
            for src in sorted(target.rglob("*") if target.is_dir() else [target]):
                if src.is_dir():
                    continue
                rel = src.relative_to(target)
                name = f"berth/files/{link.name}" + (f"/{rel}" if target.is_dir() else "")
                if name == "berth/files/redis/README.md":
                    continue  # .helmignore
                m = members.get(name)
                if m is None or not m.isfile():
                    fail(f"the package lacks {name} (from {src.relative_to(helmlib.ROOT)})")
                if tar.extractfile(m).read() != src.read_bytes():
                    fail(f"the package's {name} differs from {src.relative_to(helmlib.ROOT)}")
                checked += 1
    say(f"package: {pathlib.Path(archive).name} carries the {checked} files behind files/ "
        f"({', '.join(l.name for l in links)}), byte for byte")


def cmd_podman(outfile: str, overrides: str) -> None:
    rendering = helmlib.render_profile("dev", json.loads(overrides))
    pathlib.Path(outfile).write_text(rendering.manifest())


def main() -> None:
    args = sys.argv[1:]
    if not args:
        fail(__doc__)
    cmd, rest = args[0], args[1:]
    {"version": cmd_version, "lint": cmd_lint, "render": cmd_render, "package": cmd_package,
     "podman": cmd_podman}[cmd](*rest)


if __name__ == "__main__":
    main()
