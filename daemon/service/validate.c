/* Request validation: every field is checked with a message naming it and the rule. */
#include "validate.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "spec_proto.h"

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

/* Valid UTF-8 (protobuf-c does not check, and a client library that does would fail to
 * parse every later ListJobs) without control characters (names go to tables and logs).
 * Returns NULL, or what is wrong. */
static const char *text_problem(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        int more = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : -1;
        if (more < 0 || (c >= 0xc0 && c < 0xc2) || c > 0xf4) return "is not valid UTF-8";
        if (more == 0 && (c < 0x20 || c == 0x7f)) return "contains control characters";
        unsigned cp = more ? c & (0x3f >> more) : c;
        for (int i = 1; i <= more; i++) {
            if ((p[i] & 0xc0) != 0x80) return "is not valid UTF-8";
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        /* overlong forms, surrogates, beyond U+10FFFF */
        if ((more == 2 && cp < 0x800) || (more == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return "is not valid UTF-8";
        p += more + 1;
    }
    return NULL;
}

int validate_submit(const Brn__V1__SubmitJobRequest *req, brn_job_spec *spec, char *err, size_t errlen)
{
    brn_spec_defaults(spec);
    if (spec_from_proto(spec, req->spec, err, errlen)) return -1;
    if (brn_spec_validate(spec, err, errlen)) {
        spec_message_to_field_names(err);
        return -1;
    }
    const char *name = req->name ? req->name : "";
    const char *why;
    if (strlen(name) > SVC_NAME_MAX) FAIL("name: longer than %d bytes", SVC_NAME_MAX);
    if ((why = text_problem(name))) FAIL("name: %s", why);
    if (req->priority < SVC_PRIORITY_MIN || req->priority > SVC_PRIORITY_MAX)
        FAIL("priority: %d is not in %d..%d", req->priority, SVC_PRIORITY_MIN, SVC_PRIORITY_MAX);
    const char *key = req->idempotency_key ? req->idempotency_key : "";
    if (strlen(key) > SVC_KEY_MAX) FAIL("idempotency_key: longer than %d bytes", SVC_KEY_MAX);
    if ((why = text_problem(key))) FAIL("idempotency_key: %s", why);
    return validate_labels("labels", req->labels, req->n_labels, err, errlen);
}

static int label_key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n < 1 || n > SVC_LABEL_KEY_MAX) return 0;
    for (; *k; k++)
        if (!((*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') || *k == '_' || *k == '.' || *k == '-')) return 0;
    return 1;
}

int validate_labels(const char *field, Brn__V1__Label *const *labels, size_t n, char *err, size_t errlen)
{
    const char *why;
    if (n > SVC_LABELS_MAX) FAIL("%s: %zu labels, at most %d", field, n, SVC_LABELS_MAX);
    for (size_t i = 0; i < n; i++) {
        const char *k = labels[i]->key ? labels[i]->key : "", *v = labels[i]->value ? labels[i]->value : "";
        if (!label_key_ok(k)) {
            if ((why = text_problem(k))) FAIL("%s[%zu].key: %s", field, i, why);
            FAIL("%s[%zu].key: '%.80s' is not 1..%d characters of a-z 0-9 _ . -", field, i, k, SVC_LABEL_KEY_MAX);
        }
        if (strlen(v) > SVC_LABEL_VALUE_MAX) FAIL("%s[%zu].value: longer than %d bytes", field, i, SVC_LABEL_VALUE_MAX);
        if ((why = text_problem(v))) FAIL("%s[%zu].value: %s", field, i, why);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(labels[j]->key, k)) FAIL("%s[%zu].key: '%s' is given twice", field, i, k);
    }
    return 0;
}

void validate_store_labels(Brn__V1__Label *const *labels, size_t n, brn_job_label *out)
{
    for (size_t i = 0; i < n && i < SVC_LABELS_MAX; i++)
        out[i] = (brn_job_label){.key = labels[i]->key, .value = labels[i]->value ? labels[i]->value : ""};
}

void validate_page_token(int64_t cursor, char *buf, size_t n)
{
    if (cursor <= 0) buf[0] = 0;
    else snprintf(buf, n, "%" PRId64, cursor);
}

int validate_list(const Brn__V1__ListJobsRequest *req, brn_job_filter *f, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    if (validate_labels("labels", req->labels, req->n_labels, err, errlen)) return -1;
    f->newest_first = 1;
    for (size_t i = 0; i < req->n_states; i++) {
        int st = convert_job_state_from_proto((int)req->states[i]);
        if (st < 0) FAIL("states: %d is not a job state (QUEUED..CANCELLED)", (int)req->states[i]);
        f->state_mask |= BRN_JOB_STATE_BIT(st);
    }
    if (req->page_size < 0 || req->page_size > STORE_LIST_MAX_LIMIT)
        FAIL("page_size: %d is not in 0..%d", req->page_size, STORE_LIST_MAX_LIMIT);
    f->limit = req->page_size;
    const char *tok = req->page_token ? req->page_token : "";
    if (tok[0]) {
        char *end;
        errno = 0;
        long long c = strtoll(tok, &end, 10);
        if (errno || *end || c <= 0 || tok[0] == '+' || tok[0] == ' ')
            FAIL("page_token: not a token from a previous ListJobs response");
        f->cursor = c;
    }
    return 0;
}

int validate_job_id(const char *field, int64_t id, char *err, size_t errlen)
{
    if (id <= 0) FAIL("%s: %" PRId64 " is not a job id (ids are positive)", field, id);
    return 0;
}

int validate_metrics(const Brn__V1__GetMetricsRequest *req, char *err, size_t errlen)
{
    if (validate_labels("labels", req->labels, req->n_labels, err, errlen)) return -1;
    if (req->n_job_ids == 0 && req->n_labels == 0) FAIL("job_ids: at least one job id (or a label) is needed");
    if (req->n_job_ids > SVC_METRICS_MAX_JOBS) FAIL("job_ids: at most %d jobs per request", SVC_METRICS_MAX_JOBS);
    for (size_t i = 0; i < req->n_job_ids; i++)
        if (validate_job_id("job_ids", req->job_ids[i], err, errlen)) return -1;
    return 0;
}
