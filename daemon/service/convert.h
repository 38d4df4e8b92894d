/* Store rows and engine records -> heap proto messages. Every result is freed with
 * protobuf_c_message_free_unpacked(&m->base, NULL): all strings, arrays and nested
 * messages are malloc'd. NULL on out of memory (or a spec that does not parse). */
#ifndef BRN_SVC_CONVERT_H
#define BRN_SVC_CONVERT_H

#include "brn/v1/brn.pb-c.h"
#include "engine.h"
#include "store/store.h"

Brn__V1__JobState convert_job_state(brn_job_state st);
/* proto state -> store state, or -1 for UNSPECIFIED / unknown values */
int convert_job_state_from_proto(int st);

Brn__V1__Job *convert_job(const brn_job_row *row);
Brn__V1__EpochMetrics *convert_epoch(const brn_epoch_metrics *m);
Brn__V1__Progress *convert_progress(const brn_step_info *s);

#endif
