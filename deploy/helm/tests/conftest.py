"""Fixtures for the chart's tests: renderings made with the Helm SDK (helmlib)."""

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3] / "scripts" / "deploy-check.d" / "helm"))

import helmlib  # noqa: E402

# Secrets given explicitly, so that two renderings of the same values are equal
# (generated ones differ on every `helm template`).
FIXED_SECRETS = {
    "secrets": {
        "apiTokens": "token-0123456789abcdef0123",
        "usersDatabaseUrl": "postgres://users:pw-users-0123456789@db.example.com:5432/users",
        "ratesDatabaseUrl": "postgres://rates:pw-rates-0123456789@db.example.com:5432/rates",
        "multivacDatabaseUrl": "postgres://multivac:pw-multivac-0123456@db.example.com:5432/multivac",
        "kvRedisUrl": "redis://kv:pw-kv-0123456789abcd@cache.example.com:6379/0",
        "multivacRedisUrl": "redis://multivac:pw-mv-0123456789ab@cache.example.com:6379/0",
    }
}


@pytest.fixture(scope="session")
def render():
    """render(profile="default", *overrides) -> helmlib.Rendering"""

    def _render(profile="default", *overrides):
        return helmlib.render_profile(profile, *overrides)

    return _render


@pytest.fixture(scope="session", params=list(helmlib.PROFILES))
def profile_rendering(request):
    """Every profile the check renders (default, dev, staging, everything)."""
    return request.param, helmlib.render_profile(request.param)


@pytest.fixture(scope="session")
def default(render):
    return render("default", FIXED_SECRETS)


@pytest.fixture(scope="session")
def dev(render):
    return render("dev")


@pytest.fixture(scope="session")
def everything(render):
    return render("everything")
