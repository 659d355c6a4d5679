"""Render and lint the berth chart with the Helm SDK (helm-python-sdk: Helm 4 in a
wheel, no helm binary). Shared by scripts/deploy-check.d/helm.sh (through check.py)
and the tests in deploy/helm/tests.

Values files are merged the way `helm -f A -f B` merges them: maps key by key, any
other value (lists included) replaced by the later file's.
"""

from __future__ import annotations

import contextlib
import copy
import os
import pathlib
import sys
import tempfile

import helm_python as helm
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
CHART = ROOT / "deploy" / "helm" / "berth"
TESTS = ROOT / "deploy" / "helm" / "tests"

# The renderings the check validates and scans: name -> (values files, release, namespace).
PROFILES = {
    "default": ([], "berth", "berth"),
    "dev": ([CHART / "values-dev.yaml"], "berth", "berth"),
    "staging": ([CHART / "values-staging.yaml"], "berth-staging", "berth-staging"),
    "everything": ([TESTS / "values-everything.yaml"], "berth", "berth"),
}


@contextlib.contextmanager
def symlink_notes_hidden():
    """Helm's loader logs one INFO line per symlink it follows ("found symbolic link
    in path") on the process's stderr, on every load. They are expected here (files/
    is made of symlinks): drop those lines, pass every other one through."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            for line in tmp.read().decode(errors="replace").splitlines(keepends=True):
                if "found symbolic link in path" not in line:
                    sys.stderr.write(line)
            sys.stderr.flush()


def deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, val in over.items():
        if isinstance(val, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], val)
        else:
            out[key] = copy.deepcopy(val)
    return out


def load_values(files=(), *overrides: dict) -> dict:
    values: dict = {}
    for f in files:
        values = deep_merge(values, yaml.safe_load(pathlib.Path(f).read_text()) or {})
    for o in overrides:
        values = deep_merge(values, o)
    return values


class Rendering:
    """The manifests of one rendering: per template file, and as parsed objects."""

    def __init__(self, files: dict[str, str]):
        self.files = {k: v for k, v in files.items() if v.strip()}
        self.objects: list[dict] = []
        self.source: list[str] = []
        for path in sorted(self.files):
            if path.endswith("NOTES.txt"):
                continue
            for doc in yaml.safe_load_all(self.files[path]):
                if doc:
                    self.objects.append(doc)
                    self.source.append(path)

    @property
    def notes(self) -> str:
        return next((v for k, v in self.files.items() if k.endswith("NOTES.txt")), "")

    def kind(self, kind: str) -> list[dict]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str) -> dict:
        found = [o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name]
        if len(found) != 1:
            raise KeyError(f"{kind}/{name}: found {len(found)}")
        return found[0]

    def names(self, kind: str) -> list[str]:
        return sorted(o["metadata"]["name"] for o in self.kind(kind))

    def manifest(self) -> str:
        """Every object as one multi-document YAML stream (what `helm template` prints)."""
        return "".join(
            f"---\n# Source: {src}\n{yaml.safe_dump(obj, sort_keys=False)}"
            for src, obj in zip(self.source, self.objects)
        )

    def write(self, outdir: pathlib.Path) -> list[pathlib.Path]:
        """One file per template, at its path in the chart (templates/...: scanners
        report by file, and a scanner's per-file exception names the template)."""
        written = []
        for path, text in self.files.items():
            if path.endswith("NOTES.txt"):
                continue
            dest = outdir / path.split("/", 1)[1]
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(text)
            written.append(dest)
        return written


def render(values: dict | None = None, *, name: str = "berth", namespace: str = "berth",
           chart: os.PathLike | str = CHART) -> Rendering:
    with symlink_notes_hidden(), helm.Chart.load(str(chart)) as ch:
        files = ch.render(values or {}, name=name, namespace=namespace)
    return Rendering(files)


def render_profile(profile: str, *overrides: dict) -> Rendering:
    files, name, namespace = PROFILES[profile]
    return render(load_values(files, *overrides), name=name, namespace=namespace)


def validate_schema(values: dict, chart: os.PathLike | str = CHART) -> None:
    """Raises helm_python.HelmValuesError naming the bad value."""
    with symlink_notes_hidden(), helm.Chart.load(str(chart)) as ch:
        ch.validate_schema(values)


def lint(values: dict, *, namespace: str = "berth", kube_version: str | None = None,
         chart: os.PathLike | str = CHART) -> dict:
    with symlink_notes_hidden():
        return helm.lint(str(chart), values, strict=True, namespace=namespace, kube_version=kube_version)


def chart_metadata(chart: os.PathLike | str = CHART) -> dict:
    with symlink_notes_hidden(), helm.Chart.load(str(chart)) as ch:
        return ch.metadata


def chart_files(chart: os.PathLike | str = CHART) -> dict[str, str]:
    with symlink_notes_hidden(), helm.Chart.load(str(chart)) as ch:
        return {f["name"]: f["data"] for f in ch.files}


def package(destination: os.PathLike | str, chart: os.PathLike | str = CHART) -> str:
    with symlink_notes_hidden():
        return helm.package(str(chart), destination=str(destination))
