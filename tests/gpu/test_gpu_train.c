/* Whole training runs on the GPU against the CPU engine.
 *
 *   1. 50 steps of WRN-10-2 on the synthetic set, BN and BRN (r and d at work from the
 *      first step, with dropout), fp32, through brn_train (so with the recorded, replayed
 *      step): every step's loss and the final evaluation against the CPU's (below).
 *   2. The same runs in tf32 and bf16, within the looser bounds stated below.
 *   3. The replayed step (CUDA graph) equals the step run op by op, bitwise, over steps
 *      whose learning rate changes (the graph reads it from device memory); and a
 *      replayed step that builds its batch on the device from the dataset there and an
 *      augmented plan (a new plan uploaded before each replay) equals, bitwise, steps op
 *      by op on the same batches made on the host and uploaded.
 *   4. BRN with rmax = 1, dmax = 0 equals BN on the GPU.
 *   5. A checkpoint moves GPU -> CPU -> GPU: every tensor and the velocity arrive bitwise,
 *      and the next steps agree.
 *   6. A model too big for the card fails with BRN_ENOMEM (out_of_memory); the backend
 *      and the process carry on and train a small model.
 *
 * The CPU reference runs of 1 and 2 are made ahead (`make gpu-carry` runs
 * `test_gpu_train --write-ref gpu-carry/ref` on the CPU), because a GPU machine's time is
 * short; the file names the spec it was made with, and a run without it computes it here.
 * BRN_GPU_REF names another directory.
 *
 * Tolerances on |GPU loss - CPU loss| per step, the same CPU reference for every precision.
 * They come from the CPU engine itself: two CPU runs of these specs whose initial conv
 * weights differ by 1e-6 relative (rounding-sized) differ by <= 1.3e-6 over steps 1-3,
 * 2e-5 at step 5, then SGD amplifies it to a plateau: worst 6e-3 (BN) and 4e-3 (BRN) over
 * 50 steps; the same runs on 1 and 4 CPU threads differ by up to 4.4e-3.
 *   fp32  steps 1-3 within 1e-4 (catches a wrong forward, backward or update at once),
 *         every step within 2e-2, the final test accuracy within 0.02
 *   tf32  steps 1-3 within 5e-3, every step 5e-2, accuracy 0.03 (10-bit mantissa products)
 *   bf16  steps 1-3 within 5e-2, every step 0.15, mean over the steps 0.05, accuracy 0.05:
 *         bf16 activations carry 8 bits of mantissa; the runs differ visibly but must
 *         learn the same way. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batcher.h"
#include "check.h"
#include "checkpoint.h"
#include "engine.h"
#include "gpu_fixture.h"
#include "model.h"

#define STEPS 50
#define EARLY_STEPS 3
#define REF_MAGIC "brn-gpu-ref 2"

typedef struct tolerance {
    double early, step, mean, acc;
} tolerance;

static tolerance tolerance_of(brn_precision p)
{
    switch (p) {
    case BRN_PRECISION_FP32: return (tolerance){.early = 1e-4, .step = 2e-2, .mean = 2e-2, .acc = 0.02};
    case BRN_PRECISION_TF32: return (tolerance){.early = 5e-3, .step = 5e-2, .mean = 5e-2, .acc = 0.03};
    case BRN_PRECISION_BF16: break;
    }
    return (tolerance){.early = 5e-2, .step = 0.15, .mean = 0.05, .acc = 0.05};
}

typedef struct run_record {
    double loss[STEPS];
    int correct[STEPS];
    int steps;
    double test_loss, test_acc;
} run_record;

/* ---- the reference runs --------------------------------------------------------------------- */

typedef struct ref_run {
    const char *name;
    brn_norm_kind norm;
    double dropout;
} ref_run;

static const ref_run RUNS[] = {
    {"wrn-10-2-bn", BRN_NORM_BN, 0.0},
    {"wrn-10-2-brn", BRN_NORM_BRN, 0.1},
};
#define N_RUNS (int)(sizeof RUNS / sizeof RUNS[0])

