/* Start-up recovery: every job left RUNNING gets one recovery write (sched_ops.c) that
 * counts a crash when its run was open, then fails it (too many crashes), cancels it (asked
 * before the stop) or re-queues it to resume first. Nothing starts before they are done.
 * Checkpoint temporaries that a killed brnd left in any job's directory are removed, also
 * for jobs that will never run again (failed, cancelled, crashed). */
#include "sched_internal.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

#include "checkpoint_file.h"
#include "common/jobdir.h"
#include "common/log.h"

/* <state_dir>/jobs/<id>/: every job directory's dead writers' temporaries; returns the count */
static int remove_stale_temporaries(const char *state_dir)
{
    char jobs[BRN_SPEC_PATH_LEN], dir[BRN_SPEC_PATH_LEN + 300];
    DIR *d = jobdir_parent(jobs, sizeof jobs, state_dir) ? NULL : opendir(jobs);
    if (!d) return 0;
    int removed = 0;
    const struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(dir, sizeof dir, "%s/%s", jobs, e->d_name);
        removed += brn_checkpoint_remove_stale(dir);
    }
    closedir(d);
    return removed;
}

int scheduler_recover(brn_scheduler *s, char *err, size_t errlen)
{
    brn_job_row *rows = NULL;
    int n = 0, rc;
    if ((rc = store_jobs_in_state(s->store, BRN_JOB_RUNNING, &rows, &n, err, errlen))) return rc;
    if (n > 0 && !(s->resume_first = calloc((size_t)n, sizeof *s->resume_first))) {
        brn_job_rows_free(rows, n);
        return brn_errorf(err, errlen, BRN_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++)
        if (sched_write_recover(s, &rows[i])) LOG_ERROR("job %lld: cannot recover it now", (long long)rows[i].id);
    brn_job_rows_free(rows, n);
    int stale = s->state_dir ? remove_stale_temporaries(s->state_dir) : 0;
    if (stale) LOG_INFO("removed %d checkpoint temporar%s left by a brnd that was killed", stale, stale == 1 ? "y" : "ies");
    return 0;
}
