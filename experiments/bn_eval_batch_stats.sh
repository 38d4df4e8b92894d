#!/usr/bin/env bash
# The seed's evaluation mode for BN at small microbatches: normalizing test batches with
# their own statistics (--eval-stats batch) instead of the running averages.
source "$(dirname "$0")/lib.sh"
NAME=bn_eval_batch_stats
DESCRIPTION="BN at microbatches of 2 and 4, evaluated with the running statistics (moving) or each test batch's own (batch)."
GRID=(--grid microbatch=0,2,4 --grid eval_stats=moving,batch)
BASELINE=microbatch=0,eval_stats=moving
settings() {   # the job flags and seeds per scale: change them here
    case $SCALE in
    smoke) JOB=("${SMOKE_JOB[@]}" --norm bn); SEEDS=$SMOKE_SEEDS ;;
    small) JOB=("${SMALL_JOB[@]}" --norm bn); SEEDS=$SMALL_SEEDS ;;
    full) JOB=("${FULL_JOB[@]}" --norm bn); SEEDS=$FULL_SEEDS ;;
    esac
}
exp_main "$@"