static void run_spec(brn_job_spec *s, const ref_run *r, const char *device, brn_precision p)
{
    brn_spec_defaults(s);
    snprintf(s->dataset, sizeof s->dataset, "synthetic");
    s->depth = 10;
    s->width = 2;
    s->batch_size = 64;
    s->steps = STEPS;
    s->lr = 0.05;
    s->augment = 0;   /* the synthetic classes are oriented patterns */
    s->seed = 7;
    s->threads = 4;
    s->norm = r->norm;
    s->dropout = r->dropout;
    if (r->norm == BRN_NORM_BRN) {   /* r and d at work from the first step, their limits open by step 20 */
        s->renorm_warmup = 0;
        s->rmax_steps = 20;
        s->dmax_steps = 20;
        s->norm_momentum = 0.1;
    }
    snprintf(s->device, sizeof s->device, "%s", device);
    s->precision = p;
}

/* The spec's fields that decide the numbers (not where or how fast it runs), one line. */
typedef struct spec_text {
    char buf[4096];
    size_t len;
} spec_text;

static int add_field(const char *name, const char *value, void *user)
{
    spec_text *t = user;
    if (!strcmp(name, "device") || !strcmp(name, "precision") || !strcmp(name, "threads")) return 0;
    int n = snprintf(t->buf + t->len, sizeof t->buf - t->len, "%s=%s ", name, value);
    if (n > 0 && (size_t)n < sizeof t->buf - t->len) t->len += n;
    return 0;
}

static void describe_spec(const brn_job_spec *s, spec_text *t)
{
    t->len = 0;
    t->buf[0] = 0;
    brn_spec_for_each(s, add_field, t);
}

static void on_step(void *user, const brn_step_info *si)
{
    run_record *r = user;
    if (r->steps < STEPS) {
        r->loss[r->steps] = si->loss;
        r->correct[r->steps] = (int)(si->acc * 64 + 0.5);
        r->steps++;
    }
}

static void on_epoch(void *user, const brn_epoch_metrics *m)
{
    run_record *r = user;
    if (m->evaluated) {
        r->test_loss = m->test_loss;
        r->test_acc = m->test_acc;
    }
}

static int train(const brn_job_spec *s, run_record *r)
{
    memset(r, 0, sizeof *r);
    brn_train_hooks h = {.user = r, .on_step = on_step, .on_epoch = on_epoch};
    char err[512] = "";
    int rc = brn_train(s, NULL, &h, err, sizeof err);
    if (rc) fprintf(stderr, "    brn_train on %s (%s): %s\n", s->device, brn_precision_name(s->precision), err);
    return rc;
}

static void ref_path(const char *dir, const ref_run *r, char *out, size_t len)
{
    snprintf(out, len, "%s/%s.txt", dir, r->name);
}

static int write_ref(const char *dir, const ref_run *r)
{
    brn_job_spec s;
    run_spec(&s, r, "cpu", BRN_PRECISION_FP32);
    run_record rec;
    if (train(&s, &rec) || rec.steps != STEPS) return 1;
    spec_text t;
    describe_spec(&s, &t);
    char path[1024];
    ref_path(dir, r, path, sizeof path);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return 1;
    }
    fprintf(f, "%s %s\nspec %s\n", REF_MAGIC, r->name, t.buf);
    for (int i = 0; i < STEPS; i++) fprintf(f, "step %d %.9g %d\n", i + 1, rec.loss[i], rec.correct[i]);
    fprintf(f, "test %.9g %.9g\n", rec.test_loss, rec.test_acc);
    fclose(f);
    printf("wrote %s (final loss %.4f, test acc %.4f)\n", path, rec.loss[STEPS - 1], rec.test_acc);
    return 0;
}

/* The reference for r: from the directory when it holds one made for this spec, else run now. */
static int load_ref(const char *dir, const ref_run *r, run_record *rec)
{
    brn_job_spec s;
    run_spec(&s, r, "cpu", BRN_PRECISION_FP32);
    spec_text want;
    describe_spec(&s, &want);
    char path[1024], line[8192];
    ref_path(dir, r, path, sizeof path);
    FILE *f = fopen(path, "r");
    int ok = 0;
    memset(rec, 0, sizeof *rec);
    if (f) {
        char head[256];
        snprintf(head, sizeof head, "%s %s\n", REF_MAGIC, r->name);
        ok = fgets(line, sizeof line, f) && !strcmp(line, head);
        ok = ok && fgets(line, sizeof line, f) && !strncmp(line, "spec ", 5) && !strncmp(line + 5, want.buf, want.len) &&
             line[5 + want.len] == '\n';
        for (int i = 0; ok && i < STEPS; i++) {
            int step;
            ok = fgets(line, sizeof line, f) && sscanf(line, "step %d %lf %d", &step, &rec->loss[i], &rec->correct[i]) == 3 &&
                 step == i + 1;
        }
        ok = ok && fgets(line, sizeof line, f) && sscanf(line, "test %lf %lf", &rec->test_loss, &rec->test_acc) == 2;
        fclose(f);
        if (ok) rec->steps = STEPS;
        printf("  CPU reference %s: %s\n", path, ok ? "read" : "does not match this spec: running the CPU now");
    } else {
        printf("  no CPU reference at %s: running the CPU now\n", path);
    }
    if (ok) return 0;
    return train(&s, rec);
}

