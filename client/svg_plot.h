/* SVG line plots of training curves: the BN-vs-BRN picture.
 *
 * Two panels side by side, loss and accuracy (%) per epoch; one colour per series,
 * dashed = train, solid = test; axes with "nice" ticks; a legend below the panels so it
 * never covers a line. Pure: writes to a FILE*, no I/O besides it. */
#ifndef BRNCTL_SVG_PLOT_H
#define BRNCTL_SVG_PLOT_H

#include <stdio.h>

typedef struct plot_point {
    double x;                        /* epoch */
    double train_loss, train_acc;    /* acc as a fraction */
    double test_loss, test_acc;
    int has_test;                    /* 0: the epoch was not evaluated */
    /* Optional band around the test curves (e.g. ±1 std over seeds), drawn when has_band. */
    int has_band;
    double test_loss_lo, test_loss_hi, test_acc_lo, test_acc_hi;
} plot_point;

typedef struct plot_series {
    const char *label;               /* legend text, e.g. "#3 brn rmax=3 dmax=5 mb=4" */
    const plot_point *pts;
    int n;
} plot_series;

/* Writes a complete SVG document. Returns 0, or -1 when there is nothing to plot
 * (no series or no points) or on a write error. Non-finite values break the line. */
int svg_plot_write(FILE *out, const char *title, const plot_series *series, int n_series);

typedef struct plot_options {
    const char *title;
    const char *band_note;           /* legend text for the bands ("band: ±1 std over seeds"); NULL: none */
} plot_options;

/* svg_plot_write with options; bands are shaded in the series' colour behind its lines. */
int svg_plot_write_opts(FILE *out, const plot_options *o, const plot_series *series, int n_series);

/* Axis ticks: a range [lo, hi] covering the data with at most max_ticks ticks at multiples
 * of step (1, 2 or 5 times a power of ten; at least min_step). */
typedef struct plot_axis {
    double lo, hi, step;
    int n_ticks;
} plot_axis;

void plot_nice_axis(double data_lo, double data_hi, int max_ticks, double min_step, plot_axis *a);

/* Tick label with as many decimals as the step needs ("0.25", "10", "1e-05" stays short). */
void plot_tick_label(char *out, size_t n, double v, double step);

#endif
