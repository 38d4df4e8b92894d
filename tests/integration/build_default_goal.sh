#!/usr/bin/env bash
# `make` without a target builds brnd and brnctl (the goal `all`), not whichever rule the
# Makefile happens to list first.
set -euo pipefail
cd "$(dirname "$0")/../.."
goal=$(make -pq -f Makefile 2>/dev/null | sed -n 's/^\.DEFAULT_GOAL := //p' | tail -n 1 || true)
[ "$goal" = all ] || { echo "FAIL: make's default goal is '$goal', not 'all'"; exit 1; }
echo "ok: make's default goal is all"