/* ---- 1, 2: whole runs against the CPU ----------------------------------------------------- */

static const char *ref_dir(void)
{
    const char *d = getenv("BRN_GPU_REF");
    return d && *d ? d : "gpu-carry/ref";
}

static void compare_run(const ref_run *r, brn_precision p)
{
    run_record ref, got;
    CHECK_EQ_INT(load_ref(ref_dir(), r, &ref), 0);
    brn_job_spec s;
    run_spec(&s, r, "cuda", p);
    CHECK_EQ_INT(train(&s, &got), 0);
    CHECK_EQ_INT(got.steps, STEPS);
    const tolerance tol = tolerance_of(p);
    double worst = 0, worst_early = 0, sum = 0;
    int at = 0;
    for (int i = 0; i < STEPS && i < got.steps; i++) {
        const double d = fabs(got.loss[i] - ref.loss[i]);
        sum += d;
        if (i < EARLY_STEPS && !(d <= worst_early)) worst_early = d;
        if (d > worst || !isfinite(d)) {
            worst = d;
            at = i;
        }
    }
    const double mean = sum / STEPS;
    const int ok_early = worst_early <= tol.early, ok_steps = worst <= tol.step && mean <= tol.mean;
    const int ok_acc = fabs(got.test_acc - ref.test_acc) <= tol.acc;
    const char *name = brn_precision_name(p);
    printf("  %-4s %s %s: steps 1-%d |loss - CPU| worst %.3g (tol %.3g)\n", ok_early ? "ok" : "FAIL", r->name, name,
           EARLY_STEPS, worst_early, tol.early);
    printf("  %-4s %s %s: steps 1-%d worst %.3g at step %d (GPU %.6f, CPU %.6f; tol %.3g), mean %.3g (tol %.3g)\n",
           ok_steps ? "ok" : "FAIL", r->name, name, STEPS, worst, at + 1, got.loss[at], ref.loss[at], tol.step, mean,
           tol.mean);
    printf("  %-4s %s %s: loss %.4f -> %.4f (CPU %.4f -> %.4f); test loss %.4f acc %.4f (CPU %.4f %.4f; acc tol "
           "%.3g)\n",
           ok_acc ? "ok" : "FAIL", r->name, name, got.loss[0], got.loss[STEPS - 1], ref.loss[0], ref.loss[STEPS - 1],
           got.test_loss, got.test_acc, ref.test_loss, ref.test_acc, tol.acc);
    CHECK(ok_early);
    CHECK(ok_steps);
    CHECK(ok_acc);
    CHECK(got.loss[STEPS - 1] < got.loss[0]);   /* it learns */
}

static void test_runs_fp32(void)
{
    for (int i = 0; i < N_RUNS; i++) compare_run(&RUNS[i], BRN_PRECISION_FP32);
}

static void test_runs_tf32_bf16(void)
{
    for (int i = 0; i < N_RUNS; i++) {
        compare_run(&RUNS[i], BRN_PRECISION_TF32);
        compare_run(&RUNS[i], BRN_PRECISION_BF16);
    }
}

/* ---- model-level helpers -------------------------------------------------------------------- */

#define MB 32   /* batch of the model-level tests */

static brn_model_config small_config(brn_norm_kind norm, int capture)
{
    return (brn_model_config){.depth = 10, .width = 2, .in_c = 3, .in_h = 16, .in_w = 16, .classes = 10,
                              .max_batch = MB, .norm = norm, .eps = 1e-5, .gn_groups = 8, .capture = capture};
}

