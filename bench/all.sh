#!/usr/bin/env bash
# `npm run bench`: the HTTP benchmark against the floor, then the context engine's (about 13
# minutes). `npm run bench -- --quick` runs the HTTP benchmark's short profile only (under a
# minute); `npm run bench:context -- --quick` is the context engine's short profile.
set -euo pipefail
cd "$(dirname "$0")/.."
tsx bench/run.ts "$@"
if [[ " $* " != *" --quick "* ]]; then tsx bench/context.ts "$@"; fi
