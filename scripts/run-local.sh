#!/usr/bin/env bash
# run-local.sh — `make run`: the dispatcher and the mock receiver on this
# machine. Uses DATABASE_URL when set; otherwise the embedded SQLite store at
# ./data/webhookd.db, which needs nothing but Go and keeps its events across
# runs. With RUN_POSTGRES=1 (`make run-pg`) it starts a throwaway PostgreSQL
# (scripts/testdb.sh) instead, deleted when you press Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

# Demo-friendly defaults; any of them can be overridden from the shell.
# DEV_MODE lets both processes fall back to the seed's public example secret
# (loudly warned about): never set it in production.
export DEV_MODE=${DEV_MODE:-true}
export ALLOW_PRIVATE_TARGETS=${ALLOW_PRIVATE_TARGETS:-true} # the mock receiver is on localhost
export DISPATCHER_PORT=${DISPATCHER_PORT:-3000}
export MOCK_RECEIVER_PORT=${MOCK_RECEIVER_PORT:-3001}
export TARGET_URL=${TARGET_URL:-http://localhost:$MOCK_RECEIVER_PORT/webhook}
# A published development secret in the whsec_ form, so that an endpoint
# registered with it is verified by the mock receiver too (it checks every
# delivery against HMAC_SECRET). Never use it anywhere else.
export HMAC_SECRET=${HMAC_SECRET:-whsec_bWFrZS1ydW4tZGV2LXNlY3JldC1ub3QtZm9yLXByb2Q=}
mkdir -p logs

pgdir=""
pids=()
cleanup() {
	trap - EXIT INT TERM
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [[ -n "$pgdir" ]]; then bash scripts/testdb.sh stop "$pgdir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -n "${RUN_POSTGRES:-}" && -z "${DATABASE_URL:-}" ]]; then
	eval "$(bash scripts/testdb.sh start)"
	pgdir=$PGTEST_DIR
	export DATABASE_URL=$TEST_DATABASE_URL
	echo "make run-pg: throwaway PostgreSQL at $DATABASE_URL (deleted on exit; set DATABASE_URL to keep your data)"
elif [[ -z "${DATABASE_URL:-}" ]]; then
	echo "make run: embedded SQLite store at ./data/webhookd.db (kept across runs; \`make run-pg\` for PostgreSQL)"
fi

# The seed's chaos receiver, milder so that a newcomer sees deliveries,
# retries and signatures within a minute.
FAIL_FIRST_N=${FAIL_FIRST_N:-1} FAIL_RATE=${FAIL_RATE:-0.2} HANG_RATE=${HANG_RATE:-0.05} \
	MAX_DELAY_MS=${MAX_DELAY_MS:-500} LOG_FILE=${MOCK_LOG_FILE:-logs/mock-receiver.log} \
	bin/mock-receiver &
pids+=($!)
LOG_FILE=${LOG_FILE:-logs/dispatcher.log} bin/dispatcher &
pids+=($!)

base=http://localhost:$DISPATCHER_PORT
# The dispatcher's own health check: nothing but Go is needed.
for _ in $(seq 1 150); do
	bin/dispatcher healthcheck >/dev/null 2>&1 && break
	sleep 0.2
done
bin/dispatcher healthcheck >/dev/null || { echo "make run: the dispatcher did not become ready" >&2; exit 1; }
cat <<MSG

make run: webhookd is up — API $base, mock receiver on :$MOCK_RECEIVER_PORT.
  Dashboard: $base/dashboard      CLI: bin/dispatcher --help (e.g. bin/dispatcher events list)
  curl -X POST $base/events -H 'Content-Type: application/json' \\
       -d '{"payload": {"order_id": "abc-123", "amount": 99.99}}'
  curl $base/events            curl http://localhost:$MOCK_RECEIVER_PORT/stats?summary=1
Fan-out to an endpoint the mock receiver verifies (it checks HMAC_SECRET, so give it that secret):
  curl -X POST $base/endpoints -H 'Content-Type: application/json' \\
       -d '{"url": "$TARGET_URL", "event_types": ["order.paid"], "secret": "$HMAC_SECRET"}'
  curl -X POST $base/events -H 'Content-Type: application/json' \\
       -d '{"event_type": "order.paid", "payload": {"order_id": "abc-124"}}'
Logs: logs/dispatcher.log, logs/mock-receiver.log. Ctrl-C stops everything.

MSG
# A first event, so the logs show a delivery straight away.
if command -v curl >/dev/null; then
	curl -fs -X POST "$base/events" -H 'Content-Type: application/json' \
		-d '{"payload": {"order_id": "demo-1", "amount": 99.99}}' && echo
fi
wait -n "${pids[@]}"
