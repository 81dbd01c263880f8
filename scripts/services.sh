# shellcheck shell=bash
#
# services.sh gives the tests real PostgreSQL, Redis and MariaDB servers.
#
# Source it (do not execute it) from the test script:
#
#     source scripts/services.sh
#
# It then exports
#
#     IDEM_TEST_POSTGRES_DSN=postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable
#     IDEM_TEST_REDIS_URL=redis://127.0.0.1:PORT/0
#     IDEM_TEST_REDIS_CLUSTER_ADDR=127.0.0.1:PORT   (a one-node Redis Cluster)
#     IDEM_TEST_MYSQL_DSN=idem@tcp(127.0.0.1:PORT)/idem   (MariaDB, for the db effect's MySQL dialect)
#
# for the packages under runtime/pgstore and runtime/redisstore and the db
# effect's tests (read by internal/testenv). What it does:
#
#   * A variable that is already set is kept and that server is not started:
#     point the tests at your own servers by exporting them first.
#   * Missing servers are installed from Debian packages (postgresql,
#     redis-server, mariadb-server) when running as root; otherwise it prints a note and goes
#     on, and the tests skip. Under CI (CI set to anything but "", 0, false,
#     no or off, as internal/testenv reads it; .ci/run exports CI=true) a
#     server that cannot be installed or started is a failure: it returns
#     non-zero, and the sourcing test script stops.
#   * Each server is a throwaway instance on 127.0.0.1, on a free port, with
#     its data under one temporary directory; nothing is persisted.
#     PostgreSQL runs as the `postgres` user when started by root, since the
#     server refuses to run as root; MariaDB as the `mysql` user (both users
#     come with the packages). MariaDB gets a fresh data directory
#     (mariadb-install-db, about 3s) and a user idem@127.0.0.1 without a
#     password that may do anything, with a database idem.
#   * An EXIT trap (chained after any EXIT trap already set) stops the
#     servers and removes the temporary directory.
#
# It changes no shell option of the sourcing shell, works under `set -eu`,
# and returns non-zero when an installed server fails to start, and under CI
# when a server is missing.

_idem_svc_log() { printf 'services.sh: %s\n' "$*" >&2; }

# _idem_svc_ci: succeeds under CI, with the rule of internal/testenv.CI.
_idem_svc_ci() {
	local v
	v=$(printf '%s' "${CI:-}" | tr '[:upper:]' '[:lower:]' | tr -d '[:space:]')
	case "$v" in
	"" | 0 | false | no | off) return 1 ;;
	esac
	return 0
}

# _idem_svc_missing WHAT: a server that cannot be had here. Outside CI the
# tests skip; under CI it is a failure (returns 1).
_idem_svc_missing() {
	if _idem_svc_ci; then
		_idem_svc_log "FAIL: $1 is missing and CI (CI=${CI}) must not skip its tests"
		return 1
	fi
	return 0
}

# _idem_svc_port_free PORT: succeeds when nothing listens on 127.0.0.1:PORT.
_idem_svc_port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# _idem_svc_free_port START: prints the first free port in START..START+49
# (with the port after it free too, for a cluster bus).
_idem_svc_free_port() {
	local p
	for ((p = $1; p < $1 + 50; p += 2)); do
		if _idem_svc_port_free "$p" && _idem_svc_port_free "$((p + 1))"; then
			printf '%s\n' "$p"
			return 0
		fi
	done
	_idem_svc_log "no free port in $1..$(($1 + 49))"
	return 1
}

# _idem_svc_pg_bin: prints the newest /usr/lib/postgresql/*/bin holding initdb.
_idem_svc_pg_bin() {
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
		printf '%s\n' "$d"
		return 0
	fi
	return 1
}

_idem_svc_have_redis() {
	command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1
}

