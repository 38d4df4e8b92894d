/* brnctl submit's flags -> proto JobSpec: the engine's parser, only the given fields sent,
 * server-side paths refused, brnctl's own options left over; and back again. */
#include <stdlib.h>

#include "check.h"
#include "codec/pb_field.h"
#include "client/ctl_spec.h"


static void test_only_given_fields(void)
{
    char *argv[] = {"--depth", "10", "--name", "x", "--norm=brn", "--no-augment", "--wait", "--lr", "0.05",
                    "--milestones", "2,4", "--seed", "18446744073709551615", "--renorm-warmup", "-1"};
    int argc = sizeof argv / sizeof argv[0], rest[32], n_rest;
    brn_job_spec s;
    ctl_spec_given g;
    char err[256] = "";
    CHECK_EQ_INT(ctl_spec_args_parse(&s, &g, argc, argv, rest, &n_rest, err, sizeof err), 0);
    CHECK_EQ_INT(n_rest, 3); /* --name x --wait */
    CHECK_EQ_INT(rest[0], 2);
    CHECK_EQ_INT(rest[1], 3);
    CHECK_EQ_INT(rest[2], 6);
    CHECK_EQ_INT(g.n, 7);
    CHECK(ctl_spec_given_has(&g, "augment"));
    CHECK(ctl_spec_given_has(&g, "renorm_warmup"));
    CHECK(!ctl_spec_given_has(&g, "width"));
    Brn__V1__JobSpec *p = ctl_spec_to_proto(&s, &g, err, sizeof err);
    CHECK(p != NULL);
    if (!p) return;
    CHECK_EQ_INT(p->depth_opt_case, BRN__V1__JOB_SPEC__DEPTH_OPT_DEPTH);
    CHECK_EQ_INT(p->depth, 10);
    CHECK_EQ_INT(p->width_opt_case, BRN__V1__JOB_SPEC__WIDTH_OPT__NOT_SET);
    CHECK_EQ_INT(p->dataset_opt_case, BRN__V1__JOB_SPEC__DATASET_OPT__NOT_SET);
    CHECK(p->norm_opt_case && !strcmp(p->norm, "brn"));
    CHECK(p->augment_opt_case && p->augment == 0);
    CHECK(p->lr_opt_case && p->lr == 0.05);
    CHECK_EQ_INT(p->n_milestones, 2);
    CHECK_EQ_INT(p->milestones[1], 4);
    CHECK(p->seed_opt_case && p->seed == 18446744073709551615ull);
    CHECK(p->renorm_warmup_opt_case && p->renorm_warmup == -1);
    /* packs and unpacks as the server will see it */
    size_t n = brn__v1__job_spec__get_packed_size(p);
    uint8_t *buf = malloc(n);
    brn__v1__job_spec__pack(p, buf);
    Brn__V1__JobSpec *q = brn__v1__job_spec__unpack(NULL, n, buf);
    CHECK(q != NULL);
    if (q) {
        brn_job_spec back;
        CHECK_EQ_INT(ctl_spec_from_proto(&back, q, err, sizeof err), 0);
        CHECK_EQ_INT(back.depth, 10);
        CHECK_EQ_INT(back.width, s.width);
        CHECK_EQ_INT(back.norm, BRN_NORM_BRN);
        CHECK_EQ_INT(back.augment, 0);
        CHECK_EQ_INT(back.n_milestones, 2);
        CHECK(back.seed == s.seed);
        brn__v1__job_spec__free_unpacked(q, NULL);
    }
    free(buf);
    brn__v1__job_spec__free_unpacked(p, NULL);
}

