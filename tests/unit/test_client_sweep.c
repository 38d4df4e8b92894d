/* brnctl sweep's plan (client/sweep.c): grid parsing and its errors, the cross product with
 * inert fields merged, seed-major job order, labels, the fields sent, and idempotency keys
 * (stable, independent of the order of --grid, and equal to an independent FNV-1a). */
#include <inttypes.h>
#include <stdlib.h>

#include "check.h"
#include "client/sweep.h"

static void base_spec(brn_job_spec *s, ctl_spec_given *g)
{
    char err[256];
    char *argv[] = {"--dataset", "synthetic", "--batch-size", "32", "--epochs", "2"};
    int rest[8], n_rest = 0;
    CHECK_EQ_INT(ctl_spec_args_parse(s, g, 6, argv, rest, &n_rest, err, sizeof err), 0);
}

static void test_names_and_axes(void)
{
    sweep_plan p;
    char err[512];
    CHECK_EQ_INT(sweep_init(&p, "bad name", 1, err, sizeof err), SWEEP_EUSAGE);
    CHECK_STR_CONTAINS(err, "--name");
    CHECK_EQ_INT(sweep_init(&p, "", 1, err, sizeof err), SWEEP_EUSAGE);
    CHECK_EQ_INT(sweep_init(&p, "x", 0, err, sizeof err), SWEEP_EUSAGE);
    CHECK_STR_CONTAINS(err, "--seeds");
    CHECK_EQ_INT(sweep_init(&p, "claim1.v2_small-A", 3, err, sizeof err), 0);
    struct { const char *arg, *says; } bad[] = {
        {"norm", "FIELD=V1,V2"},
        {"norm=", "FIELD=V1,V2"},
        {"colour=red", "colour: not a job spec field"},
        {"data-dir=/tmp", "data_dir: not a job spec field the daemon accepts"},
        {"seed=1,2", "--seeds"},
        {"milestones=3,4", "list cannot be swept"},
        {"microbatch=2,two", "microbatch"},
        {"norm=bn,xn", "norm"},
        {"norm=bn,bn", "value 'bn' given twice"},
        {"lr=0.1,,", NULL}, /* empty items are skipped: one value, fine */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        int rc = sweep_add_axis(&p, bad[i].arg, err, sizeof err);
        if (bad[i].says) {
            CHECK_EQ_INT(rc, SWEEP_EUSAGE);
            CHECK_STR_CONTAINS(err, bad[i].says);
        } else {
            CHECK_EQ_INT(rc, 0);
        }
    }
    CHECK_EQ_INT(p.n_axes, 1);
    CHECK_EQ_INT(sweep_add_axis(&p, "lr=0.2", err, sizeof err), SWEEP_EUSAGE); /* lr is swept already */
    CHECK_STR_CONTAINS(err, "given twice");
    CHECK_EQ_INT(sweep_add_axis(&p, "batch-size=16,32", err, sizeof err), 0); /* flag spelling is fine */
    CHECK(!strcmp(p.axes[1].field, "batch_size"));
    sweep_free(&p);
}