# _idem_svc_install PKG...: installs Debian packages quietly, as root only.
_idem_svc_install() {
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
		return 1
	fi
	_idem_svc_log "installing $* (apt-get)"
	local log
	log=$(mktemp "${TMPDIR:-/tmp}/idem-apt.XXXXXX") || return 1
	if [ -z "${_IDEM_SVC_APT_UPDATED:-}" ]; then
		if ! DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$log" 2>&1; then
			_idem_svc_log "apt-get update failed:"
			tail -n 20 "$log" >&2
			rm -f "$log"
			return 1
		fi
		_IDEM_SVC_APT_UPDATED=1
	fi
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >"$log" 2>&1; then
		_idem_svc_log "apt-get install $* failed:"
		tail -n 20 "$log" >&2
		rm -f "$log"
		return 1
	fi
	rm -f "$log"
}

# _idem_svc_as_pg CMD...: runs CMD as the postgres user when root, else as is.
_idem_svc_as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

_idem_svc_tmpdir() {
	if [ -z "${_IDEM_SVC_DIR:-}" ]; then
		_IDEM_SVC_DIR=$(mktemp -d "${TMPDIR:-/tmp}/idem-services.XXXXXX") || return 1
		# PostgreSQL runs as another user and must reach its data directory.
		chmod 755 "$_IDEM_SVC_DIR"
	fi
}

# _idem_svc_wait WHAT CMD...: runs CMD every 0.1s until it succeeds, for at
# most 60s (a loaded machine can take that long).
_idem_svc_wait() {
	local what=$1 i
	shift
	for ((i = 0; i < 600; i++)); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.1
	done
	_idem_svc_log "$what did not become ready within 60s"
	return 1
}

_idem_svc_start_postgres() {
	local bin port data
	if ! bin=$(_idem_svc_pg_bin); then
		_idem_svc_log "NOTE: PostgreSQL is not installed and cannot be installed here (not root, or no apt-get)."
		_idem_svc_log "      Install it, or export IDEM_TEST_POSTGRES_DSN; PostgreSQL tests will skip (and fail under CI)."
		_idem_svc_missing PostgreSQL
		return
	fi
	if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
		_idem_svc_log "PostgreSQL must run as a non-root user and the 'postgres' user does not exist; create it or export IDEM_TEST_POSTGRES_DSN"
		return 1
	fi
	_idem_svc_tmpdir || return 1
	port=$(_idem_svc_free_port 55432) || return 1
	data="$_IDEM_SVC_DIR/pg"
	mkdir -p "$data"
	if [ "$(id -u)" = 0 ]; then chown postgres: "$data"; fi
	chmod 700 "$data"
	if ! _idem_svc_as_pg "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --no-locale --no-sync >"$_IDEM_SVC_DIR/initdb.log" 2>&1; then
		_idem_svc_log "initdb failed:"
		tail -n 20 "$_IDEM_SVC_DIR/initdb.log" >&2
		return 1
	fi
	# Throwaway settings: no durability, loopback only, socket in the data dir.
	if ! _idem_svc_as_pg "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 30 \
		-o "-p $port -c listen_addresses=127.0.0.1 -k $data -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
		start >/dev/null 2>&1; then
		_idem_svc_log "PostgreSQL failed to start:"
		tail -n 20 "$data/server.log" >&2
		return 1
	fi
	_IDEM_SVC_PG_DATA=$data
	_IDEM_SVC_PG_BIN=$bin
	_idem_svc_wait "PostgreSQL on 127.0.0.1:$port" "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres || return 1
	export IDEM_TEST_POSTGRES_DSN="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
	_idem_svc_log "PostgreSQL ready on 127.0.0.1:$port"
}

# _idem_svc_redis NAME PORT ARGS...: starts a throwaway redis-server in the
# configuration runtime/redisstore accepts (an append-only file fsynced every
# second, no eviction), under the throwaway directory.
_idem_svc_redis() {
	local name=$1 port=$2 dir
	shift 2
	dir="$_IDEM_SVC_DIR/$name"
	mkdir -p "$dir"
	if ! redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly yes --appendfsync everysec --maxmemory-policy noeviction \
		--daemonize yes --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" "$@" >/dev/null 2>&1; then
		_idem_svc_log "Redis ($name) failed to start:"
		tail -n 20 "$dir/redis.log" >&2 2>/dev/null
		return 1
	fi
	_IDEM_SVC_REDIS_PORTS="${_IDEM_SVC_REDIS_PORTS:-} $port"
}

