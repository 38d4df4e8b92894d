/* Jobs and watch events as human text: the list table, the status page, the lines and
 * progress bar of `watch`. Pure formatting (FILE* or buffers in). */
#ifndef BRNCTL_JOB_FORMAT_H
#define BRNCTL_JOB_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "brn/v1/brn.pb-c.h"

const char *jobfmt_state_name(int state);              /* "RUNNING" */
int jobfmt_state_terminal(int state);                  /* SUCCEEDED, FAILED or CANCELLED */
/* Parses "running" / "RUNNING" / "JOB_STATE_RUNNING"; returns the enum value or -1. */
int jobfmt_state_parse(const char *s);

/* "2m03s", "1h02m", "850ms" */
void jobfmt_duration(char *out, size_t n, int64_t ms);

void jobfmt_print_table(FILE *out, Brn__V1__Job *const *jobs, size_t n, int64_t now_ms);
void jobfmt_print_detail(FILE *out, const Brn__V1__Job *j, int64_t now_ms);

/* "epoch 2/3  train loss 0.5123 acc 81.25%  test loss 0.4410 acc 84.10%  lr 0.05  12.3s" */
void jobfmt_epoch_line(char *out, size_t n, const Brn__V1__EpochMetrics *e, int total_epochs);

/* "[#####.....]  42%  epoch 2/3 batch 5/8  loss 0.53 acc 81.2%  1234 img/s" in at most
 * width columns (width >= 40). total_epochs 0 = unknown. */
void jobfmt_progress_bar(char *out, size_t n, const Brn__V1__Progress *p, int total_epochs, int width);

#endif