/* norm x microbatch: microbatch has no effect under gn, so gn appears once. */
static void test_expand_merges_inert(void)
{
    sweep_plan p;
    brn_job_spec base;
    ctl_spec_given g;
    char err[512], text[256];
    base_spec(&base, &g);
    CHECK_EQ_INT(sweep_init(&p, "c1", 3, err, sizeof err), 0);
    CHECK_EQ_INT(sweep_add_axis(&p, "norm=bn,brn,gn", err, sizeof err), 0);
    CHECK_EQ_INT(sweep_add_axis(&p, "microbatch=0,2,4", err, sizeof err), 0);
    CHECK_EQ_INT(sweep_expand(&p, &base, err, sizeof err), 0);
    CHECK_EQ_INT(p.n_points, 7);
    CHECK_EQ_INT(p.n_merged, 2);
    CHECK_EQ_INT(sweep_job_count(&p), 21);
    const char *want[] = {"norm=bn microbatch=0", "norm=bn microbatch=2", "norm=bn microbatch=4",
                          "norm=brn microbatch=0", "norm=brn microbatch=2", "norm=brn microbatch=4", "norm=gn"};
    for (int k = 0; k < 7; k++) {
        sweep_point_text(&p, k, text, sizeof text);
        CHECK(!strcmp(text, want[k]));
    }
    CHECK_EQ_INT(p.points[6].value[1], -1);
    CHECK_EQ_INT(p.points[6].spec.microbatch, 0);  /* the base value, not the last one swept */
    CHECK_EQ_INT(p.points[6].spec.norm, BRN_NORM_GN);
    CHECK_EQ_INT(p.points[4].spec.microbatch, 2);
    /* seed-major: the first seed of every point before any second seed */
    int pt;
    uint64_t seed;
    sweep_job_at(&p, 0, &pt, &seed);
    CHECK(pt == 0 && seed == 1);
    sweep_job_at(&p, 6, &pt, &seed);
    CHECK(pt == 6 && seed == 1);
    sweep_job_at(&p, 7, &pt, &seed);
    CHECK(pt == 0 && seed == 2);
    sweep_job_at(&p, 20, &pt, &seed);
    CHECK(pt == 6 && seed == 3);
    /* the spec of a job carries its seed */
    brn_job_spec s;
    sweep_job_spec(&p, 4, 3, &s);
    CHECK(s.seed == 3 && s.norm == BRN_NORM_BRN && s.microbatch == 2 && s.batch_size == 32);
    /* labels: sweep, the applied axes, seed; gn has no microbatch label */
    ctl_labels l;
    ctl_labels_init(&l);
    CHECK_EQ_INT(sweep_job_labels(&p, 4, 2, &l), 0);
    CHECK_EQ_INT(l.n, 4);
    CHECK(!strcmp(ctl_label_get(l.ptrs, l.n, "sweep"), "c1"));
    CHECK(!strcmp(ctl_label_get(l.ptrs, l.n, "norm"), "brn"));
    CHECK(!strcmp(ctl_label_get(l.ptrs, l.n, "microbatch"), "2"));
    CHECK(!strcmp(ctl_label_get(l.ptrs, l.n, "seed"), "2"));
    ctl_labels_free(&l);
    CHECK_EQ_INT(sweep_job_labels(&p, 6, 1, &l), 0);
    CHECK_EQ_INT(l.n, 3);
    CHECK(ctl_label_get(l.ptrs, l.n, "microbatch") == NULL);
    ctl_labels_free(&l);
    /* the fields sent: the base's, the applied axes, the seed; not an inert axis */
    ctl_spec_given jg;
    sweep_job_given(&p, &g, 4, &jg);
    CHECK(ctl_spec_given_has(&jg, "dataset") && ctl_spec_given_has(&jg, "norm") &&
          ctl_spec_given_has(&jg, "microbatch") && ctl_spec_given_has(&jg, "seed"));
    sweep_job_given(&p, &g, 6, &jg);
    CHECK(ctl_spec_given_has(&jg, "norm") && !ctl_spec_given_has(&jg, "microbatch"));
    sweep_free(&p);
}

static void test_expand_errors_and_seeds(void)
{
    sweep_plan p;
    brn_job_spec base;
    ctl_spec_given g;
    char err[512];
    base_spec(&base, &g);
    /* a value the field takes but the spec refuses with the base's other settings */
    CHECK_EQ_INT(sweep_init(&p, "c1", 1, err, sizeof err), 0);
    CHECK_EQ_INT(sweep_add_axis(&p, "microbatch=4,5", err, sizeof err), 0);
    CHECK_EQ_INT(sweep_expand(&p, &base, err, sizeof err), SWEEP_EINVALID);
    CHECK_STR_CONTAINS(err, "point microbatch=5: microbatch: 5 does not divide batch-size 32");
    sweep_free(&p);
    /* a swept field without effect anywhere: every point merges into one */
    CHECK_EQ_INT(sweep_init(&p, "c1", 2, err, sizeof err), 0);
    CHECK_EQ_INT(sweep_add_axis(&p, "rmax=2,3,4", err, sizeof err), 0);
    CHECK_EQ_INT(sweep_expand(&p, &base, err, sizeof err), 0); /* norm is bn */
    CHECK_EQ_INT(p.n_points, 1);
    CHECK_EQ_INT(p.n_merged, 2);
    sweep_free(&p);
    /* seeds count up from the spec's seed */
    base.seed = 10;
    CHECK_EQ_INT(sweep_init(&p, "c1", 3, err, sizeof err), 0);
    CHECK_EQ_INT(sweep_expand(&p, &base, err, sizeof err), 0);
    CHECK_EQ_INT(p.n_points, 1);
    int pt;
    uint64_t seed;
    sweep_job_at(&p, 2, &pt, &seed);
    CHECK(seed == 12);
    sweep_free(&p);
    /* too many points: 40 x 26 */
    CHECK_EQ_INT(sweep_init(&p, "c1", 1, err, sizeof err), 0);
    char many[700] = "lr=";
    for (int k = 1; k <= 40; k++) snprintf(many + strlen(many), sizeof many - strlen(many), "%s0.%03d", k > 1 ? "," : "", k);
    CHECK_EQ_INT(sweep_add_axis(&p, many, err, sizeof err), 0);
    CHECK_EQ_INT(sweep_add_axis(&p, "weight_decay=0,0.0001,0.0002,0.0003,0.0004,0.0005,0.0006,0.0007,0.0008,0.0009,"
                                    "0.001,0.002,0.003,0.004,0.005,0.006,0.007,0.008,0.009,0.01,0.02,0.03,0.04,0.05,0.06,0.07",
                                 err, sizeof err), 0);
    CHECK_EQ_INT(sweep_expand(&p, &base, err, sizeof err), SWEEP_EUSAGE);
    CHECK_STR_CONTAINS(err, "more than 1000 points");
    sweep_free(&p);
}

