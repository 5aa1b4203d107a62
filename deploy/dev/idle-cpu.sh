#!/usr/bin/env bash
# Measures the CPU shiphook uses while it has nothing to do.
#
#   deploy/dev/idle-cpu.sh [BINARY]      # default bin/shiphook; make idle-cpu
#
# For each shape in SHAPES (default "embedded postgres split") it starts
# BINARY with no partners and no events, lets it settle for SETTLE seconds
# (IDLE_SETTLE, default 10), then reads the CPU (utime + stime in
# /proc/<pid>/stat) of each of its processes over IDLE_SECONDS (default 60),
# and prints it as a share of one core:
#
#   embedded  serve on the embedded defaults (SQLite, in-process Redis)
#   postgres  serve on PostgreSQL and Redis
#   split     api and worker, on PostgreSQL and Redis
#
# Beside it: redis-server's CPU (all of its clients, when it runs on this
# machine), that of the PostgreSQL backends connected to shiphook's
# database, and the rest of the machine's use ("other"), which says how
# quiet the machine was. PostgreSQL and Redis are those of the tests
# (SHIPHOOK_TEST_DATABASE_URL, SHIPHOOK_TEST_REDIS_URL, with the same
# defaults): a database shiphook_idle_<random> is created and dropped, and a
# Redis database number is claimed as the tests claim theirs, emptied and
# released. Needs psql and redis-cli for those shapes.
set -euo pipefail

