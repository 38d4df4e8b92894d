#!/usr/bin/env bash
# Fills gpu-carry/ (ignored by git) with what scripts/gpu-check.sh needs on a GPU machine
# besides the tree; that machine has the CUDA toolkit and PyTorch but not our Debian
# packages, and may reach no package registry:
#   gpu-carry/debs/  Debian 12's OpenBLAS, jansson and zlib development files and the
#                    libraries they need (gpu-check unpacks them into its build directory,
#                    never into /); about 14 MB
#   gpu-carry/ref/   the CPU engine's reference runs for tests/gpu/test_gpu_train.c, made
#                    here (test_gpu_train --write-ref), a few KB
# Usage: scripts/gpu-carry.sh [BUILD]   (`make gpu-carry` builds the test first)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
DEST=gpu-carry
PKGS="libopenblas0-pthread libopenblas-pthread-dev libjansson4 libjansson-dev zlib1g-dev libgfortran5 libquadmath0"
[ "$(uname -m)" = x86_64 ] || { echo "gpu-carry: the GPU machine is x86-64; this machine is $(uname -m)" >&2; exit 1; }
mkdir -p "$DEST/debs" "$DEST/ref"
for p in $PKGS; do
    if ls "$DEST/debs/${p}"_*.deb >/dev/null 2>&1; then continue; fi
    v=$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null | sed 's/:/%3a/') || v=
    cached=$(ls /var/cache/apt/archives/"${p}_${v}"_amd64.deb 2>/dev/null | head -n 1 || true)
    if [ -n "$v" ] && [ -n "$cached" ]; then
        cp "$cached" "$DEST/debs/"
    else
        (cd "$DEST/debs" && apt-get download "$p")
    fi
done
echo "gpu-carry: Debian packages in $DEST/debs: $(ls "$DEST/debs" | tr '\n' ' ')"
OMP_WAIT_POLICY=passive "$BUILD/tests/test_gpu_train" --write-ref "$DEST/ref"
echo "gpu-carry: $(du -sh "$DEST" | cut -f1) in $DEST/; carry it with the tree (device run: carry [\"$DEST\"])"