_idem_svc_redis_ping() { [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]; }

_idem_svc_redis_missing() {
	if [ -z "${_IDEM_SVC_REDIS_NOTED:-}" ]; then
		_IDEM_SVC_REDIS_NOTED=1
		_idem_svc_log "NOTE: Redis is not installed and cannot be installed here (not root, or no apt-get)."
		_idem_svc_log "      Install it, or export IDEM_TEST_REDIS_URL and IDEM_TEST_REDIS_CLUSTER_ADDR; Redis tests will skip (and fail under CI)."
	fi
	_idem_svc_missing Redis
}

_idem_svc_start_redis() {
	local port
	_idem_svc_tmpdir || return 1
	port=$(_idem_svc_free_port 56379) || return 1
	_idem_svc_redis redis "$port" || return 1
	_idem_svc_wait "Redis on 127.0.0.1:$port" _idem_svc_redis_ping "$port" || return 1
	export IDEM_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
	_idem_svc_log "Redis ready on 127.0.0.1:$port"
}

# The one-node cluster is started first and awaited last: a new cluster
# master waits about two seconds before it reports cluster_state:ok.
_idem_svc_begin_redis_cluster() {
	local port
	_idem_svc_tmpdir || return 1
	port=$(_idem_svc_free_port 56479) || return 1
	_idem_svc_redis redis-cluster "$port" --cluster-enabled yes --cluster-port "$((port + 1))" \
		--cluster-config-file "$_IDEM_SVC_DIR/redis-cluster/nodes.conf" --cluster-announce-ip 127.0.0.1 || return 1
	_idem_svc_wait "Redis Cluster node on 127.0.0.1:$port" _idem_svc_redis_ping "$port" || return 1
	if ! redis-cli -h 127.0.0.1 -p "$port" cluster addslotsrange 0 16383 >/dev/null 2>&1; then
		# Redis before 7.0 has no ADDSLOTSRANGE.
		# shellcheck disable=SC2046
		redis-cli -h 127.0.0.1 -p "$port" cluster addslots $(seq 0 16383) >/dev/null || return 1
	fi
	_IDEM_SVC_CLUSTER_PORT=$port
}

_idem_svc_cluster_ok() { [[ "$(redis-cli -h 127.0.0.1 -p "$1" cluster info 2>/dev/null)" == *cluster_state:ok* ]]; }

_idem_svc_end_redis_cluster() {
	local port=$_IDEM_SVC_CLUSTER_PORT
	_idem_svc_wait "Redis Cluster on 127.0.0.1:$port" _idem_svc_cluster_ok "$port" || return 1
	export IDEM_TEST_REDIS_CLUSTER_ADDR="127.0.0.1:$port"
	_idem_svc_log "Redis Cluster (one node) ready on 127.0.0.1:$port"
}

# _idem_svc_mysql_bin: prints the directory of the MariaDB server
# (mariadbd, or mysqld in older packages) whose mariadb-install-db (or
# mysql_install_db) is installed; /usr/sbin is searched when it is not on
# PATH.
_idem_svc_mysql_bin() {
	local d
	for d in $(printf '%s' "$PATH" | tr ':' ' ') /usr/sbin /usr/bin; do
		if [ -x "$d/mariadbd" ] || [ -x "$d/mysqld" ]; then
			if command -v mariadb-install-db >/dev/null 2>&1 || command -v mysql_install_db >/dev/null 2>&1; then
				printf '%s\n' "$d"
				return 0
			fi
		fi
	done
	return 1
}

_idem_svc_mysql_ping() {
	local admin
	admin=$(command -v mariadb-admin || command -v mysqladmin) || return 1
	"$admin" --no-defaults --connect-timeout=1 -h 127.0.0.1 -P "$1" -u idem ping
}

