#!/usr/bin/env bash
# Claim 2 (Ioffe 2017, non-i.i.d. minibatches): when every minibatch holds only a few labels
# (L labels x B/L examples), BN degrades and BRN recovers most of it. Evaluated on the usual
# test set. Two skews (4 and 2 labels per batch) and GN, which has no batch statistics, to
# tell what the statistics cost from what the skewed batches cost the optimization.
source "$(dirname "$0")/lib.sh"
NAME=claim2_non_iid
DESCRIPTION="Claim 2: with non-i.i.d. minibatches (few labels per batch), BN degrades and BRN recovers most of it."
GRID=(--grid norm=bn,brn,gn --grid sampling=iid,non_iid --grid labels_per_batch=4,2)
BASELINE=norm=bn,sampling=iid
settings() {   # the job flags and seeds per scale: change them here
    case $SCALE in
    smoke) JOB=("${SMOKE_JOB[@]}"); SEEDS=$SMOKE_SEEDS ;;
    small) JOB=("${SMALL_JOB[@]}"); SEEDS=$SMALL_SEEDS ;;
    full) JOB=("${FULL_JOB[@]}"); SEEDS=$FULL_SEEDS ;;
    esac
}
exp_main "$@"
