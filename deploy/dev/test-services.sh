#!/usr/bin/env bash
# Runs a command with a PostgreSQL and a Redis that the integration tests can use.
#
#   deploy/dev/test-services.sh go test ./...
#
# The tests read SHIPHOOK_TEST_DATABASE_URL and SHIPHOOK_TEST_REDIS_URL. When
# the servers those URLs (or their defaults) name answer and are usable, they
# are used as they are. Otherwise a throwaway server is started on a free port
# under a temporary directory, the URL is pointed at it, and it is stopped and
# removed when the command ends. Missing server binaries are installed from
# Debian's packages when running as root.
#
# Usable means: PostgreSQL accepts the connection and the role may CREATE in
# the database (every test makes its own schema); Redis answers PING and has
# databases 0-15 (every test claims its own database number 1-15).
#
# With --binaries first, no server is started: the script only makes sure
# that PostgreSQL's and Redis's server binaries are there (installing them
# as above), and, when root, that the postgres user exists, then runs the
# command with SHIPHOOK_PG_BINDIR (the directory of initdb and postgres) and
# SHIPHOOK_REDIS_SERVER (the redis-server binary) set. The fault suite uses
# it to run servers of its own (make chaos).
#
#   deploy/dev/test-services.sh --binaries bin/shiphook-chaos -short
#
# Exits with the command's exit status.

# The bash -c programs below expand their own positional arguments.
# shellcheck disable=SC2016
set -euo pipefail

readonly DEFAULT_DATABASE_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
readonly DEFAULT_REDIS_URL='redis://127.0.0.1:6379'

binaries_only=''
if [[ ${1:-} == --binaries ]]; then
	binaries_only=1
	shift
