#!/usr/bin/env bash
# Claim 1 (Ioffe 2017, small minibatches): normalizing over microbatches of 2 or 4 examples
# hurts BN; BRN recovers a large part of the gap to full-batch BN; GN (no batch statistics)
# for comparison. GN runs once per seed: microbatch has no effect on it.
source "$(dirname "$0")/lib.sh"
NAME=claim1_microbatch
DESCRIPTION="Claim 1: at microbatches of 2 and 4, BN degrades and BRN recovers much of the gap to full-batch BN; GN for comparison."
GRID=(--grid norm=bn,brn,gn --grid microbatch=0,2,4)
BASELINE=norm=bn,microbatch=0
settings() {   # the job flags and seeds per scale: change them here
    case $SCALE in
    smoke) JOB=("${SMOKE_JOB[@]}"); SEEDS=$SMOKE_SEEDS ;;
    small) JOB=("${SMALL_JOB[@]}"); SEEDS=$SMALL_SEEDS ;;
    full) JOB=("${FULL_JOB[@]}"); SEEDS=$FULL_SEEDS ;;
    esac
}
exp_main "$@"
