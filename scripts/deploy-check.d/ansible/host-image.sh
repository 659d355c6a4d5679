# shellcheck shell=bash
# The systemd host scripts/deploy-check.d/ansible.sh converges into (sourced).
#
#   host_image   prints the reference of a Podman image that boots systemd:
#                Debian bookworm (mmdebstrap, minbase) with python3, systemd,
#                python3-apt, sudo and the Debian packages the roles install (PostgreSQL,
#                Redis, Prometheus, HAProxy). The check's hosts have no network
#                (--network=none or an internal network), so the packages are in
#                the image: the roles' apt tasks find them installed, as after
#                `apt-get install` on a machine. HAProxy is left disabled (the
#                loadbalancer role enables it where it applies).
#
# Cached: the rootfs tarball under $BERTH_CACHE/ansible-host/, keyed by a hash
# of the package list, the hooks and this file; the imported image is tagged
# with the same key, so an unchanged host is neither rebuilt nor re-imported.
#
# Environment: BERTH_CACHE (/var/cache/berth), ANSIBLE_HOST_SUITE (bookworm).

ANSIBLE_HOST_SUITE=${ANSIBLE_HOST_SUITE:-bookworm}
ANSIBLE_HOST_PACKAGES="python3,python3-apt,systemd,systemd-sysv,dbus,iproute2,sudo,curl,ca-certificates,procps,postgresql-15,postgresql-client-15,redis-server,redis-tools,prometheus,haproxy"

host_image() {
    local key tar ref cache=${BERTH_CACHE:-/var/cache/berth}/ansible-host
    key=$({ echo "$ANSIBLE_HOST_SUITE $ANSIBLE_HOST_PACKAGES"; cat "${BASH_SOURCE[0]}"; } | sha256sum | cut -c1-12)
    ref="localhost/berth-ansible-host:$key"
    if podman image exists "$ref"; then
        echo "$ref"
        return 0
    fi
    mkdir -p "$cache"
    tar="$cache/rootfs-$key.tar"
    if [[ ! -s $tar ]]; then
        say "building the systemd host from Debian packages (mmdebstrap, ~2 min): $ANSIBLE_HOST_PACKAGES" >&2
        rm -f "$tar.tmp.tar"
        # shellcheck disable=SC2016 # "$1" is expanded by mmdebstrap's hook shell
        mmdebstrap --quiet --variant=minbase --include="$ANSIBLE_HOST_PACKAGES" \
            --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
            --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
            --customize-hook='chroot "$1" systemctl disable haproxy.service' \
            --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
            "$ANSIBLE_HOST_SUITE" "$tar.tmp.tar" >&2 || { rm -f "$tar.tmp.tar"; return 1; }
        mv "$tar.tmp.tar" "$tar"
        # Older keys' tarballs are of no further use.
        find "$cache" -maxdepth 1 -name 'rootfs-*.tar' ! -name "rootfs-$key.tar" -delete
    fi
    podman import --quiet --change 'CMD ["/sbin/init"]' --change 'STOPSIGNAL SIGRTMIN+3' \
        "$tar" "$ref" >/dev/null || return 1
    echo "$ref"
}
