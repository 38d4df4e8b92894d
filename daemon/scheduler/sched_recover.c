/* Start-up recovery: every job left RUNNING gets one recovery write (sched_ops.c) that
 * counts a crash when its run was open, then fails it (too many crashes), cancels it (asked
 * before the stop) or re-queues it to resume first. Nothing starts before they are done. */
#include "sched_internal.h"

#include <stdlib.h>

#include "common/log.h"

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
    return 0;
}