_idem_svc_start_mysql() {
	local bin server install port dir user=()
	if ! bin=$(_idem_svc_mysql_bin); then
		_idem_svc_log "NOTE: MariaDB is not installed and cannot be installed here (not root, or no apt-get)."
		_idem_svc_log "      Install it, or export IDEM_TEST_MYSQL_DSN; MySQL tests will skip (and fail under CI)."
		_idem_svc_missing MariaDB
		return
	fi
	server="$bin/mariadbd"
	[ -x "$server" ] || server="$bin/mysqld"
	install=$(command -v mariadb-install-db || command -v mysql_install_db)
	if [ "$(id -u)" = 0 ]; then
		if ! id mysql >/dev/null 2>&1; then
			_idem_svc_log "MariaDB must run as a non-root user and the 'mysql' user does not exist; create it or export IDEM_TEST_MYSQL_DSN"
			return 1
		fi
		user=(--user=mysql)
	fi
	_idem_svc_tmpdir || return 1
	port=$(_idem_svc_free_port 53306) || return 1
	dir="$_IDEM_SVC_DIR/mariadb"
	mkdir -p "$dir/data"
	printf '%s\n' "CREATE USER IF NOT EXISTS 'idem'@'127.0.0.1';" \
		"GRANT ALL PRIVILEGES ON *.* TO 'idem'@'127.0.0.1';" \
		"CREATE DATABASE IF NOT EXISTS idem;" >"$dir/init.sql"
	if [ "$(id -u)" = 0 ]; then chown -R mysql: "$dir"; fi
	# Throwaway settings: no durability, no binary log, loopback only.
	local opts=(--no-defaults --datadir="$dir/data" --skip-name-resolve --skip-log-bin --innodb-flush-log-at-trx-commit=0
		--innodb-doublewrite=0 --innodb-log-file-size=8M --innodb-buffer-pool-size=64M "${user[@]}")
	if ! "$install" "${opts[@]}" --auth-root-authentication-method=normal --skip-test-db >"$dir/install.log" 2>&1; then
		_idem_svc_log "mariadb-install-db failed:"
		tail -n 20 "$dir/install.log" >&2
		return 1
	fi
	# Native AIO (io_uring, libaio) is often unavailable in containers.
	("$server" "${opts[@]}" --port="$port" --bind-address=127.0.0.1 --socket="$dir/mysqld.sock" --pid-file="$dir/mysqld.pid" \
		--log-error="$dir/error.log" --innodb-use-native-aio=0 --max-connections=300 --init-file="$dir/init.sql" \
		</dev/null >/dev/null 2>&1 &)
	_IDEM_SVC_MYSQL_DIR=$dir
	if ! _idem_svc_wait "MariaDB on 127.0.0.1:$port" _idem_svc_mysql_ping "$port"; then
		tail -n 20 "$dir/error.log" >&2 2>/dev/null
		return 1
	fi
	export IDEM_TEST_MYSQL_DSN="idem@tcp(127.0.0.1:$port)/idem"
	_idem_svc_log "MariaDB ready on 127.0.0.1:$port"
}

# _idem_svc_stop stops what this script started. It is the EXIT trap.
_idem_svc_stop() {
	local port
	if [ -n "${_IDEM_SVC_PG_DATA:-}" ]; then
		_idem_svc_as_pg "$_IDEM_SVC_PG_BIN/pg_ctl" -D "$_IDEM_SVC_PG_DATA" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
		_IDEM_SVC_PG_DATA=
	fi
	if [ -n "${_IDEM_SVC_MYSQL_DIR:-}" ] && [ -s "$_IDEM_SVC_MYSQL_DIR/mysqld.pid" ]; then
		# Throwaway data: no clean shutdown needed.
		kill -KILL "$(cat "$_IDEM_SVC_MYSQL_DIR/mysqld.pid")" 2>/dev/null || true
		_IDEM_SVC_MYSQL_DIR=
	fi
	for port in ${_IDEM_SVC_REDIS_PORTS:-}; do
		redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
	done
	_IDEM_SVC_REDIS_PORTS=
	if [ -n "${_IDEM_SVC_DIR:-}" ]; then
		rm -rf "$_IDEM_SVC_DIR"
		_IDEM_SVC_DIR=
	fi
}

