# shellcheck shell=bash
# The one installer of the scripts (sourced, not run): Debian packages, Python
# tools in cached virtualenvs, npm tools in cached prefixes. Every script that
# needs a tool asks here, so "what is installed, from where, cached where" has
# one answer.
#
#   ensure_apt PKG...          install the Debian packages that are missing
#   ensure_cmds CMD:PKG...     install PKG for each CMD not on PATH
#   ensure_venv NAME PINS [PRE]
#                              a virtualenv $BERTH_CACHE/venv-NAME holding PINS
#                              (a space-separated pip requirement list); PRE, if
#                              given, is a shell command run with $VENV set before
#                              PINS are installed. Rebuilt only when PINS or PRE
#                              change. Prints the venv's path.
#   ensure_npm NAME PKG...     an npm prefix $BERTH_CACHE/npm-NAME holding PKG...
#                              (pinned versions); prints the prefix (binaries in
#                              PREFIX/node_modules/.bin)
#
# Environment:
#   BERTH_CACHE=/var/cache/berth   where venvs and npm prefixes live between runs
#
# Packages never start their own daemons while installed (a temporary
# policy-rc.d says no), so installing postgresql-15 starts no cluster on 5432.

# shellcheck source=scripts/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

BERTH_CACHE=${BERTH_CACHE:-/var/cache/berth}

pkg_installed() {
    [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true) == "install ok installed" ]]
}

ensure_apt() {
    local -a want=()
    local p
    for p in "$@"; do
        pkg_installed "$p" || want+=("$p")
    done
    ((${#want[@]} > 0)) || return 0
    command -v apt-get >/dev/null 2>&1 || die "missing ${want[*]} and no apt-get to install them"
    local -a sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null 2>&1 || die "missing ${want[*]}; run as root to install them"
        sudo=(sudo)
    fi
    say "installing ${want[*]} (apt-get)"
    local log policy=/usr/sbin/policy-rc.d policy_added=0 rc=0
    log=$(mktemp "${TMPDIR:-/tmp}/berth-apt.XXXXXX")
    if ((EUID == 0)) && [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && policy_added=1
    fi
    {
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 update &&
            "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q install -y \
                --no-install-recommends -o DPkg::Lock::Timeout=300 \
                -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
                "${want[@]}"
    } >"$log" 2>&1 </dev/null || rc=$?
    ((policy_added == 0)) || rm -f "$policy"
    if ((rc != 0)); then
        cat "$log" >&2
        rm -f "$log"
        die "apt-get failed (exit $rc) installing ${want[*]}"
    fi
    rm -f "$log"
}

ensure_cmds() {
    local -a pkgs=()
    local pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || pkgs+=("${pair#*:}")
    done
    ((${#pkgs[@]} == 0)) || ensure_apt "${pkgs[@]}"
}

ensure_venv() {
    local name=$1 pins=$2 pre=${3:-}
    local venv=$BERTH_CACHE/venv-$name
    local stamp="$pins|$pre"
    if [[ -x $venv/bin/python && $(cat "$venv/.pins" 2>/dev/null) == "$stamp" ]]; then
        echo "$venv"
        return 0
    fi
    python3 -c 'import ensurepip' 2>/dev/null || ensure_apt python3-venv
    say "installing $pins into $venv (PyPI)" >&2
    rm -rf "$venv"
    mkdir -p "$BERTH_CACHE"
    python3 -m venv "$venv" >&2 || die "python3 -m venv $venv failed"
    "$venv/bin/pip" install -q --disable-pip-version-check --upgrade pip >&2 ||
        die "pip upgrade in $venv failed"
    if [[ -n $pre ]]; then
        VENV=$venv bash -c "$pre" >&2 || die "preparing $venv failed: $pre"
    fi
    # shellcheck disable=SC2086 # word splitting of the pins is intended
    "$venv/bin/pip" install -q --disable-pip-version-check $pins >&2 ||
        die "pip install $pins into $venv failed"
    echo "$stamp" >"$venv/.pins"
    echo "$venv"
}

ensure_npm() {
    local name=$1
    shift
    local prefix=$BERTH_CACHE/npm-$name
    local stamp="$*"
    if [[ -d $prefix/node_modules && $(cat "$prefix/.pins" 2>/dev/null) == "$stamp" ]]; then
        echo "$prefix"
        return 0
    fi
    command -v npm >/dev/null 2>&1 || ensure_apt npm
    say "installing $* into $prefix (npm)" >&2
    rm -rf "$prefix"
    mkdir -p "$prefix"
    (cd "$prefix" && npm install --silent --no-audit --no-fund --prefix "$prefix" "$@" >&2) ||
        die "npm install $* failed"
    echo "$stamp" >"$prefix/.pins"
    echo "$prefix"
}