static void model_up(brn_model *m, const brn_model_config *c, brn_backend *be, uint64_t seed)
{
    char err[512] = "";
    int rc = brn_model_init(m, c, be, err, sizeof err);
    if (!rc) rc = brn_model_init_weights(m, seed, err, sizeof err);
    if (rc) fprintf(stderr, "    model on %s: %s\n", be->device, err);
    CHECK_EQ_INT(rc, 0);
}

typedef struct batches {
    float *x[8];
    int labels[8][MB];
} batches;

static void make_batches(batches *b)
{
    for (int i = 0; i < 8; i++) {
        b->x[i] = randn((size_t)3 * MB * 16 * 16, 0, 1);
        for (int j = 0; j < MB; j++) b->labels[i][j] = (int)brn_rng_below(&fixture_rng, 10);
    }
}

static void free_batches(batches *b)
{
    for (int i = 0; i < 8; i++) free(b->x[i]);
}

static brn_step_scalars step_scalars(int t, double rmax, double dmax)
{
    return (brn_step_scalars){.lr = 0.02 + 0.01 * (t % 3), .norm_momentum = 0.1, .rmax = rmax, .dmax = dmax,
                              .dropout_seed = 1000 + t};
}

/* One step on batch t % 8: recorded-and-replayed (train_update) or op by op. */
static double step(brn_model *m, const batches *b, int t, int replayed, double rmax, double dmax)
{
    static const brn_sgd opt = {.momentum = 0.9, .weight_decay = 5e-4};
    const brn_step_scalars sc = step_scalars(t, rmax, dmax);
    char err[512] = "";
    brn_model_set_batch(m, b->x[t % 8], b->labels[t % 8], MB);
    brn_model_set_scalars(m, &sc);
    int rc = replayed ? brn_model_train_update(m, MB, &opt, err, sizeof err) : brn_model_train_step(m, MB, err, sizeof err);
    if (!rc && !replayed) brn_model_sgd_step(m, &opt);
    double loss = NAN;
    int correct;
    if (!rc) rc = brn_model_step_result(m, &loss, &correct, err, sizeof err);
    if (rc) fprintf(stderr, "    step %d on %s: %s\n", t, m->be->device, err);
    CHECK_EQ_INT(rc, 0);
    return loss;
}

/* Every parameter, then every buffer, then the velocity, in PyTorch's layout. */
static float *read_all(brn_model *m)
{
    float *h = malloc(sizeof(float) * (2 * m->n_params + m->n_buffers + 1));
    char err[512] = "";
    for (int i = 0; i < m->n_tensors; i++) {
        const brn_tensor_info *t = &m->tensors[i];
        float *dst = t->kind == BRN_TENSOR_PARAM ? h + t->offset : h + m->n_params + t->offset;
        CHECK_EQ_INT(brn_model_read_tensor(m, t, BRN_VIEW_VALUE, dst, err, sizeof err), 0);
        if (t->kind == BRN_TENSOR_PARAM)
            CHECK_EQ_INT(brn_model_read_tensor(m, t, BRN_VIEW_VELOCITY, h + m->n_params + m->n_buffers + t->offset, err,
                                               sizeof err),
                         0);
    }
    return h;
}

static size_t all_count(const brn_model *m) { return 2 * m->n_params + m->n_buffers; }

/* ---- 3: the replayed step equals the step op by op ------------------------------------------ */

static void test_replay_equals_eager(void)
{
    brn_backend *be = gpu_backend(BRN_PRECISION_FP32);
    for (int norm = BRN_NORM_BN; norm <= BRN_NORM_BRN; norm++) {
        brn_model a, b;
        brn_model_config ca = small_config(norm, 1), cb = small_config(norm, 0);
        model_up(&a, &ca, be, 3);
        model_up(&b, &cb, be, 3);
        batches bt;
        make_batches(&bt);
        int same = 1;
        for (int t = 0; t < 10; t++) {
            const double la = step(&a, &bt, t, 1, 2, 1), lb = step(&b, &bt, t, 0, 2, 1);
            same &= la == lb;
        }
        CHECK(a.step_unit != NULL);   /* it was recorded */
        printf("  %-4s %s: 10 steps replayed (CUDA graph) vs op by op, changing lr: losses %s\n", same ? "ok" : "FAIL",
               norm == BRN_NORM_BN ? "bn" : "brn", same ? "bitwise equal" : "differ");
        CHECK(same);
        float *pa = read_all(&a), *pb = read_all(&b);
        compare_exact("parameters, buffers, velocity after 10 steps", pa, pb, all_count(&a));
        free(pa), free(pb);
        free_batches(&bt);
        brn_model_free(&a);
        brn_model_free(&b);
    }
    brn_backend_close(be);
}

