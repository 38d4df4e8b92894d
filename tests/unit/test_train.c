/* Whole runs of the engine: learning, determinism, stop-and-resume equality, checkpoints. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blas_select.h"
#include "check.h"
#include "backend.h"
#include "engine.h"
#include "safetensors.h"

#define MAX_EPOCHS 8

typedef struct record {
    brn_epoch_metrics m[MAX_EPOCHS];
    int n;
    long stop_at_step;   /* should_stop() turns true once this many steps are done; 0 never */
    long steps_done;
    int diag_layers;
} record;

static void on_epoch(void *user, const brn_epoch_metrics *m)
{
    record *r = user;
    if (r->n < MAX_EPOCHS) {
        r->m[r->n] = *m;
        r->m[r->n].diag = NULL;
        r->n++;
    }
    r->diag_layers = m->n_diag;
}

static void on_step(void *user, const brn_step_info *s) { ((record *)user)->steps_done = s->step; }

static int should_stop(void *user)
{
    record *r = user;
    return r->stop_at_step && r->steps_done >= r->stop_at_step;
}

static int run(const brn_job_spec *s, const char *resume, record *r)
{
    brn_train_hooks h = {.user = r, .on_step = on_step, .on_epoch = on_epoch, .should_stop = should_stop};
    char err[512];
    int rc = brn_train(s, resume, &h, err, sizeof err);
    if (rc < 0) fprintf(stderr, "    brn_train: %s\n", err);
    return rc;
}

static void small_spec(brn_job_spec *s)
{
    brn_spec_defaults(s);
    strcpy(s->dataset, "synthetic");
    s->depth = 10;
    s->width = 1;
    s->batch_size = 32;
    s->threads = 2;
    s->lr = 0.05;
}

static void test_learns_synthetic(void)
{
    for (int k = 0; k < 2; k++) {
        brn_job_spec s;
        small_spec(&s);
        s.norm = k ? BRN_NORM_BRN : BRN_NORM_BN;
        /* 256 steps: BRN's default running-average momentum 0.01 would not converge (the
           engine warns); 0.1 as for BN */
        s.norm_momentum = 0.1;
        s.augment = 0;   /* the synthetic classes are oriented patterns: flips would change them */
        s.epochs = 2;
        record r = {0};
        CHECK_EQ_INT(run(&s, NULL, &r), 0);
        CHECK_EQ_INT(r.n, 2);
        fprintf(stderr, "  %s on synthetic, 2 epochs: train loss %.4f, test acc %.4f\n", k ? "brn" : "bn",
                r.m[1].train_loss, r.m[1].test_acc);
        CHECK(r.m[1].test_acc >= 0.95);
        CHECK(r.m[1].train_loss < r.m[0].train_loss);
        if (k) CHECK_EQ_INT(r.diag_layers, 7);   /* every BRN layer reports diagnostics */
    }
}

/* GN, LN and evaluation with batch statistics train too. (Without normalization this WRN
 * with He initialization barely moves in two epochs; its layers are covered by the
 * gradient checks.) */
static void test_other_norms_learn(void)
{
    const brn_norm_kind kinds[] = {BRN_NORM_GN, BRN_NORM_LN, BRN_NORM_BN};
    const char *names[] = {"gn", "ln", "bn --eval-stats batch"};
    for (int k = 0; k < 3; k++) {
        brn_job_spec s;
        small_spec(&s);
        s.norm = kinds[k];
        s.eval_stats = k == 2 ? BRN_EVAL_BATCH : BRN_EVAL_MOVING;
        s.augment = 0;
        s.train_subset = 2048;
        s.epochs = 2;
        record r = {0};
        CHECK_EQ_INT(run(&s, NULL, &r), 0);
        fprintf(stderr, "  %s on 2048 synthetic images, 2 epochs: test acc %.4f\n", names[k], r.m[1].test_acc);
        CHECK(r.m[1].test_acc >= 0.6);
    }
}

/* --init starts from a checkpoint's weights (not its optimizer state or position). */
static void test_init_from_checkpoint(void)
{
    char dir[] = "/tmp/brn-test-init-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    brn_job_spec s;
    small_spec(&s);
    s.augment = 0;
    s.train_subset = 1024;
    s.epochs = 2;
    snprintf(s.checkpoint_dir, sizeof s.checkpoint_dir, "%s", dir);
    record a = {0}, b = {0}, c = {0};
    CHECK_EQ_INT(run(&s, NULL, &a), 0);
    brn_job_spec t = s;
    t.checkpoint_dir[0] = 0;
    t.epochs = 1;
    snprintf(t.init, sizeof t.init, "%s/%s", dir, BRN_LAST_CHECKPOINT);
    CHECK_EQ_INT(run(&t, NULL, &b), 0);
    t.init[0] = 0;
    CHECK_EQ_INT(run(&t, NULL, &c), 0);
    fprintf(stderr, "  first-epoch train loss from the checkpoint %.4f, from scratch %.4f\n", b.m[0].train_loss,
            c.m[0].train_loss);
    CHECK(b.m[0].train_loss < 0.5 * c.m[0].train_loss);
    CHECK_EQ_INT(b.m[0].step, c.m[0].step);   /* a new run: steps count from 0 */
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_EQ_INT(system(cmd), 0);
}

