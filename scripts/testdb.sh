#!/usr/bin/env bash
# testdb.sh — a throwaway PostgreSQL 15 cluster for tests.
#
#   scripts/testdb.sh start           initdb + start; prints eval-able `export` lines
#   scripts/testdb.sh stop <dir>      stop the cluster started in <dir> and remove <dir>
#   scripts/testdb.sh run -- cmd...   start, run cmd with TEST_DATABASE_URL, PGTEST_DIR and
#                                     WEBHOOKD_REQUIRE_DB=1 exported, stop and clean up (also
#                                     on failure or Ctrl-C); exits with cmd's status. If
#                                     TEST_DATABASE_URL is already set, just runs cmd (with
#                                     WEBHOOKD_REQUIRE_DB=1). Without PostgreSQL's server
#                                     binaries, or with NO_POSTGRES=1, it runs cmd without a
#                                     database, saying so in one line: the PostgreSQL tests
#                                     are then not run (the SQLite and memory ones are).
#                                     REQUIRE_POSTGRES=1 (CI) makes that an error instead.
#   scripts/testdb.sh pgstop <dir>    fast-stop the cluster in <dir> but keep its data
#   scripts/testdb.sh pgstart <dir>   start it again, same port and options (the fault
#                                     suite restarts the database under load this way)
#
# Example: eval "$(scripts/testdb.sh start)"; go test ./...; scripts/testdb.sh stop "$PGTEST_DIR"
#
# The cluster trades durability for speed (fsync off) and trusts every local
# connection: never point anything but tests at it. TESTDB_DURABLE=1 keeps
# PostgreSQL's durable defaults instead (fsync, synchronous_commit and
# full_page_writes on), for benchmarks whose figures must be real commits. PostgreSQL refuses to run
# as root, so as root the server tools run as the `postgres` OS user.
set -euo pipefail

readonly DB_NAME=webhookd_test
readonly DB_USER=postgres
readonly MARKER=.webhookd-testdb # proves a dir is ours before `stop` deletes it
readonly OPTS=pg_ctl.options      # the exact `pg_ctl -o` options, for pgstart
readonly PORTFILE=port            # the cluster's port, for pgstart's readiness wait

log() { printf 'testdb: %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 1
}

pg_bin() {
	local dir
	for dir in "${PG_BINDIR:-}" /usr/lib/postgresql/15/bin; do
		if [[ -n "$dir" && -x "$dir/$1" ]]; then
			printf '%s/%s\n' "$dir" "$1"
			return
		fi
	done
	command -v "$1" || die "$1 not found (install postgresql-15 or set PG_BINDIR)"
}