/* The synthetic set's batches, shuffled and augmented: built on the GPU from plans inside
   the recorded step, against the host's batches uploaded to a model run op by op. */
static void test_replay_builds_plan_batches(void)
{
    brn_dataset train, test;
    char err[512] = "";
    CHECK_EQ_INT(brn_dataset_load("synthetic", "", &train, &test, err, sizeof err), 0);
    brn_job_spec s;
    brn_spec_defaults(&s);
    s.batch_size = MB;
    s.augment = 1;
    s.shuffle = 1;
    s.seed = 11;
    brn_batcher bt;
    CHECK_EQ_INT(brn_batcher_init(&bt, &train, &s, err, sizeof err), 0);
    brn_batch_source src;
    brn_batcher_source(&bt, &train, &src);
    brn_backend *be = gpu_backend(BRN_PRECISION_FP32);
    brn_device_data data;
    CHECK_EQ_INT(brn_backend_data_upload(be, &src, &data, err, sizeof err), 0);
    static const brn_sgd opt = {.momentum = 0.9, .weight_decay = 5e-4};
    for (int norm = BRN_NORM_BN; norm <= BRN_NORM_BRN; norm++) {
        brn_model a, b;
        brn_model_config ca = small_config(norm, 1), cb = small_config(norm, 0);
        model_up(&a, &ca, be, 4);
        model_up(&b, &cb, be, 4);
        float *x = malloc(sizeof(float) * MB * 3 * 16 * 16);
        int labels[MB], same = 1;
        brn_batch_entry plan[MB];
        for (int t = 0; t < 10; t++) {
            const brn_step_scalars sc = step_scalars(t, 2, 1);
            double la = NAN, lb = NAN;
            int ca_hits, cb_hits;
            brn_batcher_train_plan(&bt, t / 4, t % 4, t, plan);
            CHECK_EQ_INT(brn_model_set_plan(&a, &data, plan, MB, err, sizeof err), 0);
            brn_model_set_scalars(&a, &sc);
            int rc = brn_model_train_update(&a, MB, &opt, err, sizeof err);
            if (!rc) rc = brn_model_step_result(&a, &la, &ca_hits, err, sizeof err);
            brn_batcher_train_batch(&bt, t / 4, t % 4, t, x, labels);
            brn_model_set_batch(&b, x, labels, MB);
            brn_model_set_scalars(&b, &sc);
            if (!rc) rc = brn_model_train_step(&b, MB, err, sizeof err);
            if (!rc) brn_model_sgd_step(&b, &opt);
            if (!rc) rc = brn_model_step_result(&b, &lb, &cb_hits, err, sizeof err);
            if (rc) fprintf(stderr, "    step %d: %s\n", t, err);
            CHECK_EQ_INT(rc, 0);
            same &= la == lb && ca_hits == cb_hits;
        }
        CHECK(a.step_unit != NULL);
        printf("  %-4s %s: 10 replayed steps gathering augmented batches on the GPU vs host batches op by op: "
               "losses %s\n", same ? "ok" : "FAIL", norm == BRN_NORM_BN ? "bn" : "brn", same ? "bitwise equal" : "differ");
        CHECK(same);
        float *pa = read_all(&a), *pb = read_all(&b);
        compare_exact("parameters, buffers, velocity after 10 steps", pa, pb, all_count(&a));
        free(pa), free(pb), free(x);
        brn_model_free(&a);
        brn_model_free(&b);
    }
    brn_backend_data_free(be, &data);
    brn_backend_close(be);
    brn_batcher_free(&bt);
    brn_dataset_free(&train);
    brn_dataset_free(&test);
}

/* ---- 4: BRN(rmax 1, dmax 0) is BN --------------------------------------------------------- */

