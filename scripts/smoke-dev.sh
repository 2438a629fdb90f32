#!/usr/bin/env bash
# Starts `npm run dev` as a new user would, waits for /healthz, runs the README's curl
# walk-through against it, and stops only the processes it started.
set -euo pipefail
cd "$(dirname "$0")/.."

port=8787
log=$(mktemp)
setsid npm run dev >"$log" 2>&1 &
dev_pid=$!
stop() { kill -TERM -- "-$dev_pid" 2>/dev/null || true; sleep 1; kill -KILL -- "-$dev_pid" 2>/dev/null || true; }
trap stop EXIT

for _ in $(seq 1 120); do
	if curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; then break; fi
	if ! kill -0 "$dev_pid" 2>/dev/null; then cat "$log"; echo "npm run dev exited" >&2; exit 1; fi
	sleep 1
done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { cat "$log"; echo "dev server never became healthy" >&2; exit 1; }

export EC_URL="http://127.0.0.1:$port"
export EC_KEY=$(sed -n 's/^ADMIN_API_KEY=//p' .dev.vars)
bash scripts/walkthrough.sh

# The MCP endpoint, driven by the official inspector's CLI (its HOME in a temp dir: it keeps
# state there).
inspector_home=$(mktemp -d)
tools=$(HOME="$inspector_home" npx -y @modelcontextprotocol/inspector@2.12.0 --cli --transport http \
	--server-url "$EC_URL/mcp" --header "Authorization: Bearer $EC_KEY" --method tools/list 2>&1) || true
grep -q '"append_events"' <<<"$tools" || { echo "the MCP inspector did not list the tools: $tools" >&2; exit 1; }
rm -rf "$inspector_home"
echo "smoke: ok (walk-through, and the MCP inspector listed the tools)"
