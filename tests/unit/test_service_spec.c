/* The JobSpec proto and the engine's spec table agree: every proto field is a spec field
 * brn_spec_set accepts, every spec field but the server-side paths is in the proto, and the
 * descriptor-driven conversion round-trips through the wire format. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "service/spec_proto.h"

typedef struct {
    const char *names[128];
    char *values[128];
    int n;
} field_list;

static int collect(const char *name, const char *value, void *user)
{
    field_list *l = user;
    l->names[l->n] = name;
    l->values[l->n++] = strdup(value);
    return 0;
}

static void field_list_free(field_list *l)
{
    for (int i = 0; i < l->n; i++) free(l->values[i]);
}

static const char *lookup(const field_list *l, const char *name)
{
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->names[i], name) == 0) return l->values[i];
    return NULL;
}

static void test_every_proto_field_is_a_spec_field(void)
{
    brn_job_spec s;
    brn_spec_defaults(&s);
    field_list l = {0};
    brn_spec_for_each(&s, collect, &l);
    const ProtobufCMessageDescriptor *d = &brn__v1__job_spec__descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const char *name = d->fields[i].name;
        const char *v = lookup(&l, name);
        if (!v) fprintf(stderr, "proto field %s is not a spec field\n", name);
        CHECK(v != NULL);
        CHECK(!spec_field_is_server_side(name));
        char err[256] = "";
        brn_job_spec t;
        brn_spec_defaults(&t);
        int rc = v ? brn_spec_set(&t, name, v, err, sizeof err) : -1;
        if (rc) fprintf(stderr, "brn_spec_set(%s, %s): %s\n", name, v ? v : "-", err);
        CHECK_EQ_INT(rc, 0);
        /* scalars carry presence: each sits alone in its own oneof */
        if (d->fields[i].label != PROTOBUF_C_LABEL_REPEATED) CHECK(d->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF);
    }
    field_list_free(&l);
}

static void test_every_spec_field_is_in_the_proto(void)
{
    brn_job_spec s;
    brn_spec_defaults(&s);
    field_list l = {0};
    brn_spec_for_each(&s, collect, &l);
    int server_side = 0;
    for (int i = 0; i < l.n; i++) {
        const ProtobufCFieldDescriptor *fd =
            protobuf_c_message_descriptor_get_field_by_name(&brn__v1__job_spec__descriptor, l.names[i]);
        if (spec_field_is_server_side(l.names[i])) {
            server_side++;
            CHECK(fd == NULL);
            continue;
        }
        if (!fd) fprintf(stderr, "spec field %s is missing from JobSpec\n", l.names[i]);
        CHECK(fd != NULL);
    }
    CHECK_EQ_INT(server_side, 3);
    CHECK_EQ_INT((long)brn__v1__job_spec__descriptor.n_fields, l.n - 3);
    field_list_free(&l);
}

static char *spec_text(const brn_job_spec *s)
{
    json_t *j = brn_spec_to_json(s);
    char *t = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(j);
    return t;
}

