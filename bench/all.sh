#!/usr/bin/env bash
# `npm run bench`: ours, Cloudflare's agents/sessions (the peer) and a bare floor side by side,
# with the rows each operation is billed for (bench/peer.ts), then the context engine's bench
# (about 25 minutes). `npm run bench -- --quick` runs the first one's short profile only (about
# 70 s); `npm run bench:context -- --quick` is the context engine's short profile.
set -euo pipefail
cd "$(dirname "$0")/.."
tsx bench/peer.ts "$@"
if [[ " $* " != *" --quick "* ]]; then tsx bench/context.ts "$@"; fi