# as_pg runs a server tool as the postgres OS user when we are root.
as_pg() {
	if [[ $(id -u) -eq 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

random_free_port() {
	local port i
	for i in $(seq 1 50); do
		port=$((20000 + RANDOM % 40000))
		if ! port_in_use "$port"; then
			echo "$port"
			return
		fi
	done
	die "no free port found"
}

# wait_ready waits (30 s at most) until the server on port accepts connections.
wait_ready() {
	local pg_isready attempt
	pg_isready=$(pg_bin pg_isready)
	for attempt in $(seq 1 300); do
		"$pg_isready" -q -h 127.0.0.1 -p "$1" -U "$DB_USER" && return
		sleep 0.1
	done
	die "postgres on port $1 not ready after 30s"
}

cmd_start() {
	local initdb pg_ctl psql dir port attempt url
	initdb=$(pg_bin initdb)
	pg_ctl=$(pg_bin pg_ctl)
	psql=$(pg_bin psql)

	dir=$(mktemp -d "${TMPDIR:-/tmp}/webhookd-pg.XXXXXX")
	touch "$dir/$MARKER"
	if [[ $(id -u) -eq 0 ]]; then
		chown -R postgres: "$dir"
	fi

	log "initdb in $dir"
	if ! as_pg "$initdb" -D "$dir/data" -U "$DB_USER" -E UTF8 --no-locale \
		--auth-local=trust --auth-host=trust >"$dir/initdb.log" 2>&1; then
		cat "$dir/initdb.log" >&2
		rm -rf "$dir"
		die "initdb failed"
	fi

	# Another process may grab the port between the check and the bind: retry.
	local opts
	for attempt in 1 2 3 4 5; do
		port=$(random_free_port)
		local durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
		if [[ "${TESTDB_DURABLE:-}" == 1 ]]; then
			durability="-c fsync=on -c synchronous_commit=on -c full_page_writes=on"
		fi
		opts="-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir \
-c max_connections=200 $durability \
-c shared_buffers=128MB -c log_min_messages=warning"
		if as_pg "$pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 -s start -o "$opts" >&2; then
			printf '%s\n' "$opts" >"$dir/$OPTS"
			printf '%s\n' "$port" >"$dir/$PORTFILE"
			break
		fi
		log "start on port $port failed (attempt $attempt)"
		port=""
	done
	if [[ -z "$port" ]]; then
		tail -n 20 "$dir/server.log" >&2 || true
		rm -rf "$dir"
		die "could not start postgres"
	fi

	wait_ready "$port"
	"$psql" -q -X -h 127.0.0.1 -p "$port" -U "$DB_USER" -d postgres -v ON_ERROR_STOP=1 \
		-c "CREATE DATABASE $DB_NAME" >&2

	url="postgres://$DB_USER@127.0.0.1:$port/$DB_NAME?sslmode=disable"
	log "postgres ready on 127.0.0.1:$port (data in $dir)"
	# Single-quoted: the URL holds '?' and the values hold no quotes.
	printf "export TEST_DATABASE_URL='%s'\n" "$url"
	printf "export PGTEST_DIR='%s'\n" "$dir"
}

cmd_stop() {
	local dir=${1:-}
	[[ -n "$dir" ]] || die "usage: $0 stop <dir>"
	[[ -f "$dir/$MARKER" ]] || die "$dir was not created by $0; not touching it"
	if [[ -f "$dir/data/postmaster.pid" ]]; then
		as_pg "$(pg_bin pg_ctl)" -D "$dir/data" -m immediate -w -s stop >&2 || log "stop failed"
	fi
	rm -rf "$dir"
}

# ours checks that dir is a cluster started by cmd_start.
ours() {
	[[ -n "${1:-}" ]] || die "usage: $0 pgstop|pgstart <dir>"
	[[ -f "$1/$MARKER" && -f "$1/$OPTS" ]] || die "$1 was not created by $0; not touching it"
}

# cmd_pgstop stops the server the way an operator's restart does (fast:
# sessions are terminated, open transactions rolled back), keeping the data.
cmd_pgstop() {
	ours "${1:-}"
	as_pg "$(pg_bin pg_ctl)" -D "$1/data" -m fast -w -t 60 -s stop >&2
}

# cmd_pgstart starts a cluster stopped by cmd_pgstop again, on its old port.
cmd_pgstart() {
	ours "${1:-}"
	as_pg "$(pg_bin pg_ctl)" -D "$1/data" -l "$1/server.log" -w -t 60 -s start -o "$(cat "$1/$OPTS")" >&2
	wait_ready "$(cat "$1/$PORTFILE")"
}

# have_postgres reports whether the server binaries can be found, setting
# why_not when they cannot.
have_postgres() {
	if [[ -n "${NO_POSTGRES:-}" ]]; then
		why_not="NO_POSTGRES is set"
		return 1
	fi
	if ! (pg_bin initdb && pg_bin pg_ctl) >/dev/null 2>&1; then
		why_not="initdb/pg_ctl not found (install postgresql-15, set PG_BINDIR, or set TEST_DATABASE_URL)"
		return 1
	fi
}

cmd_run() {
	[[ ${1:-} == "--" ]] && shift
	[[ $# -gt 0 ]] || die "usage: $0 run -- command [args...]"
	export WEBHOOKD_REQUIRE_DB=1
	if [[ -n "${TEST_DATABASE_URL:-}" ]]; then
		exec "$@"
	fi
	local why_not=""
	if ! have_postgres; then
		[[ -z "${REQUIRE_POSTGRES:-}" ]] || die "REQUIRE_POSTGRES is set but PostgreSQL cannot be started: $why_not"
		unset WEBHOOKD_REQUIRE_DB
		log "PostgreSQL tests NOT RUN: $why_not. The memory and SQLite suites and the end-to-end tests on SQLite run."
		exec "$@"
	fi

	local exports
	exports=$(cmd_start)
	eval "$exports"
	# Clean up however we leave: normal exit, failure, Ctrl-C or kill.
	trap 'cmd_stop "$PGTEST_DIR"' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM

	local status=0
	"$@" || status=$?
	exit "$status"
}

case "${1:-}" in
start) cmd_start ;;
stop)
	shift
	cmd_stop "$@"
	;;
run)
	shift
	cmd_run "$@"
	;;
pgstop)
	shift
	cmd_pgstop "$@"
	;;
pgstart)
	shift
	cmd_pgstart "$@"
	;;
*) die "usage: $0 start | stop <dir> | run -- command [args...] | pgstop <dir> | pgstart <dir>" ;;
esac
