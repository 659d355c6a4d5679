# shellcheck shell=bash
# Stand-in images for PostgreSQL, Redis and Prometheus, built from Debian's
# packages (no registry can be pulled here). Sourced by scripts/e2e.
#
# Each image keeps the interface compose.yaml uses from the official image
# (user name, data directory, entrypoint/CMD), so the compose file is the same
# one users run with the real images; scripts/e2e only sets POSTGRES_IMAGE,
# REDIS_IMAGE and PROMETHEUS_IMAGE.
#
# Cached: the rootfs tarball under $BERTH_E2E_CACHE (default
# /var/cache/berth-e2e), keyed by a hash of the package list, the hooks and this
# file; the imported image is tagged with the same hash, so an unchanged stand-in
# is neither rebuilt nor re-imported.

BERTH_E2E_CACHE=${BERTH_E2E_CACHE:-/var/cache/berth-e2e}
STANDIN_SUITE=${STANDIN_SUITE:-bookworm}

# standin NAME PACKAGES CHANGE...  -> prints the image reference
# The array HOOKS holds mmdebstrap --customize-hook values (one hook each).
standin() {
    local name=$1 pkgs=$2
    shift 2
    local here key tar ref
    here=$(dirname "${BASH_SOURCE[0]}")
    key=$( { echo "$STANDIN_SUITE $pkgs ${HOOKS[*]} $*"; cat "$here/standins.sh" "$here/postgres-entrypoint.sh"; } | sha256sum | cut -c1-12)
    ref="localhost/berth-e2e/$name:$key"
    if podman image exists "$ref"; then
        echo "$ref"
        return 0
    fi
    mkdir -p "$BERTH_E2E_CACHE"
    tar="$BERTH_E2E_CACHE/$name-$key.tar"
    if [[ ! -s $tar ]]; then
        echo "==> [e2e] building stand-in $name from Debian packages: $pkgs" >&2
        local hookargs=() h
        for h in "${HOOKS[@]}"; do hookargs+=(--customize-hook="$h"); done
        rm -f "$tar.tmp.tar"
        # shellcheck disable=SC2016 # "$1" is expanded by mmdebstrap's hook shell
        mmdebstrap --quiet --variant=apt --include="$pkgs" "${hookargs[@]}" \
            --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
            "$STANDIN_SUITE" "$tar.tmp.tar" >&2 || { rm -f "$tar.tmp.tar"; return 1; }
        mv "$tar.tmp.tar" "$tar"
    fi
    local changes=() c
    for c in "$@"; do changes+=(--change "$c"); done
    podman import --quiet "${changes[@]}" "$tar" "$ref" >/dev/null || return 1
    echo "$ref"
}

standin_postgres() {
    local ep
    ep="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/postgres-entrypoint.sh"
    HOOKS=("copy-in $ep /usr/local/bin"
        "chroot \"\$1\" sh -c 'mv /usr/local/bin/postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh; chmod 755 /usr/local/bin/docker-entrypoint.sh; mkdir -p /docker-entrypoint-initdb.d /var/lib/postgresql/data /var/run/postgresql; chown postgres:postgres /var/lib/postgresql/data /var/run/postgresql; chmod 700 /var/lib/postgresql/data; chmod 3777 /var/run/postgresql'")
    standin postgres "postgresql-15,postgresql-client-15" \
        'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        'ENV PGDATA=/var/lib/postgresql/data' \
        'ENV LANG=C.UTF-8' \
        'ENTRYPOINT ["docker-entrypoint.sh"]' \
        'CMD ["postgres"]' \
        'STOPSIGNAL SIGINT'
}

standin_redis() {
    HOOKS=("chroot \"\$1\" sh -c 'mkdir -p /data && chown redis:redis /data && chmod 750 /data'")
    standin redis "redis-server,redis-tools" \
        'WORKDIR /data' \
        'CMD ["redis-server"]'
}

standin_prometheus() {
    HOOKS=("chroot \"\$1\" sh -c 'mkdir -p /prometheus && chown nobody:nogroup /prometheus'")
    standin prometheus "prometheus,wget" \
        'USER nobody' \
        'WORKDIR /prometheus' \
        'ENTRYPOINT ["/bin/prometheus"]'
}