static void test_learns_fashion_mnist(void)
{
    if (access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK)) {
        fprintf(stderr, "  skipped: Fashion-MNIST is not installed (dataset-fashion-mnist)\n");
        return;
    }
    brn_job_spec s;
    brn_spec_defaults(&s);
    s.depth = 10;
    s.width = 1;
    s.train_subset = 6000;
    s.test_subset = 2000;
    s.batch_size = 32;
    s.lr = 0.05;
    s.epochs = 1;
    s.threads = 2;
    s.augment = 0;
    record r = {0};
    CHECK_EQ_INT(run(&s, NULL, &r), 0);
    fprintf(stderr, "  WRN-10-1 bn, 6000 Fashion-MNIST images, 1 epoch: test acc %.4f\n", r.m[0].test_acc);
    CHECK(r.m[0].test_acc >= 0.70);
}

static int same_metrics(const brn_epoch_metrics *a, const brn_epoch_metrics *b)
{
    return a->epoch == b->epoch && a->step == b->step && a->train_loss == b->train_loss &&
           a->train_acc == b->train_acc && a->test_loss == b->test_loss &&
           a->test_acc == b->test_acc && a->lr == b->lr && a->rmax == b->rmax && a->dmax == b->dmax;
}

static void resume_spec(brn_job_spec *s, const char *dir)
{
    small_spec(s);
    s->norm = BRN_NORM_BRN;
    s->norm_momentum = 0.1;
    s->dropout = 0.2;          /* exercises the dropout masks' randomness */
    s->augment = 0;            /* flips change the synthetic classes; per-step crops are tested in test_batcher */
    s->train_subset = 1024;    /* 32 steps per epoch */
    s->test_subset = 256;
    s->epochs = 3;
    s->renorm_warmup = 10;
    s->rmax_steps = 60;
    s->dmax_steps = 40;
    snprintf(s->checkpoint_dir, sizeof s->checkpoint_dir, "%s", dir);
}

static void test_deterministic_and_resume(void)
{
    char base[] = "/tmp/brn-test-train-XXXXXX";
    CHECK(mkdtemp(base) != NULL);
    char a_dir[64], b_dir[64], c_dir[64], ckpt[128];
    snprintf(a_dir, sizeof a_dir, "%s/a", base);
    snprintf(b_dir, sizeof b_dir, "%s/b", base);
    snprintf(c_dir, sizeof c_dir, "%s/c", base);
    mkdir(a_dir, 0755), mkdir(b_dir, 0755), mkdir(c_dir, 0755);

    brn_job_spec s;
    record a = {0}, b = {0};
    resume_spec(&s, a_dir);
    CHECK_EQ_INT(run(&s, NULL, &a), 0);
    CHECK_EQ_INT(a.n, 3);

    /* the same seed and thread count give the same numbers */
    resume_spec(&s, c_dir);
    record c = {0};
    CHECK_EQ_INT(run(&s, NULL, &c), 0);
    for (int e = 0; e < 3; e++) CHECK(same_metrics(&a.m[e], &c.m[e]));

    /* stopped mid-epoch twice (steps 10 and 45), resumed each time: same per-epoch numbers */
    resume_spec(&s, b_dir);
    snprintf(ckpt, sizeof ckpt, "%s/%s", b_dir, BRN_LAST_CHECKPOINT);
    b.stop_at_step = 10;
    CHECK_EQ_INT(run(&s, NULL, &b), BRN_STOPPED);
    CHECK_EQ_INT(b.n, 0);
    b.stop_at_step = 45;
    CHECK_EQ_INT(run(&s, ckpt, &b), BRN_STOPPED);
    CHECK_EQ_INT(b.n, 1);
    b.stop_at_step = 0;
    CHECK_EQ_INT(run(&s, ckpt, &b), 0);
    CHECK_EQ_INT(b.n, 3);
    for (int e = 0; e < 3 && e < b.n; e++) {
        int same = same_metrics(&a.m[e], &b.m[e]);
        if (!same)
            fprintf(stderr, "  epoch %d: uninterrupted loss %.9g acc %.9g test %.9g | resumed %.9g %.9g %.9g\n", e + 1,
                    a.m[e].train_loss, a.m[e].train_acc, a.m[e].test_acc, b.m[e].train_loss, b.m[e].train_acc,
                    b.m[e].test_acc);
        CHECK(same);
    }
    fprintf(stderr, "  resumed twice mid-epoch: epoch 3 train loss %.9g test acc %.4f (uninterrupted %.9g %.4f)\n",
            b.m[2].train_loss, b.m[2].test_acc, a.m[2].train_loss, a.m[2].test_acc);

    /* the checkpoint has the PyTorch names, BRN's running_std, optimizer state and metadata */
    brn_st_file f;
    char err[256];
    snprintf(ckpt, sizeof ckpt, "%s/%s", a_dir, BRN_LAST_CHECKPOINT);
    CHECK_EQ_INT(brn_st_read(&f, ckpt, err, sizeof err), 0);
    const char *names[] = {"conv1.weight", "blocks.0.bn1.weight", "blocks.0.bn1.running_std", "blocks.1.shortcut.weight",
                           "blocks.2.conv2.weight", "bn.bias", "fc.weight", "fc.bias", "optim.momentum.fc.weight"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int found = brn_st_find(&f, names[i]) != NULL;
        if (!found) fprintf(stderr, "  checkpoint lacks %s\n", names[i]);
        CHECK(found);
    }
    CHECK(brn_st_find(&f, "blocks.0.bn1.running_var") == NULL);
    const brn_st_tensor *w = brn_st_find(&f, "conv1.weight");
    CHECK(w && w->ndim == 4 && w->shape[0] == 16 && w->shape[1] == 3 && w->shape[2] == 3);
    CHECK_STR_CONTAINS(brn_st_meta(&f, "spec"), "\"norm\":\"brn\"");
    CHECK_STR_CONTAINS(brn_st_meta(&f, "format"), "brn-checkpoint");
    CHECK(brn_st_meta(&f, "input_mean") != NULL);
    brn_st_free(&f);

    /* a checkpoint of another model is refused with a clear error */
    brn_job_spec other;
    resume_spec(&other, c_dir);
    other.width = 2;
    record o = {0};
    brn_train_hooks h = {.user = &o, .on_epoch = on_epoch};
    CHECK_EQ_INT(brn_train(&other, ckpt, &h, err, sizeof err), BRN_ECHECKPOINT);
    CHECK_STR_CONTAINS(err, "shape");

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", base);
    CHECK_EQ_INT(system(cmd), 0);
}