static void test_brn_limits_one_zero_is_bn(void)
{
    brn_backend *be = gpu_backend(BRN_PRECISION_FP32);
    brn_model bn, brn;
    brn_model_config c1 = small_config(BRN_NORM_BN, 1), c2 = small_config(BRN_NORM_BRN, 1);
    model_up(&bn, &c1, be, 5);
    model_up(&brn, &c2, be, 5);
    batches bt;
    make_batches(&bt);
    double worst = 0;
    int bitwise = 1;
    for (int t = 0; t < 10; t++) {
        const double l1 = step(&bn, &bt, t, 1, 1, 0), l2 = step(&brn, &bt, t, 1, 1, 0);
        if (fabs(l1 - l2) > worst) worst = fabs(l1 - l2);
        bitwise &= l1 == l2;
    }
    printf("  %-4s BRN(rmax 1, dmax 0) vs BN on the GPU, 10 steps: worst |loss difference| %.3g (%s)\n",
           worst <= 1e-6 ? "ok" : "FAIL", worst, bitwise ? "bitwise equal" : "not bitwise");
    CHECK(worst <= 1e-6);
    float *p1 = read_all(&bn), *p2 = read_all(&brn);
    /* the parameters and velocity (the running statistics differ by design: var vs std) */
    compare("parameters after 10 steps", p2, p1, bn.n_params, 1e-6);
    compare("velocity after 10 steps", p2 + bn.n_params + bn.n_buffers, p1 + bn.n_params + bn.n_buffers, bn.n_params,
            1e-6);
    free(p1), free(p2);
    free_batches(&bt);
    brn_model_free(&bn);
    brn_model_free(&brn);
    brn_backend_close(be);
}

/* ---- 5: a checkpoint from the GPU to the CPU and back ---------------------------------------- */

static void test_checkpoint_gpu_cpu_gpu(void)
{
    brn_backend *gpu = gpu_backend(BRN_PRECISION_FP32), *cpu = cpu_backend(4);
    char dir[] = "/tmp/brn-gpu-ckpt-XXXXXX", a_path[64], b_path[64], err[512] = "";
    CHECK(mkdtemp(dir) != NULL);
    snprintf(a_path, sizeof a_path, "%s/a.safetensors", dir);
    snprintf(b_path, sizeof b_path, "%s/b.safetensors", dir);
    brn_job_spec spec;
    brn_spec_defaults(&spec);
    spec.norm = BRN_NORM_BRN;
    brn_model g, c, g2;
    brn_model_config cfg = small_config(BRN_NORM_BRN, 1);
    model_up(&g, &cfg, gpu, 9);
    model_up(&c, &cfg, cpu, 1);    /* other weights: the load must replace them */
    model_up(&g2, &cfg, gpu, 2);
    batches bt;
    make_batches(&bt);
    for (int t = 0; t < 5; t++) step(&g, &bt, t, 1, 2, 1);
    brn_run_state st = {.step = 5};
    CHECK_EQ_INT(brn_checkpoint_save(a_path, &g, &spec, &st, err, sizeof err), 0);
    brn_run_state st_c = {0};
    CHECK_EQ_INT(brn_checkpoint_load(a_path, &c, &st_c, NULL, err, sizeof err), 0);
    CHECK_EQ_INT(st_c.step, 5);
    float *pg = read_all(&g), *pc = read_all(&c);
    compare_exact("GPU -> CPU: parameters, buffers, velocity", pc, pg, all_count(&g));
    for (int t = 5; t < 10; t++) step(&c, &bt, t, 0, 2, 1);
    CHECK_EQ_INT(brn_checkpoint_save(b_path, &c, &spec, &st, err, sizeof err), 0);
    CHECK_EQ_INT(brn_checkpoint_load(b_path, &g2, &st_c, NULL, err, sizeof err), 0);
    float *pc2 = read_all(&c), *pg2 = read_all(&g2);
    compare_exact("CPU -> GPU: parameters, buffers, velocity", pg2, pc2, all_count(&c));
    double worst = 0;
    for (int t = 10; t < 13; t++) {
        const double lc = step(&c, &bt, t, 0, 2, 1), lg = step(&g2, &bt, t, 1, 2, 1);
        if (fabs(lc - lg) > worst) worst = fabs(lc - lg);
    }
    printf("  %-4s 3 steps after the round trip, GPU vs CPU: worst |loss difference| %.3g (tol 1e-4)\n",
           worst <= 1e-4 ? "ok" : "FAIL", worst);
    CHECK(worst <= 1e-4);
    if (err[0]) fprintf(stderr, "    %s\n", err);
    free(pg), free(pc), free(pc2), free(pg2);
    free_batches(&bt);
    brn_model_free(&g);
    brn_model_free(&c);
    brn_model_free(&g2);
    unlink(a_path);
    unlink(b_path);
    rmdir(dir);
    brn_backend_close(gpu);
    brn_backend_close(cpu);
}

