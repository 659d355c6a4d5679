#!/bin/sh
# Container entrypoint for berth's Redis.                      (POSIX sh)
#
# Renders the ACL file from the password secrets (see render-acl.sh) into a
# writable path, then replaces itself with redis-server using redis.conf.
# Extra arguments are passed on to redis-server (e.g. --maxmemory 200mb).
#
# Environment:
#   REDIS_{KV,MULTIVAC,HEALTHCHECK,ADMIN}_PASSWORD[_FILE]  see render-acl.sh
#   REDIS_CONF       config file    (default: redis.conf next to this script)
#   REDIS_ACL_FILE   rendered ACL   (default: /run/redis/users.acl; with a
#                    read-only root filesystem mount a tmpfs on /run/redis)
#   REDIS_DATA_DIR   data directory, the volume (default: /data)
#   REDIS_SERVER     redis-server binary (default: redis-server on PATH)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
conf=${REDIS_CONF:-$here/redis.conf}
acl=${REDIS_ACL_FILE:-/run/redis/users.acl}
data=${REDIS_DATA_DIR:-/data}
server=${REDIS_SERVER:-redis-server}

die() {
    echo "entrypoint.sh: $*" >&2
    exit 1
}

[ -r "$conf" ] || die "config file $conf is not readable"
[ -d "$data" ] || die "data directory $data does not exist (mount the volume)"
[ -w "$data" ] || die "data directory $data is not writable by uid $(id -u)"
mkdir -p "$(dirname "$acl")" || die "cannot create $(dirname "$acl")"

REDIS_SERVER=$server sh "$here/render-acl.sh" "$acl"

exec "$server" "$conf" --aclfile "$acl" --dir "$data" "$@"
