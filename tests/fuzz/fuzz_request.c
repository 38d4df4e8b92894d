/* Fuzz target: request decoding and validation as the daemon does it (the bytes a client
 * sends, unpacked by protobuf-c, then the service's validation and the spec codec). The first
 * byte picks the message. An accepted SubmitJob spec must survive the way back to a client
 * (spec_to_proto -> bytes -> spec_from_proto) unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "brn/v1/brn.pb-c.h"
#include "service/spec_proto.h"
#include "service/validate.h"

static void must(int cond)
{
    if (!cond) abort();
}

static char *spec_text(const brn_job_spec *s)
{
    json_t *j = brn_spec_to_json(s);
    char *t = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(j);
    return t;
}

static void submit(const uint8_t *data, size_t size)
{
    Brn__V1__SubmitJobRequest *req = brn__v1__submit_job_request__unpack(NULL, size, data);
    if (!req) return;
    brn_job_spec spec, back;
    char err[1024] = "";
    if (validate_submit(req, &spec, err, sizeof err) == 0) {
        Brn__V1__JobSpec *p = spec_to_proto(&spec, err, sizeof err);
        must(p != NULL);
        size_t n = brn__v1__job_spec__get_packed_size(p);
        uint8_t *buf = malloc(n + 1);
        brn__v1__job_spec__pack(p, buf);
        Brn__V1__JobSpec *q = brn__v1__job_spec__unpack(NULL, n, buf);
        must(q != NULL);
        brn_spec_defaults(&back);
        strcpy(back.data_dir, spec.data_dir); /* server-side fields do not travel */
        strcpy(back.init, spec.init);
        strcpy(back.checkpoint_dir, spec.checkpoint_dir);
        must(spec_from_proto(&back, q, err, sizeof err) == 0);
        char *a = spec_text(&spec), *b = spec_text(&back);
        must(a && b && strcmp(a, b) == 0);
        free(a);
        free(b);
        brn__v1__job_spec__free_unpacked(q, NULL);
        free(buf);
        protobuf_c_message_free_unpacked(&p->base, NULL);
    } else {
        must(err[0] != 0);
    }
    brn__v1__submit_job_request__free_unpacked(req, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const uint8_t *m = data + 1;
    size_t n = size - 1;
    char err[1024] = "";
    switch (data[0] % 4) {
    case 0:
        submit(m, n);
        break;
    case 1: {
        Brn__V1__ListJobsRequest *r = brn__v1__list_jobs_request__unpack(NULL, n, m);
        if (!r) break;
        brn_job_filter f;
        if (validate_list(r, &f, err, sizeof err)) must(err[0] != 0);
        brn__v1__list_jobs_request__free_unpacked(r, NULL);
        break;
    }
    case 2: {
        Brn__V1__GetMetricsRequest *r = brn__v1__get_metrics_request__unpack(NULL, n, m);
        if (!r) break;
        if (validate_metrics(r, err, sizeof err)) must(err[0] != 0);
        brn__v1__get_metrics_request__free_unpacked(r, NULL);
        break;
    }
    case 3: { /* a bare JobSpec as the daemon applies it */
        Brn__V1__JobSpec *r = brn__v1__job_spec__unpack(NULL, n, m);
        if (!r) break;
        brn_job_spec s;
        brn_spec_defaults(&s);
        if (spec_from_proto(&s, r, err, sizeof err) == 0) brn_spec_validate(&s, err, sizeof err);
        else must(err[0] != 0);
        brn__v1__job_spec__free_unpacked(r, NULL);
        break;
    }
    }
    return 0;
}
