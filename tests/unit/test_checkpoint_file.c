/* checkpoint_file.c: the trust policy (format, version, checksum), the run state's ranges
 * against the run's geometry, resume candidates in order, stale temporaries. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "checkpoint_file.h"
#include "engine.h"
#include "errors.h"

static void test_file_policy(void)
{
    brn_st_file f;
    char err[256];
    brn_st_init(&f);
    CHECK_EQ_INT(brn_checkpoint_file_check(&f, "x", err, sizeof err), 0); /* another writer's weights */
    brn_st_add_meta(&f, "format", "brn-checkpoint");
    CHECK_EQ_INT(brn_checkpoint_file_check(&f, "x", err, sizeof err), BRN_ECHECKPOINT); /* no version */
    brn_st_add_meta(&f, "version", "1");
    CHECK_EQ_INT(brn_checkpoint_file_check(&f, "x", err, sizeof err), 0); /* before checksums */
    free(f.meta_values[1]);
    f.meta_values[1] = strdup("2");
    CHECK_EQ_INT(brn_checkpoint_file_check(&f, "x", err, sizeof err), BRN_ECHECKPOINT);
    CHECK_STR_CONTAINS(err, "without its checksum");
    f.checksum_verified = 1;
    CHECK_EQ_INT(brn_checkpoint_file_check(&f, "x", err, sizeof err), 0);
    const char *bad[] = {"3", "0", "-1", "2x", ""};
    for (int i = 0; i < 5; i++) {
        free(f.meta_values[1]);
        f.meta_values[1] = strdup(bad[i]);
        CHECK_EQ_INT(brn_checkpoint_file_check(&f, "x", err, sizeof err), BRN_ECHECKPOINT);
    }
    free(f.meta_values[0]);
    f.meta_values[0] = strdup("brn-checkpoint-9");
    CHECK_EQ_INT(brn_checkpoint_file_check(&f, "x", err, sizeof err), BRN_ECHECKPOINT);
    brn_st_free(&f);
}

