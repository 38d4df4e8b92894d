/* Per-epoch curves (GetMetrics' JobCurve) as tables, CSV, legend labels and plot points.
 * Pure formatting: FILE* in, nothing else touched. */
#ifndef BRNCTL_CURVES_H
#define BRNCTL_CURVES_H

#include <stddef.h>
#include <stdio.h>

#include "brn/v1/brn.pb-c.h"
#include "svg_plot.h"

/* Legend text naming the job, its norm and key settings: "#3 brn WRN-10-1 bs=32 rmax=3 dmax=5 mb=4". */
void curve_label(const Brn__V1__JobCurve *c, char *out, size_t n);

/* malloc'd points, one per stored epoch (NULL when the curve has none). */
plot_point *curve_points(const Brn__V1__JobCurve *c);

/* Human table: a header line per job, then one row per epoch. */
void curves_print_table(FILE *out, Brn__V1__JobCurve *const *curves, size_t n);

/* CSV with a header row; one row per (job, epoch); test columns empty when not evaluated. */
void curves_print_csv(FILE *out, Brn__V1__JobCurve *const *curves, size_t n);

/* One row per job: final and best numbers, for `compare`. */
void curves_print_summary(FILE *out, Brn__V1__JobCurve *const *curves, size_t n);

/* Writes the two-panel SVG for the curves; returns 0 or -1 (nothing to plot, I/O error). */
int curves_write_svg(FILE *out, const char *title, Brn__V1__JobCurve *const *curves, size_t n);

#endif
