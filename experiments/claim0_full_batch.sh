#!/usr/bin/env bash
# Claim 0 (Ioffe 2017): with whole, i.i.d. minibatches Batch Renorm matches Batch Norm
# (within the seed spread): BN and BRN at the same settings.
source "$(dirname "$0")/lib.sh"
NAME=claim0_full_batch
DESCRIPTION="Claim 0: at full batch, BRN matches BN within the seed spread."
GRID=(--grid norm=bn,brn)
BASELINE=norm=bn
settings() {   # the job flags and seeds per scale: change them here
    case $SCALE in
    smoke) JOB=("${SMOKE_JOB[@]}"); SEEDS=$SMOKE_SEEDS ;;
    small) JOB=("${SMALL_JOB[@]}"); SEEDS=$SMALL_SEEDS ;;
    full) JOB=("${FULL_JOB[@]}"); SEEDS=$FULL_SEEDS ;;
    esac
}
exp_main "$@"
