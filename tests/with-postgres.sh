#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL cluster: initdb under a temp dir (as the
# `postgres` user when run as root: the server refuses to run as root), a free port on
# 127.0.0.1, and TASKTOKEN_TEST_POSTGRES naming it. The cluster is stopped and removed when
# the command ends, whatever its outcome. Installs Debian's postgresql if it is missing.
set -euo pipefail

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi

as_owner=()
owner=$(id -un)
if [ "$(id -u)" = 0 ]; then
  owner=postgres
  as_owner=(runuser -u postgres --)
fi

dir=$(mktemp -d /tmp/tasktoken-pg.XXXXXX)
chown "$owner" "$dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

stop() {
  "${as_owner[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT

"${as_owner[@]}" "$bindir/initdb" -D "$dir/data" -A trust -U postgres --no-sync >/dev/null
"${as_owner[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
export TASKTOKEN_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/postgres"
echo "with-postgres: PostgreSQL on 127.0.0.1:$port ($dir)" >&2
"$@"
