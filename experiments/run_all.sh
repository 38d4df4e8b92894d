#!/usr/bin/env bash
# Runs every experiment script in turn with the same options (see README.md), e.g.
#   experiments/run_all.sh --scale small
#   experiments/run_all.sh --scale full --data-dir /data
set -euo pipefail
dir=$(cd "$(dirname "$0")" && pwd)
rc=0
for script in claim0_full_batch.sh claim1_microbatch.sh claim2_non_iid.sh bn_eval_batch_stats.sh; do
    bash "$dir/$script" "$@" || rc=$?
done
exit "$rc"