fi
if [[ $# -eq 0 ]]; then
	echo "usage: $0 [--binaries] COMMAND [ARG...]" >&2
	exit 2
fi

say() { echo "test-services: $*" >&2; }
die() {
	say "$*"
	exit 1
}

is_root() { [[ $(id -u) -eq 0 ]]; }

tmp=''
redis_pid=''
pg_ctl=''
pg_data=''
policy_rc_created=''

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	local status=$?
	set +e
	if [[ -n $policy_rc_created ]]; then
		rm -f /usr/sbin/policy-rc.d
	fi
	if [[ -n $redis_pid ]]; then
		kill "$redis_pid" 2>/dev/null
		wait "$redis_pid" 2>/dev/null
	fi
	if [[ -n $pg_ctl && -f $pg_data/postmaster.pid ]]; then
		as_pg "$pg_ctl" -D "$pg_data" -m immediate -w stop >/dev/null 2>&1
	fi
	if [[ -n $tmp ]]; then
		rm -rf "$tmp"
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

workdir() {
	if [[ -z $tmp ]]; then
		tmp=$(mktemp -d "${TMPDIR:-/tmp}/shiphook-test.XXXXXX")
		# The postgres user must reach the data and socket directories.
		chmod 755 "$tmp"
	fi
}

# url_host_port URL DEFAULT_PORT prints "host port" of a postgres:// or
# redis:// URL.
url_host_port() {
	local rest=${1#*://} port=$2 host
	rest=${rest%%/*}
	rest=${rest%%\?*}
	rest=${rest##*@}
	if [[ $rest == \[* ]]; then
		host=${rest%%]*}
		host=${host#[}
		rest=${rest#*]}
		[[ $rest == :* ]] && port=${rest#:}
	elif [[ $rest == *:* ]]; then
		host=${rest%%:*}
		port=${rest#*:}
	else
		host=$rest
	fi
	echo "${host:-localhost} ${port:-$2}"
}

# port_open HOST PORT succeeds when something accepts TCP connections there.
port_open() {
	timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# free_port prints a port in 20000-52767 that nothing on 127.0.0.1 listens on.
free_port() {
	local port
	for _ in $(seq 1 50); do
		port=$((20000 + RANDOM))
		if ! port_open 127.0.0.1 "$port"; then
			echo "$port"
			return 0
		fi
	done
	die "no free port found on 127.0.0.1"
}

# --- PostgreSQL ---------------------------------------------------------------

# pg_usable URL succeeds when the server answers and the role may create
# schemas in the database. Without psql only reachability can be checked.
pg_usable() {
	local url=$1 host port
	if command -v psql >/dev/null; then
		[[ $(PGCONNECT_TIMEOUT=3 psql "$url" -XAtqc \
			"select has_database_privilege(current_database(), 'CREATE')" 2>/dev/null) == t ]]
		return
	fi
	if command -v pg_isready >/dev/null; then
		pg_isready -q -t 3 -d "$url"
		return
	fi
	read -r host port < <(url_host_port "$url" 5432)
	# An SSLRequest is answered with one byte, S or N, by any PostgreSQL.
	timeout 3 bash -c '
		exec 3<>"/dev/tcp/$1/$2" || exit 1
		printf "\x00\x00\x00\x08\x04\xd2\x16\x2f" >&3
		IFS= read -r -n1 -u3 reply || exit 1
		[[ $reply == S || $reply == N ]]
	' _ "$host" "$port" 2>/dev/null
}

# pg_bindir prints the directory holding initdb, pg_ctl and postgres, or fails.
pg_bindir() {
	local initdb dir
	if initdb=$(command -v initdb); then
		dir=$(dirname "$(readlink -f "$initdb")")
		[[ -x $dir/pg_ctl && -x $dir/postgres ]] && {
			echo "$dir"
			return 0
		}
	fi
	for dir in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r); do
		[[ -x $dir/initdb && -x $dir/pg_ctl && -x $dir/postgres ]] && {
			echo "$dir"
			return 0
		}
	done
	return 1
}

# as_pg runs a command as the postgres user when root (PostgreSQL refuses to
# run as root), as the current user otherwise.
as_pg() {
	if ! is_root; then
		"$@"
	elif command -v runuser >/dev/null; then
		(cd "$tmp" && runuser -u postgres -- "$@")
	else
		(cd "$tmp" && su postgres -s /bin/sh -c "$(printf '%q ' "$@")")
	fi
}

ensure_postgres_user() {
	getent passwd postgres >/dev/null && return 0
	if getent group postgres >/dev/null; then
		useradd --system --no-create-home --gid postgres --shell /usr/sbin/nologin postgres
	else
		useradd --system --no-create-home --user-group --shell /usr/sbin/nologin postgres
	fi
}

start_postgres() {
	local bindir=$1 url=$SHIPHOOK_TEST_DATABASE_URL port attempt
	workdir
	pg_data=$tmp/pg
	mkdir -p "$pg_data" "$tmp/pg-socket"
	if is_root; then
		ensure_postgres_user
		chown postgres: "$pg_data" "$tmp/pg-socket"
	fi
	chmod 700 "$pg_data"
	as_pg "$bindir/initdb" -D "$pg_data" -A trust -U postgres -E UTF8 --no-sync \
		>"$tmp/initdb.log" 2>&1 || {
		cat "$tmp/initdb.log" >&2
		die "initdb failed"
	}
	pg_ctl=$bindir/pg_ctl
	for attempt in 1 2 3 4 5; do
		port=$(free_port)
		if as_pg "$pg_ctl" -D "$pg_data" -l "$pg_data/server.log" -w -t 60 \
			-o "-p $port -k '$tmp/pg-socket' -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
			start >/dev/null 2>&1; then
			break
		fi
		if [[ $attempt -eq 5 ]]; then
			tail -n 20 "$pg_data/server.log" >&2 || true
			die "PostgreSQL did not start"
		fi
	done
	local createdb=$bindir/createdb
	[[ -x $createdb ]] || createdb=$(command -v createdb) || createdb=''
	if [[ -n $createdb ]]; then
		"$createdb" -h 127.0.0.1 -p "$port" -U postgres test
	elif command -v psql >/dev/null; then
		psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -XAtqc 'create database test' >/dev/null
	else
		die "neither createdb nor psql found to create the test database"
	fi
	SHIPHOOK_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/test?sslmode=disable"
	say "postgres: $url not usable; started a throwaway PostgreSQL on 127.0.0.1:$port"
}

# --- Redis --------------------------------------------------------------------

# redis_usable URL succeeds when the server answers PING and has database 15.
# Credentials are read from the URL's user info the way go-redis reads them.
redis_usable() {
	local url=$1 host port rest userinfo='' user='' pass=''
	rest=${url#*://}
	rest=${rest%%/*}
	if [[ $rest == *@* ]]; then
		userinfo=${rest%@*}
		user=${userinfo%%:*}
		[[ $userinfo == *:* ]] && pass=${userinfo#*:}
	fi
	if command -v redis-cli >/dev/null; then
		# redis-cli -u sends AUTH with an empty user name for redis://:pass@,
		# which Redis refuses, so the credentials are passed separately.
		local cli=(timeout 3 redis-cli -u "$url")
		if [[ -n $userinfo ]]; then
			cli=(timeout 3 redis-cli -u "${url%%://*}://${url#*@}")
			if [[ -n $pass ]]; then
				cli=(env REDISCLI_AUTH="$pass" "${cli[@]}")
				[[ -n $user ]] && cli+=(--user "$user")
			fi
		fi
		[[ $("${cli[@]}" ping 2>&1) == PONG && $("${cli[@]}" select 15 2>&1) == OK ]]
		return
	fi
	read -r host port < <(url_host_port "$url" 6379)
	timeout 3 bash -c '
		resp() { local a; printf "*%d\r\n" $#; for a; do printf "\$%d\r\n%s\r\n" ${#a} "$a"; done; }
		exec 3<>"/dev/tcp/$1/$2" || exit 1
		n=2
		if [[ -n $4 ]]; then
			if [[ -n $3 ]]; then resp AUTH "$3" "$4"; else resp AUTH "$4"; fi >&3
			n=3
		fi
		{ resp SELECT 15; resp PING; } >&3
		for ((i = 0; i < n; i++)); do
			IFS= read -r line <&3 || exit 1
			[[ $line == +* ]] || exit 1
		done
		[[ $line == +PONG* ]]
	' _ "$host" "$port" "$user" "$pass" 2>/dev/null
}

start_redis() {
	local server=$1 port attempt
	workdir
	for attempt in 1 2 3 4 5; do
		port=$(free_port)
		"$server" --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
			--daemonize no --databases 16 --dir "$tmp" \
			>"$tmp/redis.log" 2>&1 &
		redis_pid=$!
		for _ in $(seq 1 100); do
			kill -0 "$redis_pid" 2>/dev/null || break
			if redis_usable "redis://127.0.0.1:$port"; then
				say "redis: $SHIPHOOK_TEST_REDIS_URL not usable; started a throwaway Redis on 127.0.0.1:$port"
				SHIPHOOK_TEST_REDIS_URL="redis://127.0.0.1:$port"
				return 0
			fi
			sleep 0.1
		done
		kill "$redis_pid" 2>/dev/null || true
		wait "$redis_pid" 2>/dev/null || true
		redis_pid=''
	done
	cat "$tmp/redis.log" >&2
	die "Redis did not start"
}

# --- Installing what is missing -------------------------------------------------

# install_packages PACKAGE... installs Debian packages when root, and fails
# with a message saying what to install otherwise.
install_packages() {
	if ! is_root || ! command -v apt-get >/dev/null; then
		die "cannot start a throwaway server: install $* (Debian: apt-get install $*)," \
			"or point SHIPHOOK_TEST_DATABASE_URL / SHIPHOOK_TEST_REDIS_URL at running servers"
	fi
	say "installing $* with apt-get"
	workdir
	# Keep the packages' maintainer scripts from starting system-wide servers.
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		policy_rc_created=1
	fi
	if ! { apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"; } \
		>"$tmp/apt.log" 2>&1; then
		tail -n 30 "$tmp/apt.log" >&2
		die "apt-get install $* failed"
	fi
	if [[ -n $policy_rc_created ]]; then
		rm -f /usr/sbin/policy-rc.d
		policy_rc_created=''
	fi
}

# --- Main -----------------------------------------------------------------------

# run_with_binaries runs the command with the server binaries' paths set,
# after installing what is missing.
run_with_binaries() {
	local missing=() status=0
	pg_bindir >/dev/null || missing+=(postgresql)
	command -v redis-server >/dev/null || missing+=(redis-server)
	if [[ ${#missing[@]} -gt 0 ]]; then
		install_packages "${missing[@]}"
	fi
	SHIPHOOK_PG_BINDIR=$(pg_bindir) || die "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found"
	SHIPHOOK_REDIS_SERVER=$(command -v redis-server) || die "redis-server not found"
	if is_root; then
		ensure_postgres_user
	fi
	export SHIPHOOK_PG_BINDIR SHIPHOOK_REDIS_SERVER
	"$@" || status=$?
	exit "$status"
}

if [[ -n $binaries_only ]]; then
	run_with_binaries "$@"
fi

SHIPHOOK_TEST_DATABASE_URL=${SHIPHOOK_TEST_DATABASE_URL:-$DEFAULT_DATABASE_URL}
SHIPHOOK_TEST_REDIS_URL=${SHIPHOOK_TEST_REDIS_URL:-$DEFAULT_REDIS_URL}

need_pg=''
need_redis=''
pg_usable "$SHIPHOOK_TEST_DATABASE_URL" || need_pg=1
redis_usable "$SHIPHOOK_TEST_REDIS_URL" || need_redis=1

missing=()
if [[ -n $need_pg ]] && ! pg_bindir >/dev/null; then
	missing+=(postgresql)
fi
if [[ -n $need_redis ]] && ! command -v redis-server >/dev/null; then
	missing+=(redis-server)
fi
if [[ ${#missing[@]} -gt 0 ]]; then
	install_packages "${missing[@]}"
fi

if [[ -n $need_pg ]]; then
	bindir=$(pg_bindir) || die "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found"
	start_postgres "$bindir"
else
	say "postgres: using $SHIPHOOK_TEST_DATABASE_URL (reachable)"
fi
if [[ -n $need_redis ]]; then
	server=$(command -v redis-server) || die "redis-server not found"
	start_redis "$server"
else
	say "redis: using $SHIPHOOK_TEST_REDIS_URL (reachable)"
fi

export SHIPHOOK_TEST_DATABASE_URL SHIPHOOK_TEST_REDIS_URL

status=0
"$@" || status=$?
exit "$status"
