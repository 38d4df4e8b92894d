/* The one protobuf field codec (codec/pb_field.h) that brnd and brnctl share.
 *
 * 1. A table of texts per field type: accepted or refused, and the canonical text back.
 * 2. The same table of job flags through both paths a spec travels:
 *      brnd train:       flags -> brn_spec_parse_args -> spec
 *      brnctl -> brnd:   flags -> ctl_spec_args_parse -> ctl_spec_to_proto -> bytes ->
 *                        spec_from_proto (the daemon) -> spec
 *    and back to brnctl (spec_to_proto -> bytes -> ctl_spec_from_proto): the same verdict,
 *    the same spec, and a refusal that names the field.
 * 3. Raw protobuf values no flag can produce (NaN, infinities, the largest uint64). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "brn/v1/brn.pb-c.h"
#include "check.h"
#include "client/ctl_spec.h"
#include "codec/pb_field.h"
#include "service/spec_proto.h"

#include <jansson.h>

static const ProtobufCFieldDescriptor *spec_field(const char *name)
{
    return protobuf_c_message_descriptor_get_field_by_name(&brn__v1__job_spec__descriptor, name);
}

typedef struct {
    const char *field, *text;
    const char *canonical; /* NULL: refused */
} codec_row;

static const codec_row CODEC_ROWS[] = {
    /* int32 */
    {"depth", "16", "16"}, {"depth", "-2147483648", "-2147483648"}, {"depth", "2147483648", NULL},
    {"depth", " 16", NULL}, {"depth", "16 ", NULL}, {"depth", "+16", NULL}, {"depth", "0x10", NULL},
    {"depth", "1e3", NULL}, {"depth", "", NULL}, {"depth", "-", NULL},
    /* int64 */
    {"steps", "9223372036854775807", "9223372036854775807"}, {"steps", "9223372036854775808", NULL},
    {"steps", "-1", "-1"},
    /* uint64: "-1" must not become 18446744073709551615 */
    {"seed", "18446744073709551615", "18446744073709551615"}, {"seed", "18446744073709551616", NULL},
    {"seed", "-1", NULL}, {"seed", " -1", NULL}, {"seed", "0", "0"},
    /* double: finite only */
    {"lr", "0.1", "0.10000000000000001"}, {"lr", "1e-3", "0.001"}, {"lr", "nan", NULL}, {"lr", "NaN", NULL},
    {"lr", "inf", NULL}, {"lr", "-infinity", NULL}, {"lr", "1e999", NULL}, {"lr", "0.1x", NULL},
    {"lr", " 0.1", NULL}, {"lr", "", NULL},
    /* bool: one set of spellings */
    {"nesterov", "true", "true"}, {"nesterov", "TRUE", "true"}, {"nesterov", "1", "true"},
    {"nesterov", "yes", "true"}, {"nesterov", "on", "true"}, {"nesterov", "false", "false"},
    {"nesterov", "0", "false"}, {"nesterov", "No", "false"}, {"nesterov", "off", "false"},
    {"nesterov", "maybe", NULL}, {"nesterov", "", NULL}, {"nesterov", "2", NULL},
    /* strings and repeated */
    {"dataset", "cifar10", "cifar10"}, {"milestones", "3,5,8", "3,5,8"}, {"milestones", "", ""},
    {"milestones", "3,,5", NULL}, {"milestones", "3,", NULL}, {"milestones", "3,x", NULL},
    {"milestones", "1,99999999999", NULL},
};

static void test_codec_table(void)
{
    for (size_t i = 0; i < sizeof CODEC_ROWS / sizeof CODEC_ROWS[0]; i++) {
        const codec_row *r = &CODEC_ROWS[i];
        const ProtobufCFieldDescriptor *f = spec_field(r->field);
        Brn__V1__JobSpec m = BRN__V1__JOB_SPEC__INIT;
        char err[256] = "", out[256] = "";
        int rc = pb_field_set_text(&m.base, f, r->text, err, sizeof err);
        int ok = r->canonical ? rc == 0 : rc == -1;
        if (ok && r->canonical) {
            ok = pb_field_present(&m.base, f) == (f->label != PROTOBUF_C_LABEL_REPEATED || r->canonical[0]) &&
                 pb_field_get_text(&m.base, f, out, sizeof out) == 0 && !strcmp(out, r->canonical);
        }
        if (ok && !r->canonical) ok = strncmp(err, r->field, strlen(r->field)) == 0 && strchr(err, ':');
        if (!ok)
            fprintf(stderr, "  %s = '%s': rc %d, text '%s', err '%s' (want %s)\n", r->field, r->text, rc, out, err,
                    r->canonical ? r->canonical : "refused");
        CHECK(ok);
        if (f->type == PROTOBUF_C_TYPE_STRING && rc == 0) free(m.dataset);
        if (f->label == PROTOBUF_C_LABEL_REPEATED) free(m.milestones);
    }
}

