#!/usr/bin/env bash
# interop-setup.sh — installs the official Standard Webhooks JS library
# (pinned in core/signing/testdata/interop/package-lock.json) into a cache
# directory and prints that directory, for SIGNING_INTEROP_DIR. Exits 1
# without output when node/npm are missing or the registry is unreachable.
set -euo pipefail
cd "$(dirname "$0")/.."
src=core/signing/testdata/interop
command -v node >/dev/null && command -v npm >/dev/null || { echo "interop: node/npm not found" >&2; exit 1; }
key=$(cat "$src/package-lock.json" | sha256sum | cut -c1-12)
dir=${XDG_CACHE_HOME:-$HOME/.cache}/webhookd-interop-$key
if [[ ! -f "$dir/node_modules/standardwebhooks/package.json" ]]; then
	rm -rf "$dir" && mkdir -p "$dir"
	cp "$src/package.json" "$src/package-lock.json" "$dir/"
	(cd "$dir" && npm ci --silent --no-audit --no-fund >&2) || { rm -rf "$dir"; exit 1; }
fi
echo "$dir"