static void test_server_paths_refused(void)
{
    const char *bad[] = {"--data-dir=/tmp", "--init", "--checkpoint-dir"};
    for (int k = 0; k < 3; k++) {
        char *argv[] = {(char *)bad[k], "/x"};
        int argc = k == 0 ? 1 : 2, rest[4], n_rest;
        brn_job_spec s;
        ctl_spec_given g;
        char err[256] = "";
        CHECK_EQ_INT(ctl_spec_args_parse(&s, &g, argc, argv, rest, &n_rest, err, sizeof err), 0);
        Brn__V1__JobSpec *p = ctl_spec_to_proto(&s, &g, err, sizeof err);
        CHECK(p == NULL);
        CHECK_STR_CONTAINS(err, "not accepted by brnd");
        if (p) brn__v1__job_spec__free_unpacked(p, NULL);
    }
}

static void test_bad_values(void)
{
    char *argv[] = {"--depth", "ten"};
    int rest[4], n_rest;
    brn_job_spec s;
    ctl_spec_given g;
    char err[256] = "";
    CHECK_EQ_INT(ctl_spec_args_parse(&s, &g, 2, argv, rest, &n_rest, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "depth");
    char *argv2[] = {"--norm", "batchy"};
    CHECK_EQ_INT(ctl_spec_args_parse(&s, &g, 2, argv2, rest, &n_rest, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "norm");
}

static void test_whole_spec(void)
{
    /* g == NULL: every field the proto has (server paths silently left out) */
    brn_job_spec s, back;
    char err[256];
    brn_spec_defaults(&s);
    s.norm = BRN_NORM_GN;
    s.gn_groups = 4;
    Brn__V1__JobSpec *p = ctl_spec_to_proto(&s, NULL, err, sizeof err);
    CHECK(p != NULL);
    if (!p) return;
    const ProtobufCMessageDescriptor *d = &brn__v1__job_spec__descriptor;
    int present = 0;
    for (unsigned i = 0; i < d->n_fields; i++) present += pb_field_present(&p->base, &d->fields[i]);
    CHECK_EQ_INT(present, (int)d->n_fields - 1); /* all but the empty milestones list */
    CHECK_EQ_INT(ctl_spec_from_proto(&back, p, err, sizeof err), 0);
    CHECK_EQ_INT(back.norm, BRN_NORM_GN);
    CHECK_EQ_INT(back.gn_groups, 4);
    CHECK_CLOSE(back.lr, s.lr, 0, 0);
    CHECK_EQ_INT(back.renorm_warmup, BRN_SPEC_AUTO);
    brn__v1__job_spec__free_unpacked(p, NULL);
}

static void test_pb_field_text(void)
{
    Brn__V1__JobSpec p = BRN__V1__JOB_SPEC__INIT;
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(&brn__v1__job_spec__descriptor, "epochs");
    char err[128], buf[64];
    CHECK(!pb_field_present(&p.base, f));
    CHECK_EQ_INT(pb_field_set_text(&p.base, f, "99999999999", err, sizeof err), -1); /* int32 overflow */
    CHECK_STR_CONTAINS(err, "epochs");
    CHECK_EQ_INT(pb_field_set_text(&p.base, f, "7", err, sizeof err), 0);
    CHECK(pb_field_present(&p.base, f));
    CHECK_EQ_INT(pb_field_get_text(&p.base, f, buf, sizeof buf), 0);
    CHECK(!strcmp(buf, "7"));
    const ProtobufCFieldDescriptor *l = protobuf_c_message_descriptor_get_field_by_name(&brn__v1__job_spec__descriptor, "lr");
    CHECK_EQ_INT(pb_field_set_text(&p.base, l, "nan", err, sizeof err), -1);
    CHECK_EQ_INT(pb_field_set_text(&p.base, l, "0.1", err, sizeof err), 0);
    CHECK_EQ_INT(pb_field_get_text(&p.base, l, buf, sizeof buf), 0);
    CHECK_CLOSE(strtod(buf, NULL), 0.1, 0, 0);
}

int main(void)
{
    TEST(test_only_given_fields);
    TEST(test_server_paths_refused);
    TEST(test_bad_values);
    TEST(test_whole_spec);
    TEST(test_pb_field_text);
    return CHECK_DONE();
}