# _idem_svc_trap chains _idem_svc_stop after the EXIT trap already set, once.
_idem_svc_trap() {
	local prev
	if [ -n "${_IDEM_SVC_TRAPPED:-}" ]; then return 0; fi
	_IDEM_SVC_TRAPPED=1
	prev=$(trap -p EXIT)
	prev=${prev#"trap -- '"}
	prev=${prev%"' EXIT"}
	prev=${prev//\'\\\'\'/\'}
	if [ -n "$prev" ]; then
		# shellcheck disable=SC2064
		trap "$prev
_idem_svc_stop" EXIT
	else
		trap _idem_svc_stop EXIT
	fi
}

_idem_svc_main() {
	local rc=0 want_pg= want_redis= want_cluster= want_mysql= pkgs=
	if [ -n "${IDEM_TEST_POSTGRES_DSN:-}" ]; then
		_idem_svc_log "using IDEM_TEST_POSTGRES_DSN from the environment"
	else
		want_pg=1
	fi
	if [ -n "${IDEM_TEST_REDIS_URL:-}" ]; then
		_idem_svc_log "using IDEM_TEST_REDIS_URL from the environment"
	else
		want_redis=1
	fi
	if [ -n "${IDEM_TEST_REDIS_CLUSTER_ADDR:-}" ]; then
		_idem_svc_log "using IDEM_TEST_REDIS_CLUSTER_ADDR from the environment"
	else
		want_cluster=1
	fi
	if [ -n "${IDEM_TEST_MYSQL_DSN:-}" ]; then
		_idem_svc_log "using IDEM_TEST_MYSQL_DSN from the environment"
	else
		want_mysql=1
	fi
	if [ -z "$want_pg$want_redis$want_cluster$want_mysql" ]; then return 0; fi

	# One apt-get run for whatever is missing.
	if [ -n "$want_pg" ] && ! _idem_svc_pg_bin >/dev/null; then pkgs="postgresql"; fi
	if [ -n "$want_redis$want_cluster" ] && ! _idem_svc_have_redis; then pkgs="$pkgs redis-server"; fi
	if [ -n "$want_mysql" ] && ! _idem_svc_mysql_bin >/dev/null; then pkgs="$pkgs mariadb-server"; fi
	if [ -n "$pkgs" ]; then
		# shellcheck disable=SC2086
		if ! _idem_svc_install $pkgs && _idem_svc_ci; then
			_idem_svc_log "FAIL: could not install the missing servers ($pkgs) under CI (CI=${CI})"
			rc=1
		fi
	fi

	_idem_svc_trap
	local have_redis=
	if _idem_svc_have_redis; then have_redis=1; fi
	if [ -n "$want_cluster" ]; then
		if [ -z "$have_redis" ]; then
			_idem_svc_redis_missing || rc=1
			want_cluster=
		elif ! _idem_svc_begin_redis_cluster; then
			rc=1
			want_cluster=
		fi
	fi
	if [ -n "$want_pg" ]; then
		_idem_svc_start_postgres || rc=1
	fi
	# MariaDB's setup (about 3s) runs while the cluster settles.
	if [ -n "$want_mysql" ]; then
		_idem_svc_start_mysql || rc=1
	fi
	if [ -n "$want_redis" ]; then
		if [ -z "$have_redis" ]; then
			_idem_svc_redis_missing || rc=1
		else
			_idem_svc_start_redis || rc=1
		fi
	fi
	if [ -n "$want_cluster" ]; then
		_idem_svc_end_redis_cluster || rc=1
	fi
	return "$rc"
}

_idem_svc_main