static void test_bad_settings(void)
{
    brn_job_spec s;
    char err[512];
    small_spec(&s);
    s.depth = 12;
    CHECK_EQ_INT(brn_train(&s, NULL, NULL, err, sizeof err), BRN_EINVAL);
    CHECK_STR_CONTAINS(err, "depth");
    small_spec(&s);
    strcpy(s.dataset, "cifar10");
    strcpy(s.data_dir, "/nonexistent");
    CHECK_EQ_INT(brn_train(&s, NULL, NULL, err, sizeof err), BRN_EDATA);
    CHECK_STR_CONTAINS(err, "/nonexistent");
    /* the CPU runs fp32 only, and says so naming the field */
    small_spec(&s);
    s.precision = BRN_PRECISION_BF16;
    strcpy(s.device, "cpu");
    CHECK_EQ_INT(brn_train(&s, NULL, NULL, err, sizeof err), BRN_EINVAL);
    CHECK_STR_CONTAINS(err, "precision: bf16 needs a GPU");
    /* auto without a usable GPU is the CPU: the same refusal */
    strcpy(s.device, "auto");
    CHECK_EQ_INT(brn_train(&s, NULL, NULL, err, sizeof err), BRN_EINVAL);
    CHECK_STR_CONTAINS(err, "precision");
    /* asking for a GPU this machine lacks says which is missing */
    char why[256] = "";
    brn_device_desc devs[4];
    if (brn_devices_list(devs, 4, why, sizeof why) == 1) {
        small_spec(&s);
        strcpy(s.device, "cuda:1");
        CHECK_EQ_INT(brn_train(&s, NULL, NULL, err, sizeof err), BRN_EDEVICE);
        CHECK_STR_CONTAINS(err, "device: cuda:1 is not available");
        CHECK_STR_CONTAINS(err, why);
    }
    small_spec(&s);
    s.norm = BRN_NORM_NONE;   /* without normalization a huge step size diverges */
    s.lr = 500;
    s.train_subset = 512;
    int rc = brn_train(&s, NULL, NULL, err, sizeof err);
    CHECK_EQ_INT(rc, BRN_ENAN);
    CHECK_STR_CONTAINS(err, "loss");
}

int main(int argc, char **argv)
{
    brn_blas_select_reexec(argv);
    TEST(test_bad_settings);
    TEST(test_learns_synthetic);
    TEST(test_other_norms_learn);
    TEST(test_init_from_checkpoint);
    TEST(test_deterministic_and_resume);
    TEST(test_learns_fashion_mnist);
    return CHECK_DONE();
}
