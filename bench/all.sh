#!/usr/bin/env bash
# `npm run bench [-- --quick]`: the HTTP benchmark against the floor, then the context engine's.
set -euo pipefail
cd "$(dirname "$0")/.."
tsx bench/run.ts "$@"
tsx bench/context.ts "$@"