static void test_round_trip_through_the_wire(void)
{
    brn_job_spec s;
    char err[256];
    brn_spec_defaults(&s);
    /* one non-default value of every kind: int, long, double, bool, enum, list, u64, string */
    CHECK_EQ_INT(brn_spec_set(&s, "depth", "22", err, sizeof err), 0);
    CHECK_EQ_INT(brn_spec_set(&s, "steps", "12345", err, sizeof err), 0);
    CHECK_EQ_INT(brn_spec_set(&s, "lr", "0.0123456789", err, sizeof err), 0);
    CHECK_EQ_INT(brn_spec_set(&s, "nesterov", "true", err, sizeof err), 0);
    CHECK_EQ_INT(brn_spec_set(&s, "augment", "false", err, sizeof err), 0);
    CHECK_EQ_INT(brn_spec_set(&s, "norm", "brn", err, sizeof err), 0);
    CHECK_EQ_INT(brn_spec_set(&s, "lr_schedule", "step", err, sizeof err), 0);
    CHECK_EQ_INT(brn_spec_set(&s, "milestones", "3,7,11", err, sizeof err), 0);
    CHECK_EQ_INT(brn_spec_set(&s, "seed", "18446744073709551615", err, sizeof err), 0);
    CHECK_EQ_INT(brn_spec_set(&s, "dataset", "synthetic", err, sizeof err), 0);
    CHECK_EQ_INT(brn_spec_set(&s, "renorm_warmup", "-1", err, sizeof err), 0);
    Brn__V1__JobSpec *m = spec_to_proto(&s, err, sizeof err);
    CHECK(m != NULL);
    if (!m) return;
    CHECK_EQ_INT(m->depth_opt_case, BRN__V1__JOB_SPEC__DEPTH_OPT_DEPTH);
    CHECK_EQ_INT(m->depth, 22);
    CHECK_EQ_INT((long)m->n_milestones, 3);
    CHECK(m->seed == UINT64_MAX);
    CHECK(strcmp(m->norm, "brn") == 0);

    size_t len = protobuf_c_message_get_packed_size(&m->base);
    uint8_t *buf = malloc(len);
    protobuf_c_message_pack(&m->base, buf);
    Brn__V1__JobSpec *back = brn__v1__job_spec__unpack(NULL, len, buf);
    CHECK(back != NULL);
    brn_job_spec t;
    brn_spec_defaults(&t);
    CHECK_EQ_INT(spec_from_proto(&t, back, err, sizeof err), 0);
    char *a = spec_text(&s), *b = spec_text(&t);
    CHECK(strcmp(a, b) == 0);
    if (strcmp(a, b)) fprintf(stderr, "%s\n%s\n", a, b);
    free(a);
    free(b);
    free(buf);
    brn__v1__job_spec__free_unpacked(back, NULL);
    protobuf_c_message_free_unpacked(&m->base, NULL);
}

static void test_absent_fields_keep_defaults(void)
{
    Brn__V1__JobSpec m = BRN__V1__JOB_SPEC__INIT;
    m.width_opt_case = BRN__V1__JOB_SPEC__WIDTH_OPT_WIDTH;
    m.width = 2;
    /* a zero that is present must be applied, not mistaken for "absent" */
    m.weight_decay_opt_case = BRN__V1__JOB_SPEC__WEIGHT_DECAY_OPT_WEIGHT_DECAY;
    m.weight_decay = 0.0;
    brn_job_spec s, d;
    char err[256];
    brn_spec_defaults(&s);
    brn_spec_defaults(&d);
    CHECK_EQ_INT(spec_from_proto(&s, &m, err, sizeof err), 0);
    CHECK_EQ_INT(s.width, 2);
    CHECK(s.weight_decay == 0.0);
    CHECK_EQ_INT(s.depth, d.depth);
    CHECK(s.lr == d.lr);
    CHECK(strcmp(s.dataset, d.dataset) == 0);
    CHECK_EQ_INT(spec_from_proto(&s, NULL, err, sizeof err), 0);
}

static void test_bad_values_name_the_field(void)
{
    Brn__V1__JobSpec m = BRN__V1__JOB_SPEC__INIT;
    m.eval_stats_opt_case = BRN__V1__JOB_SPEC__EVAL_STATS_OPT_EVAL_STATS;
    m.eval_stats = "sometimes";
    brn_job_spec s;
    char err[256];
    brn_spec_defaults(&s);
    CHECK_EQ_INT(spec_from_proto(&s, &m, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "eval_stats: 'sometimes' is not one of");

    char msg[64] = "batch-size: 0 is not in 1..65536";
    spec_message_to_field_names(msg);
    CHECK(strcmp(msg, "batch_size: 0 is not in 1..65536") == 0);
    char other[64] = "out of memory: a-b";
    spec_message_to_field_names(other);
    CHECK(strcmp(other, "out of memory: a-b") == 0);
}

int main(void)
{
    TEST(test_every_proto_field_is_a_spec_field);
    TEST(test_every_spec_field_is_in_the_proto);
    TEST(test_round_trip_through_the_wire);
    TEST(test_absent_fields_keep_defaults);
    TEST(test_bad_values_name_the_field);
    return CHECK_DONE();
}