static void test_keys(void)
{
    /* FNV-1a 64 test vectors, and the key of a point as a Python one-liner computes it */
    CHECK(sweep_fnv1a64("") == 0xcbf29ce484222325ull);
    CHECK(sweep_fnv1a64("a") == 0xaf63dc4c8601ec8cull);
    sweep_plan p, q;
    brn_job_spec base;
    ctl_spec_given g;
    char err[512], k1[SWEEP_KEY_LEN], k2[SWEEP_KEY_LEN], k3[SWEEP_KEY_LEN];
    base_spec(&base, &g);
    CHECK_EQ_INT(sweep_init(&p, "s1", 2, err, sizeof err), 0);
    CHECK_EQ_INT(sweep_add_axis(&p, "norm=bn,gn", err, sizeof err), 0);
    CHECK_EQ_INT(sweep_add_axis(&p, "microbatch=2", err, sizeof err), 0);
    CHECK_EQ_INT(sweep_expand(&p, &base, err, sizeof err), 0);
    sweep_job_key(&p, 0, 1, k1, sizeof k1);
    /* "microbatch=2\nnorm=bn\nseed=1\n" */
    CHECK(!strcmp(k1, "sweep:s1:8fc5b85ad78511e8"));
    /* the same sweep with the --grid options swapped gives the same keys */
    CHECK_EQ_INT(sweep_init(&q, "s1", 2, err, sizeof err), 0);
    CHECK_EQ_INT(sweep_add_axis(&q, "microbatch=2", err, sizeof err), 0);
    CHECK_EQ_INT(sweep_add_axis(&q, "norm=bn,gn", err, sizeof err), 0);
    CHECK_EQ_INT(sweep_expand(&q, &base, err, sizeof err), 0);
    sweep_job_key(&q, 0, 1, k2, sizeof k2);
    CHECK(!strcmp(k1, k2));
    /* another seed, another point, another sweep: other keys */
    sweep_job_key(&p, 0, 2, k2, sizeof k2);
    sweep_job_key(&p, 1, 1, k3, sizeof k3);
    CHECK(strcmp(k1, k2) && strcmp(k1, k3) && strcmp(k2, k3));
    /* gn's microbatch does not apply: its key is that of a sweep over norm alone */
    sweep_plan r;
    char k4[SWEEP_KEY_LEN];
    CHECK_EQ_INT(sweep_init(&r, "s1", 1, err, sizeof err), 0);
    CHECK_EQ_INT(sweep_add_axis(&r, "norm=gn", err, sizeof err), 0);
    CHECK_EQ_INT(sweep_expand(&r, &base, err, sizeof err), 0);
    sweep_job_key(&r, 0, 1, k4, sizeof k4);
    CHECK(!strcmp(k3, k4));
    CHECK(strlen(k1) <= 128);
    sweep_free(&p);
    sweep_free(&q);
    sweep_free(&r);
}

int main(void)
{
    TEST(test_names_and_axes);
    TEST(test_expand_merges_inert);
    TEST(test_expand_errors_and_seeds);
    TEST(test_keys);
    return CHECK_DONE();
}
