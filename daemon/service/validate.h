/* Request validation: pure functions (no store, no loop) so tests can call them.
 * Each returns 0, or -1 with "field: rule" in err (field names as in the proto). */
#ifndef BRN_SVC_VALIDATE_H
#define BRN_SVC_VALIDATE_H

#include <stddef.h>

#include "brn/v1/brn.pb-c.h"
#include "spec.h"
#include "store/store.h"

#define SVC_NAME_MAX 64
#define SVC_KEY_MAX 128
#define SVC_PRIORITY_MIN (-1000)
#define SVC_PRIORITY_MAX 1000
#define SVC_METRICS_MAX_JOBS 100
#define SVC_LABELS_MAX 32          /* labels per job (and per filter) */
#define SVC_LABEL_KEY_MAX 63       /* key: 1..63 of [a-z0-9_.-] */
#define SVC_LABEL_VALUE_MAX 256    /* bytes of UTF-8 */

/* Defaults, then the request's spec fields, then brn_spec_validate; name, priority, key, labels. */
int validate_submit(const Brn__V1__SubmitJobRequest *req, brn_job_spec *spec, char *err, size_t errlen);

/* At most SVC_LABELS_MAX labels with distinct keys of the label syntax and values of valid
 * UTF-8 without control characters; field is the request's field name ("labels"). */
int validate_labels(const char *field, Brn__V1__Label *const *labels, size_t n, char *err, size_t errlen);

/* Proto labels -> store labels (pointers into the request; out has room for
 * SVC_LABELS_MAX and n was checked by validate_labels). */
void validate_store_labels(Brn__V1__Label *const *labels, size_t n, brn_job_label *out);

/* states, page_size, page_token -> a store filter (newest first); labels are checked
 * (validate_labels) but left for the caller to convert (validate_store_labels). */
int validate_list(const Brn__V1__ListJobsRequest *req, brn_job_filter *f, char *err, size_t errlen);

int validate_job_id(const char *field, int64_t id, char *err, size_t errlen);

int validate_metrics(const Brn__V1__GetMetricsRequest *req, char *err, size_t errlen);

/* The page token for a store cursor ("" for none) and back. */
void validate_page_token(int64_t cursor, char *buf, size_t n);

#endif