/* ---- 6: out of memory ------------------------------------------------------------------------ */

static void test_out_of_memory(void)
{
    brn_backend *be = gpu_backend(BRN_PRECISION_FP32);
    brn_device_desc dev[4];
    char why[256] = "", err[512] = "";
    CHECK(brn_devices_list(dev, 4, why, sizeof why) >= 2);
    const double card = (double)dev[1].memory_bytes;
    /* WRN-28-10 on 32x32 images: double the batch until the estimate is 1.25x the card,
       keeping every activation under cuDNN's 2^31 elements (160 x 32 x 32 per image) */
    brn_model_config c = {.depth = 28, .width = 10, .in_c = 3, .in_h = 32, .in_w = 32, .classes = 10, .max_batch = 512,
                          .norm = BRN_NORM_BN, .eps = 1e-5, .gn_groups = 8};
    brn_memory_estimate e = {0};
    for (;;) {
        CHECK_EQ_INT(brn_model_estimate(&c, be, &e, err, sizeof err), 0);
        if (e.total_bytes > 1.25 * card || 2.0 * c.max_batch * 160 * 32 * 32 >= 2147483648.0) break;
        c.max_batch *= 2;
    }
    if (e.total_bytes <= 1.25 * card) c.depth = 52;   /* a card this large: twice the blocks */
    CHECK_EQ_INT(brn_model_estimate(&c, be, &e, err, sizeof err), 0);
    brn_model big;
    const int rc = brn_model_init(&big, &c, be, err, sizeof err);
    printf("  %-4s WRN-%d-%d at batch %d (estimate %.1f GiB on a %.1f GiB card): %s (%s)\n",
           rc == BRN_ENOMEM ? "ok" : "FAIL", c.depth, c.width, c.max_batch, e.total_bytes / 1073741824.0,
           card / 1073741824.0, brn_error_name(rc), err);
    CHECK_EQ_INT(rc, BRN_ENOMEM);
    CHECK(!strcmp(brn_error_name(rc), "out_of_memory"));
    if (!rc) brn_model_free(&big);
    /* the backend still works */
    brn_model m;
    brn_model_config small = small_config(BRN_NORM_BN, 1);
    model_up(&m, &small, be, 1);
    batches bt;
    make_batches(&bt);
    const double loss = step(&m, &bt, 0, 1, 1, 0);
    printf("  %-4s after it, a small model on the same backend trains: loss %.4f\n", isfinite(loss) ? "ok" : "FAIL",
           loss);
    CHECK(isfinite(loss));
    free_batches(&bt);
    brn_model_free(&m);
    /* and a job too large for cuDNN's tensors is refused before it starts, naming the field */
    brn_job_spec s;
    brn_spec_defaults(&s);
    snprintf(s.dataset, sizeof s.dataset, "cifar10");
    s.depth = 28, s.width = 10, s.batch_size = 20000;
    const int sup = be->ops->supports(be, &s, err, sizeof err);
    printf("  %-4s supports(WRN-28-10, batch 20000 on CIFAR): %s\n", sup == BRN_EINVAL ? "ok" : "FAIL", err);
    CHECK_EQ_INT(sup, BRN_EINVAL);
    CHECK_STR_CONTAINS(err, "batch-size:");
    brn_backend_close(be);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc == 3 && !strcmp(argv[1], "--write-ref")) {   /* on the CPU: make the reference runs */
        mkdir(argv[2], 0755);
        int rc = 0;
        for (int i = 0; i < N_RUNS; i++) rc |= write_ref(argv[2], &RUNS[i]);
        return rc;
    }
    const int small = argc > 1 && !strcmp(argv[1], "--small");   /* compute-sanitizer: model-level only */
    gpu_require("test_gpu_train");
    brn_rng_init(&fixture_rng, test_seed());
    if (!small) {
        TEST(test_runs_fp32);
        TEST(test_runs_tf32_bf16);
    }
    TEST(test_replay_equals_eager);
    TEST(test_replay_builds_plan_batches);
    TEST(test_brn_limits_one_zero_is_bn);
    TEST(test_checkpoint_gpu_cpu_gpu);
    if (!small) TEST(test_out_of_memory);
    return CHECK_DONE();
}
