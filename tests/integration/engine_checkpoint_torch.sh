#!/usr/bin/env bash
# A checkpoint written by `brnd train` loads into the PyTorch WRN (tests/torch_ref) without
# renaming and gives the same test accuracy there. Needs Debian's python3-torch: without
# it the test reports itself skipped (exit 77).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
/usr/bin/python3 -c 'import torch' 2>/dev/null || { echo "skipped: python3-torch is not installed"; exit 77; }
data=/usr/share/datasets/fashion-mnist
[ -r $data/t10k-images-idx3-ubyte.gz ] || { echo "skipped: dataset-fashion-mnist is not installed"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for norm in bn brn; do
    "$BUILD/brnd" train --depth 10 --width 1 --norm $norm --norm-momentum 0.1 --train-subset 2000 \
        --test-subset 1000 --epochs 1 --batch-size 50 --lr 0.05 --no-augment --threads 2 \
        --checkpoint-dir "$tmp/$norm" --json > "$tmp/$norm.json"
    ours=$(/usr/bin/python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readlines()[-1])["test_acc"])' "$tmp/$norm.json")
    theirs=$(/usr/bin/python3 tests/torch_ref/check_checkpoint.py "$tmp/$norm/last.safetensors" \
        --idx $data/t10k-images-idx3-ubyte.gz $data/t10k-labels-idx1-ubyte.gz --limit 1000 --json |
        /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["accuracy"])')
    echo "$norm: brn test accuracy $ours, PyTorch with the same checkpoint $theirs"
    /usr/bin/python3 -c 'import sys; a, b = map(float, sys.argv[1:]); sys.exit(0 if abs(a - b) <= 0.002 and a > 0.3 else 1)' "$ours" "$theirs"
done