static void test_enum_spellings(void)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(&brn__v1__list_jobs_request__descriptor, "states");
    Brn__V1__ListJobsRequest m = BRN__V1__LIST_JOBS_REQUEST__INIT;
    char err[256], out[256];
    CHECK_EQ_INT(pb_field_set_text(&m.base, f, "queued,JOB_STATE_RUNNING,Succeeded", err, sizeof err), 0);
    CHECK_EQ_INT(pb_field_get_text(&m.base, f, out, sizeof out), 0);
    CHECK(!strcmp(out, "JOB_STATE_QUEUED,JOB_STATE_RUNNING,JOB_STATE_SUCCEEDED"));
    CHECK_EQ_INT(pb_field_set_text(&m.base, f, "STATE_QUEUED", err, sizeof err), 0); /* a whole suffix */
    CHECK_EQ_INT(pb_field_set_text(&m.base, f, "ueued", err, sizeof err), -1);       /* not a word of it */
    CHECK_EQ_INT(pb_field_set_text(&m.base, f, "paused", err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "states: 'paused' is not one of the JobState values");
    free(m.states);
}

/* ---- both paths ---- */

static char *spec_json(const brn_job_spec *s)
{
    json_t *j = brn_spec_to_json(s);
    char *t = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(j);
    return t;
}

/* brnctl's side, then the wire, then the daemon's side. */
static int via_daemon(int argc, char **argv, brn_job_spec *out, char *err, size_t errlen)
{
    brn_job_spec s;
    ctl_spec_given g;
    int rest[16], n_rest;
    if (ctl_spec_args_parse(&s, &g, argc, argv, rest, &n_rest, err, errlen)) return -1;
    Brn__V1__JobSpec *p = ctl_spec_to_proto(&s, &g, err, errlen);
    if (!p) return -1;
    size_t n = brn__v1__job_spec__get_packed_size(p);
    uint8_t *buf = malloc(n + 1);
    brn__v1__job_spec__pack(p, buf);
    brn__v1__job_spec__free_unpacked(p, NULL);
    Brn__V1__JobSpec *q = brn__v1__job_spec__unpack(NULL, n, buf);
    free(buf);
    brn_spec_defaults(out);
    int rc = q ? spec_from_proto(out, q, err, errlen) : -1;
    if (q) brn__v1__job_spec__free_unpacked(q, NULL);
    return rc;
}

/* The daemon's spec as brnctl shows it: spec_to_proto, the wire, ctl_spec_from_proto. */
static int back_to_client(const brn_job_spec *s, brn_job_spec *out, char *err, size_t errlen)
{
    Brn__V1__JobSpec *p = spec_to_proto(s, err, errlen);
    if (!p) return -1;
    size_t n = brn__v1__job_spec__get_packed_size(p);
    uint8_t *buf = malloc(n + 1);
    brn__v1__job_spec__pack(p, buf);
    brn__v1__job_spec__free_unpacked(p, NULL);
    Brn__V1__JobSpec *q = brn__v1__job_spec__unpack(NULL, n, buf);
    free(buf);
    int rc = q ? ctl_spec_from_proto(out, q, err, errlen) : -1;
    if (q) brn__v1__job_spec__free_unpacked(q, NULL);
    return rc;
}

typedef struct {
    const char *flag, *value; /* given as --flag=value; value NULL: a bare boolean flag */
    int accepted;
} flag_row;

static const flag_row FLAG_ROWS[] = {
    {"--seed", "18446744073709551615", 1}, {"--seed", "-1", 0}, {"--seed", " -1", 0}, {"--seed", "18446744073709551616", 0},
    {"--seed", "0x10", 0}, {"--depth", "22", 1}, {"--depth", " 22", 0}, {"--depth", "22.0", 0},
    {"--depth", "99999999999", 0}, {"--steps", "1000000000000", 1}, {"--steps", "9223372036854775808", 0},
    {"--lr", "0.05", 1}, {"--lr", "nan", 0}, {"--lr", "inf", 0}, {"--lr", "-inf", 0}, {"--lr", "1e999", 0},
    {"--lr", "0x1p-4", 1}, {"--dropout", "1e-320", 1}, {"--weight-decay", "5e-4", 1},
    {"--nesterov", NULL, 1}, {"--no-nesterov", NULL, 1}, {"--nesterov", "yes", 1}, {"--nesterov", "OFF", 1},
    {"--nesterov", "maybe", 0}, {"--augment", "0", 1}, {"--norm", "brn", 1}, {"--norm", "BRN", 1},
    {"--norm", "batchrenorm", 0}, {"--sampling", "non-iid", 1}, {"--sampling", "NON_IID", 1},
    {"--lr-schedule", "step", 1}, {"--milestones", "3,5", 1}, {"--milestones", "5,x", 0},
    {"--milestones", "", 1}, {"--dataset", "synthetic", 1}, {"--device", "cpu", 1}, {"--renorm-warmup", "-1", 1},
    {"--threads", "2", 1}, {"--eval-every", "2147483648", 0},
};

