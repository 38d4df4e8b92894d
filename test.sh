#!/usr/bin/env bash
# The test command: installs missing Debian packages (packages.txt, packages-test.txt),
# builds everything (CUDA sources too, compile-only, when nvcc is found) and runs every
# test; the last line reads "N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$PATH:/usr/local/cuda/bin"
scripts/install-deps.sh packages.txt packages-test.txt
make test
