/* Texts that brnd puts at the start of a status's details and that clients look for (the
 * protocol's comments in proto/brn/v1/brn.proto say the same). One definition for both. */
#ifndef BRN_COMMON_STATUS_H
#define BRN_COMMON_STATUS_H

/* UNAVAILABLE because brnd's database cannot be used now (a full disk, a lock held by
 * another process): brnd is up, nothing was changed, the call may be repeated later. */
#define BRN_STATUS_STORE_BUSY "store busy"

#endif