/* 8 steps per epoch, 3 epochs, batch 32: a valid mid-run state, then one field at a time. */
static void test_run_state_ranges(void)
{
    brn_job_spec s;
    brn_spec_defaults(&s);
    s.batch_size = 32;
    const brn_run_geometry g = {.steps_per_epoch = 8, .total_steps = 24, .epochs = 3};
    const brn_run_state ok = {.step = 11, .epoch = 1, .batch = 3, .loss_sum = 6.5, .correct = 40, .seen = 96,
                              .train_seconds = 1.5};
    char err[256];
    CHECK_EQ_INT(brn_run_state_check(&ok, &s, &g, "c", err, sizeof err), 0);
    const brn_run_state fresh = {0}, done = {.step = 24, .epoch = 3, .seen = 256, .correct = 3};
    CHECK_EQ_INT(brn_run_state_check(&fresh, &s, &g, "c", err, sizeof err), 0);
    CHECK_EQ_INT(brn_run_state_check(&done, &s, &g, "c", err, sizeof err), 0);
    brn_run_state eval_pending = {.step = 24, .epoch = 2, .batch = 8, .seen = 256};
    CHECK_EQ_INT(brn_run_state_check(&eval_pending, &s, &g, "c", err, sizeof err), 0);
    struct { brn_run_state st; const char *field; } bad[] = {
        {{.step = 11, .epoch = 1, .batch = -1000000, .seen = 96}, "batch -1000000"},
        {{.step = 11, .epoch = 1, .batch = 9, .seen = 96}, "batch 9"},
        {{.step = -1, .epoch = 0, .batch = 0}, "step -1"},
        {{.step = 25, .epoch = 3, .batch = 0}, "step 25"},
        {{.step = 11, .epoch = -1, .batch = 3, .seen = 96}, "epoch -1"},
        {{.step = 11, .epoch = 4, .batch = 3, .seen = 96}, "epoch 4"},
        {{.step = 12, .epoch = 1, .batch = 3, .seen = 96}, "step 12 does not match"},
        {{.step = 23, .epoch = 3, .batch = 0}, "a finished run"},
        {{.step = 11, .epoch = 1, .batch = 3, .seen = 95}, "seen 95"},
        {{.step = 8, .epoch = 1, .batch = 0, .seen = 257}, "seen 257"},
        {{.step = 11, .epoch = 1, .batch = 3, .seen = 96, .correct = 97}, "correct 97"},
        {{.step = 11, .epoch = 1, .batch = 3, .seen = 96, .correct = -1}, "correct -1"},
        {{.step = 11, .epoch = 1, .batch = 3, .seen = 96, .loss_sum = -1}, "loss_sum"},
        {{.step = 11, .epoch = 1, .batch = 3, .seen = 96, .loss_sum = 1.0 / 0.0}, "loss_sum"},
        {{.step = 11, .epoch = 1, .batch = 3, .seen = 96, .train_seconds = -2}, "train_seconds"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        CHECK_EQ_INT(brn_run_state_check(&bad[i].st, &s, &g, "c", err, sizeof err), BRN_ECHECKPOINT);
        CHECK_STR_CONTAINS(err, bad[i].field);
    }
}

static void test_spec_check(void)
{
    brn_job_spec s;
    brn_spec_defaults(&s);
    char err[256];
    CHECK_EQ_INT(brn_checkpoint_spec_check("{\"batch_size\":128}", &s, "c", err, sizeof err), 0);
    CHECK_EQ_INT(brn_checkpoint_spec_check("{\"batch_size\":64}", &s, "c", err, sizeof err), BRN_ECHECKPOINT);
    CHECK_STR_CONTAINS(err, "batch_size 64");
    CHECK_EQ_INT(brn_checkpoint_spec_check("{\"dataset\":\"cifar10\"}", &s, "c", err, sizeof err), BRN_ECHECKPOINT);
    CHECK_EQ_INT(brn_checkpoint_spec_check("{\"batch_size\":", &s, "c", err, sizeof err), BRN_ECHECKPOINT);
    CHECK_EQ_INT(brn_checkpoint_spec_check(NULL, &s, "c", err, sizeof err), BRN_ECHECKPOINT);
}

static void touch(const char *dir, const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (f) fclose(f);
}

static void test_candidates_and_stale(void)
{
    char dir[] = "/tmp/brn-ckf-XXXXXX", name[128];
    CHECK(mkdtemp(dir) != NULL);
    char paths[8][BRN_SPEC_PATH_LEN + 64];
    CHECK_EQ_INT(brn_checkpoint_candidates(dir, paths, 8), 0);
    const char *files[] = {"epoch-2.safetensors", "epoch-10.safetensors", "epoch-9.safetensors", "last.safetensors",
                           "epoch-0.safetensors", "epoch-3.safetensors.tmp.999999998", "epoch-x.safetensors",
                           "epoch-4.safetensorsx", "epoch-07.safetensors"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) touch(dir, files[i]);
    snprintf(name, sizeof name, "%s/epoch-5.safetensors", dir);
    mkdir(name, 0700); /* not a regular file */
    int n = brn_checkpoint_candidates(dir, paths, 8);
    CHECK_EQ_INT(n, 4);
    const char *want[] = {"last.safetensors", "epoch-10.safetensors", "epoch-9.safetensors", "epoch-2.safetensors"};
    for (int i = 0; i < n && i < 4; i++) {
        snprintf(name, sizeof name, "%s/%s", dir, want[i]);
        CHECK(!strcmp(paths[i], name));
    }
    CHECK_EQ_INT(brn_checkpoint_candidates(dir, paths, 2), 2);
    /* stale temporaries: a dead pid's and our own go, a live process's stays */
    snprintf(name, sizeof name, "last.safetensors.tmp.%d", (int)getpid());
    touch(dir, name);
    snprintf(name, sizeof name, "epoch-1.safetensors.tmp.%d", (int)getppid());
    touch(dir, name);
    touch(dir, "last.safetensors.tmp.999999999");
    touch(dir, "notes.tmp.abc");
    CHECK_EQ_INT(brn_checkpoint_remove_stale(dir), 3);
    snprintf(name, sizeof name, "%s/epoch-1.safetensors.tmp.%d", dir, (int)getppid());
    CHECK(access(name, F_OK) == 0);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK_EQ_INT(system(cmd), 0);
}

int main(void)
{
    TEST(test_file_policy);
    TEST(test_run_state_ranges);
    TEST(test_spec_check);
    TEST(test_candidates_and_stale);
    return CHECK_DONE();
}
