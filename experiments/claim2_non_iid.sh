#!/usr/bin/env bash
# Claim 2 (Ioffe 2017, non-i.i.d. minibatches): when every minibatch holds only a few labels
# (L labels x B/L examples), BN degrades and BRN recovers most of it. Evaluated on the usual
# test set.
source "$(dirname "$0")/lib.sh"
NAME=claim2_non_iid
DESCRIPTION="Claim 2: with non-i.i.d. minibatches (few labels per batch), BN degrades and BRN recovers most of it."
GRID=(--grid norm=bn,brn --grid sampling=iid,non_iid)
BASELINE=norm=bn,sampling=iid
settings() {   # the job flags and seeds per scale: change them here
    case $SCALE in
    smoke) JOB=("${SMOKE_JOB[@]}" --labels-per-batch 4); SEEDS=$SMOKE_SEEDS ;;
    small) JOB=("${SMALL_JOB[@]}" --labels-per-batch 4); SEEDS=$SMALL_SEEDS ;;
    full) JOB=("${FULL_JOB[@]}" --labels-per-batch 4); SEEDS=$FULL_SEEDS ;;
    esac
}
exp_main "$@"
