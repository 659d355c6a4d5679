#!/bin/sh
# Render berth's Redis ACL file from secrets.                  (POSIX sh)
#
# Usage: render-acl.sh OUT_FILE
#
# Passwords, for each user NAME in kv, multivac, healthcheck, admin, from
#   REDIS_<NAME>_PASSWORD_FILE   path of a file holding the password (Docker /
#                                Kubernetes secrets; trailing newlines dropped)
#   REDIS_<NAME>_PASSWORD        the password itself
# (setting both is an error). A user without a password is written "off":
# nobody can log in as that user. At least one password is required.
#
# The file holds only SHA-256 hashes ("#<hex>"), never a clear-text password.
# It is written atomically with mode 0600.
#
# Optional:
#   REDIS_SERVER           redis-server binary, to detect its version
#                          (default: redis-server on PATH)
#   REDIS_SERVER_VERSION   e.g. "7.2.4": skip detection
# "CLIENT SETINFO" (sent by client libraries on connect) exists from Redis
# 7.2; Redis 7.0 rejects an ACL rule naming it, so it is granted only on 7.2+.
# (On 7.0 the command is unknown and the clients ignore that error.)
set -eu

die() {
    echo "render-acl.sh: $*" >&2
    exit 1
}

[ "$#" -eq 1 ] || die "usage: render-acl.sh OUT_FILE"
out=$1

# read_secret NAME: print the secret from $NAME_FILE or $NAME (may be empty).
read_secret() {
    eval "_val=\${$1-}"
    eval "_file=\${$1_FILE-}"
    if [ -n "$_file" ]; then
        [ -z "$_val" ] || die "both $1 and $1_FILE are set; set only one"
        [ -r "$_file" ] || die "$1_FILE=$_file is not a readable file"
        # $(...) drops the trailing newline(s) that secret files usually have.
        _val=$(cat "$_file")
        [ -n "$_val" ] || die "$1_FILE=$_file is empty"
    fi
    printf '%s' "$_val"
}

sha256_hex() {
    if command -v sha256sum >/dev/null 2>&1; then
        _h=$(printf '%s' "$1" | sha256sum)
    elif command -v openssl >/dev/null 2>&1; then
        _h=$(printf '%s' "$1" | openssl dgst -sha256 -r)
    else
        die "need sha256sum (coreutils/busybox) or openssl"
    fi
    _h=${_h%% *}
    case $_h in
        *[!0-9a-f]*) die "unexpected sha256 output" ;;
    esac
    [ "${#_h}" -eq 64 ] || die "unexpected sha256 output"
    printf '%s' "$_h"
}

# auth_rules VAR USER: "on #<hash>" for a set password, else "off".
nset=0
auth_rules() {
    _pw=$(read_secret "$1")
    if [ -z "$_pw" ]; then
        echo "render-acl.sh: warning: $1 not set: user '$2' is disabled" >&2
        printf 'off'
        return 0
    fi
    if [ "${#_pw}" -lt 16 ]; then
        echo "render-acl.sh: warning: $1 is shorter than 16 characters" >&2
    fi
    printf 'on #%s' "$(sha256_hex "$_pw")"
}

# Redis version -> does it know CLIENT SETINFO (7.2+)?
version=${REDIS_SERVER_VERSION-}
if [ -z "$version" ]; then
    server=${REDIS_SERVER:-redis-server}
    if command -v "$server" >/dev/null 2>&1; then
        # "Redis server v=7.0.15 sha=..." -> 7.0.15
        version=$("$server" --version 2>/dev/null | sed -n 's/.* v=\([0-9][0-9.]*\).*/\1/p')
    fi
fi
setinfo=""
case $version in
    [0-9]*.[0-9]*)
        major=${version%%.*}
        minor=${version#*.}
        minor=${minor%%.*}
        if [ "$major" -gt 7 ] || { [ "$major" -eq 7 ] && [ "$minor" -ge 2 ]; }; then
            setinfo=" +client|setinfo"
        fi
        ;;
esac

kv_auth=$(auth_rules REDIS_KV_PASSWORD kv)
multivac_auth=$(auth_rules REDIS_MULTIVAC_PASSWORD multivac)
healthcheck_auth=$(auth_rules REDIS_HEALTHCHECK_PASSWORD healthcheck)
admin_auth=$(auth_rules REDIS_ADMIN_PASSWORD admin)
for a in "$kv_auth" "$multivac_auth" "$healthcheck_auth" "$admin_auth"; do
    [ "$a" = off ] || nset=$((nset + 1))
done
[ "$nset" -gt 0 ] || die "no password set (REDIS_KV_PASSWORD[_FILE], REDIS_MULTIVAC_PASSWORD[_FILE], REDIS_HEALTHCHECK_PASSWORD[_FILE], REDIS_ADMIN_PASSWORD[_FILE])"

# What a client sends while connecting: AUTH / HELLO (AUTH ...), SELECT db,
# CLIENT SETNAME, CLIENT SETINFO (7.2+), INFO; and a cluster client (kv and
# multivac with --*-redis-cluster: MemoryDB, ElastiCache cluster mode) reads
# the topology (CLUSTER SLOTS, or CLUSTER SHARDS in newer clients) and sends
# ASKING before a command redirected during a slot migration. (AUTH and HELLO
# are allowed to everybody by Redis anyway; they are listed for clarity.
# None of these reads or writes a key.)
handshake="+auth +hello +select +client|setname${setinfo} +info +cluster|slots +cluster|shards +asking"

tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
umask 077
cat >"$tmp" <<EOF
user default off resetpass resetkeys resetchannels -@all
user kv $kv_auth resetkeys ~kv:* resetchannels -@all +get +set +exists +del +ping $handshake
user multivac $multivac_auth resetkeys ~multivac:* resetchannels -@all +xadd +xreadgroup +xack +xautoclaim +xgroup +xinfo +xlen +xpending +xclaim +xdel +xrange +get +set +incr +del +exists +ping +multi +exec +discard +watch +unwatch $handshake
user healthcheck $healthcheck_auth resetkeys resetchannels -@all +ping
user admin $admin_auth ~* &* +@all
EOF
mv -f "$tmp" "$out"
trap - EXIT
