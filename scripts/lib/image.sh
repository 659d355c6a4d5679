# shellcheck shell=bash
# The static binary and the one image, shared by scripts/e2e and
# scripts/deploy-check (sourced, not run). Everything is incremental: a second
# call in the same run (or a later run on the same machine) costs seconds.
#
#   podman_env        installs Podman and its network stack when missing and
#                     exports CONTAINERS_CONF (scripts/lib/containers.conf)
#   static_binary     builds the static musl binary (cargo --profile image) and
#                     prints its path; BERTH_BINARY=PATH uses that file instead
#   build_image REF   packages static_binary with the one Dockerfile
#                     (--build-arg BINARY_FROM=prebuilt, --format docker so the
#                     HEALTHCHECK stays) and tags it REF
#
# Environment: CARGO_TARGET_DIR (as cargo), BERTH_BINARY.

# shellcheck source=scripts/lib/tools.sh
. "$(dirname "${BASH_SOURCE[0]}")/tools.sh"

BERTH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BERTH_MUSL_TARGET=x86_64-unknown-linux-musl

podman_env() {
    ensure_cmds podman:podman runc:runc iptables:iptables
    # Podman's network stack (not pulled in without recommends): netavark, and
    # aardvark-dns so that containers find each other by name.
    local -a pkgs=()
    [[ -x /usr/lib/podman/netavark ]] || pkgs+=(netavark)
    [[ -x /usr/lib/podman/aardvark-dns ]] || pkgs+=(aardvark-dns)
    ((${#pkgs[@]} == 0)) || ensure_apt "${pkgs[@]}"
    export CONTAINERS_CONF=$BERTH_ROOT/scripts/lib/containers.conf
}

static_binary() {
    if [[ -n ${BERTH_BINARY:-} ]]; then
        [[ -x $BERTH_BINARY ]] || die "BERTH_BINARY=$BERTH_BINARY is not an executable file"
        echo "$BERTH_BINARY"
        return 0
    fi
    ensure_cmds musl-gcc:musl-tools
    if ! [[ -d $(rustc --print sysroot)/lib/rustlib/$BERTH_MUSL_TARGET ]]; then
        rustup target add "$BERTH_MUSL_TARGET" >&2
    fi
    local target_dir=${CARGO_TARGET_DIR:-$BERTH_ROOT/target}
    (cd "$BERTH_ROOT" && CC_x86_64_unknown_linux_musl=musl-gcc cargo build --profile image \
        --target "$BERTH_MUSL_TARGET" -p berth -j"${CARGO_BUILD_JOBS:-2}" --quiet >&2) ||
        die "building the static binary failed"
    local bin=$target_dir/$BERTH_MUSL_TARGET/image/berth
    file "$bin" 2>/dev/null | grep -q 'statically linked\|static-pie' ||
        ldd "$bin" 2>&1 | grep -q 'not a dynamic\|statically' ||
        die "$bin is not statically linked"
    echo "$bin"
}

build_image() {
    local ref=$1 bin
    bin=$(static_binary)
    podman_env
    rm -rf "$BERTH_ROOT/target/prebuilt" && mkdir -p "$BERTH_ROOT/target/prebuilt"
    cp "$bin" "$BERTH_ROOT/target/prebuilt/berth"
    cp /etc/ssl/certs/ca-certificates.crt "$BERTH_ROOT/target/prebuilt/ca-certificates.crt"
    (cd "$BERTH_ROOT" && podman build --quiet --format docker --build-arg BINARY_FROM=prebuilt \
        --build-arg PREBUILT_DIR=target/prebuilt \
        --build-arg "BERTH_GIT_SHA=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)" \
        -t "$ref" . >/dev/null) || die "podman build of $ref failed"
}