bin=$(realpath "${1:-bin/shiphook}")
shapes=${SHAPES:-embedded postgres split}
seconds=${IDLE_SECONDS:-60}
settle=${IDLE_SETTLE:-10}
pg_url=${SHIPHOOK_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
redis_base=${SHIPHOOK_TEST_REDIS_URL:-redis://127.0.0.1:6379}
redis_base=${redis_base%/}

say() { echo "idle-cpu: $*" >&2; }
die() {
	say "$*"
	exit 1
}
[[ -x $bin ]] || die "no binary at $bin (make build)"

dir=$(mktemp -d "${TMPDIR:-/tmp}/shiphook-idle.XXXXXX")
pids=() names=() db='' claim_db='' claim_token=''

stop_shiphook() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
}
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	local status=$?
	set +e
	stop_shiphook
	[[ -n $db ]] && psql "$pg_url" -Xqc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
	if [[ -n $claim_db ]]; then
		redis-cli -u "$redis_base/$claim_db" flushdb >/dev/null
		[[ $(redis-cli -u "$redis_base/0" get "shiphook-test:db:$claim_db") == "$claim_token" ]] &&
			redis-cli -u "$redis_base/0" del "shiphook-test:db:$claim_db" >/dev/null
	fi
	rm -rf "$dir"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# cpu PID prints the CPU ticks (1/100 s) PID has used, 0 if it is gone.
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# machine prints the ticks all processors spent busy.
machine() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
# backends prints the pids of the PostgreSQL backends connected to $db.
backends() { psql "$pg_url" -XAtqc "SELECT pid FROM pg_stat_activity WHERE datname = '$db'"; }
sum_cpu() {
	local t=0 p
	for p in "$@"; do t=$((t + $(cpu "$p"))); done
	echo "$t"
}
share() { awk -v t="$1" -v s="$seconds" 'BEGIN { printf "%.1f %%", t / s }'; }

# claim_redis claims the first free Redis database 1-15, as the tests do.
claim_redis() {
	local n
	claim_token=idle-cpu-$$-$RANDOM
	for n in $(seq 1 15); do
		if [[ $(redis-cli -u "$redis_base/0" set "shiphook-test:db:$n" "$claim_token" NX EX 3600) == OK ]]; then
			claim_db=$n
			redis-cli -u "$redis_base/$n" flushdb >/dev/null
			return
		fi
	done
	die "every Redis database 1-15 is claimed by a test run"
}

# start NAME ARGS... starts "$bin ARGS..." in the background, logging to
# $dir/NAME.log, and waits until the address it prints it listens on
# answers /readyz.
start() {
	local name=$1 url='' i
	shift
	(cd "$dir/data" && exec "$bin" "$@") >"$dir/$name.log" 2>&1 &
	pids+=($!) names+=("$name")
	for i in $(seq 1 300); do
		url=$(sed -n 's|.* listening on \(http://[^ ]*\).*|\1|p' "$dir/$name.log" | head -n1)
		[[ -n $url ]] && curl -sf -o /dev/null "$url/readyz" && return
		sleep 0.1
	done
	die "shiphook $name did not answer within 30 s; its log:$(echo && cat "$dir/$name.log")"
}

measure() {
	local shape=$1 p i redis_pid='' r0=0 r1=0 g0=0 g1=0 m0 m1 own=0 base
	local -A before
	names=()
	rm -rf "${dir:?}"/data && mkdir -p "$dir/data"
	unset DATABASE_URL REDIS_URL
	if [[ $shape != embedded ]]; then
		db=shiphook_idle_$RANDOM$RANDOM
		psql "$pg_url" -Xqc "CREATE DATABASE $db" >/dev/null
		claim_redis
		base=${pg_url%%\?*}
		export DATABASE_URL=${base%/*}/$db${pg_url#"$base"} REDIS_URL=$redis_base/$claim_db
		"$bin" migrate >/dev/null
		redis_pid=$(redis-cli -u "$redis_base/0" info server | tr -d '\r' | awk -F: '/^process_id:/ { print $2 }')
		[[ -r /proc/$redis_pid/stat && $(cat "/proc/$redis_pid/comm") == redis-server ]] || redis_pid=''
	fi
	case $shape in
	embedded | postgres) start serve serve --addr 127.0.0.1:0 ;;
	split)
		start api api --addr 127.0.0.1:0
		start worker worker --health-addr 127.0.0.1:0
		;;
	*) die "unknown shape $shape (embedded, postgres, split)" ;;
	esac
	sleep "$settle"
	for p in "${pids[@]}"; do before[$p]=$(cpu "$p"); done
	[[ -n $redis_pid ]] && r0=$(cpu "$redis_pid")
	# shellcheck disable=SC2046 # one pid per word
	[[ -n $db ]] && g0=$(sum_cpu $(backends))
	m0=$(machine)
	sleep "$seconds"
	m1=$(machine)
	# shellcheck disable=SC2046
	[[ -n $db ]] && g1=$(sum_cpu $(backends))
	[[ -n $redis_pid ]] && r1=$(cpu "$redis_pid")
	local line="| $shape |"
	for i in "${!pids[@]}"; do
		p=${pids[$i]}
		kill -0 "$p" 2>/dev/null || die "${names[$i]} exited; its log:$(echo && cat "$dir/${names[$i]}.log")"
		line+=" ${names[$i]} $(share $(($(cpu "$p") - before[$p])))"
		own=$((own + $(cpu "$p") - before[$p]))
	done
	if [[ -n $redis_pid ]]; then line+=" | $(share $((r1 - r0)))"; else line+=" | —"; fi
	if [[ -n $db ]]; then line+=" | $(share $((g1 - g0)))"; else line+=" | —"; fi
	line+=" | $(share $((m1 - m0 - own - (r1 - r0) - (g1 - g0)))) |"
	echo "$line"
	stop_shiphook
	if [[ -n $db ]]; then
		psql "$pg_url" -Xqc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
		db=''
	fi
	if [[ -n $claim_db ]]; then
		redis-cli -u "$redis_base/$claim_db" flushdb >/dev/null
		redis-cli -u "$redis_base/0" del "shiphook-test:db:$claim_db" >/dev/null
		claim_db=''
	fi
}

export SHIPHOOK_ADMIN_KEY SHIPHOOK_LOG_LEVEL=warn
SHIPHOOK_ADMIN_KEY=$("$bin" gen-key)
say "$("$bin" version), ${seconds} s per shape after ${settle} s to settle; CPU as a share of one core"
echo "| Shape | shiphook | Redis (whole server) | PostgreSQL (shiphook's backends) | other load |"
echo "|---|---|--:|--:|--:|"
for shape in $shapes; do measure "$shape"; done
