/* Plans the batches of a loaded dataset (batch_plan.h: which examples, which crops and
 * flips), for a backend or brn_batch_materialize to turn into normalized float batches.
 *
 * Inputs are scaled to [0,1] and normalized per channel with the mean and population std
 * of the training images the job uses. Every random choice (shuffle, non-i.i.d. label
 * picks, crop offsets, flips) is a function of (seed, epoch or step), so batch b of
 * epoch e is the same in a resumed run. Without shuffle, batch i holds examples
 * [i*B, (i+1)*B); an incomplete last batch is dropped. */
#ifndef BRN_BATCHER_H
#define BRN_BATCHER_H

#include <stdint.h>

#include "batch_plan.h"
#include "data/dataset.h"
#include "spec.h"

typedef struct brn_batcher {
    const brn_dataset *data;
    int batch;
    int augment, shuffle, non_iid, labels_per_batch;
    uint64_t seed;
    float mean[BRN_MAX_CHANNELS], std[BRN_MAX_CHANNELS];   /* per channel, on the [0,1] scale */
    long steps_per_epoch;
    long *order;             /* this epoch's example order (i.i.d.) */
    long **by_class;         /* non-i.i.d.: example indices per class */
    long *class_count;
    int epoch;               /* the epoch `order` was built for; -1 none */
    brn_batch_entry *plan;   /* room for one batch's plan (batch entries): the trainer's per step,
                                brn_batcher_train_batch's */
} brn_batcher;

int brn_batcher_init(brn_batcher *b, const brn_dataset *train, const brn_job_spec *s, char *err, size_t errlen);
void brn_batcher_free(brn_batcher *b);

/* d as a batch source with this job's input normalization (the training set's). */
void brn_batcher_source(const brn_batcher *b, const brn_dataset *d, brn_batch_source *out);

/* The plan (batch entries) of batch `index` (0-based) of epoch `epoch` (0-based) for
 * optimizer step `step`. */
void brn_batcher_train_plan(brn_batcher *b, int epoch, long index, long step, brn_batch_entry *plan);
/* That batch materialized: x[C][B][H][W], labels[B]. */
void brn_batcher_train_batch(brn_batcher *b, int epoch, long index, long step, float *x, int *labels);

/* Evaluation examples [start, start+n), in order, no augmentation. */
void brn_batcher_eval_plan(long start, int n, brn_batch_entry *plan);

#endif
