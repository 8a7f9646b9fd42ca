#!/usr/bin/env bash
# postman.sh — runs the Postman collection
# (postman/webhookd.postman_collection.json) with newman against a real
# dispatcher: bin/dispatcher on a free port, the embedded SQLite store in a
# temporary directory, random secrets and an API token. Its deliveries go
# to a local port where nothing listens (the collection tests the API, not
# delivery), with MAX_ATTEMPTS=1 so that they die at once and can be
# replayed. Exits non-zero when any assertion fails. Needs Go and Node.js
# (npx fetches the pinned newman from the npm registry on first use).
set -euo pipefail
cd "$(dirname "$0")/.."

NEWMAN_VERSION=6.2.2
command -v npx >/dev/null || { echo "postman: npx (Node.js) not found" >&2; exit 1; }

make --no-print-directory build >/dev/null

dir=$(mktemp -d)
pid=""
cleanup() {
	if [[ -n "$pid" ]]; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$dir"
}
trap cleanup EXIT

random_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# A local port with nothing listening, for the receiver: a connection to it
# is refused at once.
down_port=""
for _ in $(seq 1 50); do
	p=$((20000 + RANDOM % 40000))
	if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		down_port=$p
		break
	fi
done
[[ -n "$down_port" ]] || { echo "postman: no free port found" >&2; exit 1; }
receiver_url=http://127.0.0.1:$down_port/webhook
token=postman-$(random_hex 16)

# DISPATCHER_PORT=0: the kernel picks a free port, and the log says which.
DATABASE_URL="sqlite://$dir/webhookd.db" \
	DISPATCHER_PORT=0 \
	HMAC_SECRET="$(random_hex 32)" \
	ENCRYPTION_KEY="$(random_hex 32)" \
	API_TOKENS="$token" \
	ALLOW_PRIVATE_TARGETS=true \
	TARGET_URL="$receiver_url" \
	MAX_ATTEMPTS=1 \
	BREAKER_FAILURES=1000 \
	LOG_FILE="$dir/dispatcher.log" \
	bin/dispatcher >"$dir/dispatcher.out" 2>&1 &
pid=$!

port=""
for _ in $(seq 1 150); do
	port=$(sed -n 's/.*"msg":"api listening","addr":"[^"]*:\([0-9]*\)".*/\1/p' "$dir/dispatcher.log" 2>/dev/null | head -n 1 || true)
	[[ -n "$port" ]] && DISPATCHER_PORT=$port bin/dispatcher healthcheck >/dev/null 2>&1 && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.2
done
if [[ -z "$port" ]] || ! DISPATCHER_PORT=$port bin/dispatcher healthcheck >/dev/null 2>&1; then
	echo "postman: the dispatcher did not become ready; its output:" >&2
	cat "$dir/dispatcher.out" >&2
	exit 1
fi
echo "postman: dispatcher ready on 127.0.0.1:$port; running newman $NEWMAN_VERSION"

status=0
npx --yes "newman@$NEWMAN_VERSION" run postman/webhookd.postman_collection.json \
	--env-var "base_url=http://127.0.0.1:$port" \
	--env-var "token=$token" \
	--env-var "receiver_url=$receiver_url" \
	--color off --disable-unicode || status=$?
if [[ $status -ne 0 ]]; then
	echo "postman: newman failed (exit $status); the dispatcher's last log lines:" >&2
	tail -n 20 "$dir/dispatcher.log" >&2 || true
fi
exit "$status"
