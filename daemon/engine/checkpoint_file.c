/* Checkpoint files: the trust policy, the run state's ranges, resume candidates and stale
 * temporaries (see checkpoint_file.h). */
#include "checkpoint_file.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"
#include "errors.h"

/* The first version whose writer stores a checksum. */
#define CHECKSUM_SINCE_VERSION 2

int brn_checkpoint_file_check(const brn_st_file *f, const char *what, char *err, size_t errlen)
{
    const char *fmt = brn_st_meta(f, "format"), *ver = brn_st_meta(f, "version");
    if (!fmt) return 0; /* another writer's weights: only the shapes will be checked */
    if (strcmp(fmt, BRN_CHECKPOINT_FORMAT))
        return brn_errorf(err, errlen, BRN_ECHECKPOINT, "%s: unknown format '%.40s'", what, fmt);
    char *end;
    long v = ver ? strtol(ver, &end, 10) : 0;
    if (!ver || end == ver || *end || v < 1 || v > BRN_CHECKPOINT_VERSION)
        return brn_errorf(err, errlen, BRN_ECHECKPOINT, "%s: checkpoint version '%.20s' is not one of 1..%d", what,
                          ver ? ver : "(none)", BRN_CHECKPOINT_VERSION);
    if (v >= CHECKSUM_SINCE_VERSION && !f->checksum_verified)
        return brn_errorf(err, errlen, BRN_ECHECKPOINT, "%s: a version %ld checkpoint without its checksum: corrupt",
                          what, v);
    return 0;
}

int brn_checkpoint_file_read(brn_st_file *f, const char *path, char *err, size_t errlen)
{
    int rc = brn_st_read(f, path, err, errlen);
    if (!rc && (rc = brn_checkpoint_file_check(f, path, err, errlen))) brn_st_free(f);
    return rc;
}

#define BAD(...) return brn_errorf(err, errlen, BRN_ECHECKPOINT, __VA_ARGS__)

int brn_run_state_check(const brn_run_state *st, const brn_job_spec *spec, const brn_run_geometry *g,
                        const char *what, char *err, size_t errlen)
{
    const long spe = g->steps_per_epoch, max_seen = spe * (long)spec->batch_size;
    if (st->epoch < 0 || st->epoch > g->epochs)
        BAD("%s: run state: epoch %d is not in 0..%d", what, st->epoch, g->epochs);
    if (st->batch < 0 || st->batch > spe)
        BAD("%s: run state: batch %ld is not in 0..%ld (steps per epoch)", what, st->batch, spe);
    if (st->step < 0 || st->step > g->total_steps)
        BAD("%s: run state: step %ld is not in 0..%ld", what, st->step, g->total_steps);
    if (st->epoch == g->epochs) {
        if (st->batch != 0 || st->step != g->total_steps)
            BAD("%s: run state: a finished run must be at batch 0 and step %ld, not batch %ld and step %ld", what,
                g->total_steps, st->batch, st->step);
    } else if (st->step != (long)st->epoch * spe + st->batch) {
        BAD("%s: run state: step %ld does not match epoch %d and batch %ld (%ld steps per epoch)", what, st->step,
            st->epoch, st->batch, spe);
    }
    if (st->seen < 0 || st->seen > max_seen || (st->batch > 0 && st->seen != st->batch * spec->batch_size))
        BAD("%s: run state: seen %ld does not match batch %ld of size %d", what, st->seen, st->batch,
            spec->batch_size);
    if (st->correct < 0 || st->correct > st->seen)
        BAD("%s: run state: correct %ld is not in 0..%ld (seen)", what, st->correct, st->seen);
    if (!isfinite(st->loss_sum) || st->loss_sum < 0)
        BAD("%s: run state: loss_sum %g is not a finite sum of losses", what, st->loss_sum);
    if (!isfinite(st->train_seconds) || st->train_seconds < 0)
        BAD("%s: run state: train_seconds %g is not a finite duration", what, st->train_seconds);
    return 0;
}

int brn_checkpoint_spec_check(const char *stored_json, const brn_job_spec *spec, const char *what, char *err,
                              size_t errlen)
{
    brn_job_spec was;
    char why[256];
    if (!stored_json) BAD("%s: no job spec in its metadata", what);
    if (brn_spec_from_json_text(stored_json, &was, why, sizeof why)) BAD("%s: its stored spec: %s", what, why);
    if (strcmp(was.dataset, spec->dataset))
        BAD("%s: written for dataset %s, this job trains on %s", what, was.dataset, spec->dataset);
    if (was.train_subset != spec->train_subset)
        BAD("%s: written with train_subset %d, this job has %d", what, was.train_subset, spec->train_subset);
    if (was.batch_size != spec->batch_size)
        BAD("%s: written with batch_size %d, this job has %d", what, was.batch_size, spec->batch_size);
    return 0;
}

/* "epoch-N.safetensors" -> N, or -1. */
static long epoch_file_number(const char *name)
{
    const char *p = name + 6;
    if (strncmp(name, "epoch-", 6) || *p < '1' || *p > '9') return -1;
    char *end;
    errno = 0;
    long n = strtol(p, &end, 10);
    if (errno || strcmp(end, ".safetensors")) return -1;
    return n;
}

static int cmp_desc(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static int is_regular(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int brn_checkpoint_candidates(const char *dir, char paths[][BRN_SPEC_PATH_LEN + 64], int max)
{
    int n = 0;
    if (max < 1) return 0;
    snprintf(paths[n], sizeof paths[0], "%s/%s", dir, BRN_LAST_CHECKPOINT);
    if (is_regular(paths[n])) n++;
    DIR *d = opendir(dir);
    if (!d) return n;
    long nums[BRN_CHECKPOINT_MAX_CANDIDATES * 4];
    int k = 0;
    const struct dirent *e;
    while ((e = readdir(d))) {
        long num = epoch_file_number(e->d_name);
        if (num < 1) continue;
        if (k < (int)(sizeof nums / sizeof nums[0])) {
            nums[k++] = num;
        } else { /* keep the highest numbers */
            qsort(nums, (size_t)k, sizeof nums[0], cmp_desc);
            if (num > nums[k - 1]) nums[k - 1] = num;
        }
    }
    closedir(d);
    qsort(nums, (size_t)k, sizeof nums[0], cmp_desc);
    for (int i = 0; i < k && n < max; i++) {
        snprintf(paths[n], sizeof paths[0], "%s/epoch-%ld.safetensors", dir, nums[i]);
        if (is_regular(paths[n])) n++;
    }
    return n;
}

/* "x.tmp.<pid>" -> pid, or -1. */
static long tmp_file_pid(const char *name)
{
    const char *p = strstr(name, BRN_ST_TMP_INFIX);
    if (!p) return -1;
    const char *q;
    while ((q = strstr(p + 1, BRN_ST_TMP_INFIX))) p = q; /* the last one */
    p += sizeof BRN_ST_TMP_INFIX - 1;
    char *end;
    errno = 0;
    long pid = strtol(p, &end, 10);
    if (errno || end == p || *end || pid <= 0) return -1;
    return pid;
}

int brn_checkpoint_remove_stale(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int removed = 0;
    const struct dirent *e;
    char path[BRN_SPEC_PATH_LEN + 300];
    while ((e = readdir(d))) {
        long pid = tmp_file_pid(e->d_name);
        if (pid < 0) continue;
        int gone = pid == (long)getpid() || (kill((pid_t)pid, 0) != 0 && errno == ESRCH);
        if (!gone) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (is_regular(path) && unlink(path) == 0) removed++;
    }
    closedir(d);
    return removed;
}