static void test_both_paths_agree(void)
{
    for (size_t i = 0; i < sizeof FLAG_ROWS / sizeof FLAG_ROWS[0]; i++) {
        const flag_row *r = &FLAG_ROWS[i];
        char arg[128];
        snprintf(arg, sizeof arg, "%s%s%s", r->flag, r->value ? "=" : "", r->value ? r->value : "");
        char *argv[1] = {arg};
        int argc = 1;
        brn_job_spec a, b, c;
        char ea[256] = "", eb[256] = "", ec[256] = "";
        brn_spec_defaults(&a);
        int ra = brn_spec_parse_args(&a, argc, argv, ea, sizeof ea, 0, NULL, NULL);
        int rb = via_daemon(argc, argv, &b, eb, sizeof eb);
        int ok = (ra == 0) == (rb == 0) && (ra == 0) == r->accepted;
        char field[40];
        const char *name = r->flag + 2 + (strncmp(r->flag, "--no-", 5) ? 0 : 3);
        snprintf(field, sizeof field, "%s", name);
        if (ok && ra == 0) {
            char *ja = spec_json(&a), *jb = spec_json(&b);
            ok = !strcmp(ja, jb);
            if (!ok) fprintf(stderr, "  %s %s: specs differ:\n    %s\n    %s\n", r->flag, r->value, ja, jb);
            free(ja);
            free(jb);
            int rc = back_to_client(&b, &c, ec, sizeof ec);
            char *jc = rc ? NULL : spec_json(&c), *jb2 = spec_json(&b);
            if (rc || strcmp(jc, jb2)) {
                ok = 0;
                fprintf(stderr, "  %s %s: back to the client: rc %d %s\n", r->flag, r->value, rc, ec);
            }
            free(jc);
            free(jb2);
        } else if (ok) {
            /* both refusals name the field (as a flag or as the proto's field name) */
            char under[40];
            snprintf(under, sizeof under, "%s", field);
            for (char *p = under; *p; p++) *p = *p == '-' ? '_' : *p;
            ok = (strstr(ea, field) || strstr(ea, under)) && (strstr(eb, field) || strstr(eb, under));
        }
        if (!ok)
            fprintf(stderr, "  %s %s: train %d '%s' | via the daemon %d '%s' (want %s)\n", r->flag,
                    r->value ? r->value : "", ra, ea, rb, eb, r->accepted ? "accepted" : "refused");
        CHECK(ok);
    }
}

static void test_raw_proto_values(void)
{
    Brn__V1__JobSpec m = BRN__V1__JOB_SPEC__INIT;
    brn_job_spec s;
    char err[256];
    const double bad[] = {NAN, INFINITY, -INFINITY};
    for (int i = 0; i < 3; i++) {
        m.lr_opt_case = BRN__V1__JOB_SPEC__LR_OPT_LR;
        m.lr = bad[i];
        brn_spec_defaults(&s);
        CHECK_EQ_INT(spec_from_proto(&s, &m, err, sizeof err), -1);
        CHECK_STR_CONTAINS(err, "lr: ");
        CHECK_STR_CONTAINS(err, "not a finite number");
    }
    m.lr_opt_case = 0;
    m.seed_opt_case = BRN__V1__JOB_SPEC__SEED_OPT_SEED;
    m.seed = UINT64_MAX;
    brn_spec_defaults(&s);
    CHECK_EQ_INT(spec_from_proto(&s, &m, err, sizeof err), 0);
    CHECK(s.seed == UINT64_MAX);
    m.seed_opt_case = 0;
    m.steps_opt_case = BRN__V1__JOB_SPEC__STEPS_OPT_STEPS;
    m.steps = INT64_MIN;
    brn_spec_defaults(&s);
    CHECK_EQ_INT(spec_from_proto(&s, &m, err, sizeof err), 0); /* representable: validation refuses it */
    CHECK_EQ_INT(brn_spec_validate(&s, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "steps");
}

int main(void)
{
    TEST(test_codec_table);
    TEST(test_enum_spellings);
    TEST(test_both_paths_agree);
    TEST(test_raw_proto_values);
    return CHECK_DONE();
}
