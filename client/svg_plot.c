/* SVG rendering of loss/accuracy curves (see svg_plot.h). */
#include "svg_plot.h"

#include <math.h>
#include <string.h>

/* Geometry in px: two panels of PANEL_W x PANEL_H with room for the axis labels. */
enum { FIG_W = 1000, MARGIN_L = 70, PANEL_GAP = 90, MARGIN_R = 30, TITLE_H = 50,
       PANEL_H = 300, AXIS_H = 50, LEGEND_ROW = 20, LEGEND_PAD = 16, MAX_TICKS = 7,
       MAX_LABEL = 110, MAX_MARKERS = 40 };
#define PANEL_W ((FIG_W - MARGIN_L - PANEL_GAP - MARGIN_R) / 2)

/* Distinct colours for up to ten jobs, then they repeat. */
static const char *const PALETTE[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                      "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};
#define N_PALETTE (sizeof PALETTE / sizeof PALETTE[0])

static double nice_step(double raw)
{
    double p = pow(10.0, floor(log10(raw))), f = raw / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

void plot_nice_axis(double lo, double hi, int max_ticks, double min_step, plot_axis *a)
{
    if (!isfinite(lo) || !isfinite(hi)) lo = 0, hi = 1;
    if (hi < lo) { double t = lo; lo = hi; hi = t; }
    if (hi - lo < 1e-12) {
        double pad = fabs(lo) > 1e-12 ? fabs(lo) * 0.1 : 1.0;
        lo -= pad;
        hi += pad;
    }
    if (max_ticks < 2) max_ticks = 2;
    double step = nice_step((hi - lo) / (max_ticks - 1));
    if (step < min_step) step = min_step;
    for (;;) {
        a->lo = floor(lo / step + 1e-9) * step;
        a->hi = ceil(hi / step - 1e-9) * step;
        a->n_ticks = (int)llround((a->hi - a->lo) / step) + 1;
        if (a->n_ticks <= max_ticks) break;
        step = nice_step(step * 1.5);
    }
    a->step = step;
}

void plot_tick_label(char *out, size_t n, double v, double step)
{
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (fabs(v) < step * 1e-6) v = 0; /* no "-0" or "1e-17" at the origin */
    if (dec > 6) snprintf(out, n, "%.2g", v);
    else snprintf(out, n, "%.*f", dec, v);
}

static void xml_escaped(FILE *out, const char *s, int max)
{
    int k = 0;
    for (; *s && k < max; s++, k++) {
        switch (*s) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        default: fputc(*s, out);
        }
    }
    if (*s) fputs("…", out);
}

typedef struct panel {
    double x0, y0, w, h;    /* plot area in px */
    plot_axis ax, ay;
} panel;

static double px(const panel *p, double x) { return p->x0 + (x - p->ax.lo) / (p->ax.hi - p->ax.lo) * p->w; }
static double py(const panel *p, double y) { return p->y0 + p->h - (y - p->ay.lo) / (p->ay.hi - p->ay.lo) * p->h; }

static void draw_axes(FILE *out, const panel *p, const char *title, const char *ylabel)
{
    char lab[32];
    fprintf(out, "<g class=\"panel\">\n");
    fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fff\" stroke=\"#333\"/>\n",
            p->x0, p->y0, p->w, p->h);
    for (int i = 0; i < p->ay.n_ticks; i++) {
        double v = p->ay.lo + i * p->ay.step, y = py(p, v);
        if (i > 0 && i < p->ay.n_ticks - 1)
            fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>\n",
                    p->x0, y, p->x0 + p->w, y);
        fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n", p->x0 - 5, y, p->x0, y);
        plot_tick_label(lab, sizeof lab, v, p->ay.step);
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" dominant-baseline=\"middle\">%s</text>\n",
                p->x0 - 8, y, lab);
    }
    for (int i = 0; i < p->ax.n_ticks; i++) {
        double v = p->ax.lo + i * p->ax.step, x = px(p, v);
        if (i > 0 && i < p->ax.n_ticks - 1)
            fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>\n",
                    x, p->y0, x, p->y0 + p->h);
        fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n",
                x, p->y0 + p->h, x, p->y0 + p->h + 5);
        plot_tick_label(lab, sizeof lab, v, p->ax.step);
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", x, p->y0 + p->h + 20, lab);
    }
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">epoch</text>\n",
            p->x0 + p->w / 2, p->y0 + p->h + 40);
    fprintf(out, "<text transform=\"translate(%.1f,%.1f) rotate(-90)\" text-anchor=\"middle\">%s</text>\n",
            p->x0 - 52, p->y0 + p->h / 2, ylabel);
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-weight=\"bold\">%s</text>\n",
            p->x0 + p->w / 2, p->y0 - 8, title);
    fprintf(out, "</g>\n");
}

/* Value of one metric at a point; NAN when absent. which: 0 train loss, 1 test loss,
 * 2 train acc (%), 3 test acc (%). */
static double metric(const plot_point *q, int which)
{
    switch (which) {
    case 0: return q->train_loss;
    case 1: return q->has_test ? q->test_loss : NAN;
    case 2: return q->train_acc * 100.0;
    default: return q->has_test ? q->test_acc * 100.0 : NAN;
    }
}

static void draw_line(FILE *out, const panel *p, const plot_series *s, int which, const char *colour)
{
    int dashed = which == 0 || which == 2, pen = 0;
    fprintf(out, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s d=\"", colour,
            dashed ? " stroke-dasharray=\"6,4\"" : "");
    for (int i = 0; i < s->n; i++) {
        double v = metric(&s->pts[i], which);
        if (!isfinite(v) || !isfinite(s->pts[i].x)) {
            pen = 0;
            continue;
        }
        fprintf(out, "%c%.1f,%.1f ", pen ? 'L' : 'M', px(p, s->pts[i].x), py(p, v));
        pen = 1;
    }
    fprintf(out, "\"/>\n");
    /* Markers show single epochs on short runs; on long ones they would only clutter. */
    for (int i = 0; i < s->n && s->n <= MAX_MARKERS; i++) {
        double v = metric(&s->pts[i], which);
        if (!isfinite(v) || !isfinite(s->pts[i].x)) continue;
        fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
                px(p, s->pts[i].x), py(p, v), dashed ? "#fff" : colour);
        if (dashed) fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"none\" stroke=\"%s\"/>\n",
                            px(p, s->pts[i].x), py(p, v), colour);
    }
}

/* The band around metric which (1 test loss, 3 test acc) at a point: 0 when none. */
static int band(const plot_point *q, int which, double *lo, double *hi)
{
    if (!q->has_band || !q->has_test || (which != 1 && which != 3)) return 0;
    double k = which == 3 ? 100.0 : 1.0;
    *lo = (which == 3 ? q->test_acc_lo : q->test_loss_lo) * k;
    *hi = (which == 3 ? q->test_acc_hi : q->test_loss_hi) * k;
    return isfinite(*lo) && isfinite(*hi);
}

/* Shaded band of one series: a closed path along the upper edge and back along the lower,
 * one per run of consecutive points that have a band. */
static void draw_band(FILE *out, const panel *p, const plot_series *s, int which, const char *colour)
{
    double lo, hi;
    for (int i = 0; i < s->n;) {
        if (!band(&s->pts[i], which, &lo, &hi) || !isfinite(s->pts[i].x)) {
            i++;
            continue;
        }
        int j = i;
        while (j + 1 < s->n && band(&s->pts[j + 1], which, &lo, &hi) && isfinite(s->pts[j + 1].x)) j++;
        fprintf(out, "<path class=\"band\" fill=\"%s\" fill-opacity=\"0.18\" stroke=\"none\" d=\"", colour);
        for (int k = i; k <= j; k++) {
            band(&s->pts[k], which, &lo, &hi);
            /* a single point gets a little width so it shows */
            double dx = i == j ? 0.15 : 0;
            fprintf(out, "%c%.1f,%.1f ", k == i ? 'M' : 'L', px(p, s->pts[k].x - dx), py(p, hi));
            if (i == j) fprintf(out, "L%.1f,%.1f ", px(p, s->pts[k].x + dx), py(p, hi));
        }
        for (int k = j; k >= i; k--) {
            band(&s->pts[k], which, &lo, &hi);
            double dx = i == j ? 0.15 : 0;
            if (i == j) fprintf(out, "L%.1f,%.1f ", px(p, s->pts[k].x + dx), py(p, lo));
            fprintf(out, "L%.1f,%.1f ", px(p, s->pts[k].x - dx), py(p, lo));
        }
        fprintf(out, "Z\"/>\n");
        i = j + 1;
    }
}

/* Data range of metrics a and b over all series; returns the number of finite values. */
static int range_of(const plot_series *s, int n, int a, int b, double *lo, double *hi, double *xlo, double *xhi)
{
    int cnt = 0;
    *lo = INFINITY, *hi = -INFINITY;
    for (int k = 0; k < n; k++)
        for (int i = 0; i < s[k].n; i++) {
            const plot_point *q = &s[k].pts[i];
            if (!isfinite(q->x)) continue;
            for (int w = a; w <= b; w++) {
                double v = metric(q, w), blo, bhi;
                if (!isfinite(v)) continue;
                cnt++;
                if (v < *lo) *lo = v;
                if (v > *hi) *hi = v;
                if (band(q, w, &blo, &bhi)) {
                    if (blo < *lo) *lo = blo;
                    if (bhi > *hi) *hi = bhi;
                }
                if (q->x < *xlo) *xlo = q->x;
                if (q->x > *xhi) *xhi = q->x;
            }
        }
    return cnt;
}

int svg_plot_write(FILE *out, const char *title, const plot_series *s, int n)
{
    const plot_options o = {.title = title};
    return svg_plot_write_opts(out, &o, s, n);
}

int svg_plot_write_opts(FILE *out, const plot_options *o, const plot_series *s, int n)
{
    const char *title = o->title;
    double llo, lhi, alo, ahi, xlo = INFINITY, xhi = -INFINITY;
    if (n <= 0) return -1;
    int cnt = range_of(s, n, 0, 1, &llo, &lhi, &xlo, &xhi);
    cnt += range_of(s, n, 2, 3, &alo, &ahi, &xlo, &xhi);
    if (cnt == 0) return -1;
    /* A little air so points do not sit on the frame. */
    double lp = (lhi - llo) * 0.03, ap = (ahi - alo) * 0.03;
    if (lhi >= llo) llo -= lp, lhi += lp;
    if (ahi >= alo) alo -= ap, ahi += ap;
    panel loss = {.x0 = MARGIN_L, .y0 = TITLE_H, .w = PANEL_W, .h = PANEL_H};
    panel acc = {.x0 = MARGIN_L + PANEL_W + PANEL_GAP, .y0 = TITLE_H, .w = PANEL_W, .h = PANEL_H};
    /* Epochs are whole numbers: integer ticks, and one epoch still gets a visible span. */
    if (xhi - xlo < 1) xlo -= 1, xhi += 1;
    plot_nice_axis(xlo, xhi, MAX_TICKS + 3, 1, &loss.ax);
    acc.ax = loss.ax;
    if (lhi < llo) llo = 0, lhi = 1; /* no finite loss at all */
    plot_nice_axis(llo, lhi, MAX_TICKS, 0, &loss.ay);
    if (loss.ay.lo < 0 && llo >= 0) plot_nice_axis(0, lhi, MAX_TICKS, 0, &loss.ay);
    if (ahi < alo) alo = 0, ahi = 100;
    plot_nice_axis(alo, ahi, MAX_TICKS, 0, &acc.ay);
    if (acc.ay.lo < 0 && alo >= 0) plot_nice_axis(0, ahi, MAX_TICKS, 0, &acc.ay);
    if (acc.ay.hi > 100 && ahi <= 100) plot_nice_axis(alo, 100, MAX_TICKS, 0, &acc.ay);

    int legend_top = TITLE_H + PANEL_H + AXIS_H + LEGEND_PAD;
    int height = legend_top + (n + 1) * LEGEND_ROW + LEGEND_PAD;
    if (fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                     "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                     "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\">\n",
                FIG_W, height, FIG_W, height) < 0)
        return -1;
    fprintf(out, "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n");
    fprintf(out, "<text x=\"%d\" y=\"24\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">",
            FIG_W / 2);
    xml_escaped(out, title && title[0] ? title : "training curves", MAX_LABEL);
    fprintf(out, "</text>\n");
    draw_axes(out, &loss, "loss", "cross-entropy loss");
    draw_axes(out, &acc, "accuracy", "accuracy (%)");
    for (int k = 0; k < n; k++) {
        const char *c = PALETTE[k % N_PALETTE];
        fprintf(out, "<g class=\"series\" id=\"series-%d\">\n", k);
        draw_band(out, &loss, &s[k], 1, c);
        draw_band(out, &acc, &s[k], 3, c);
        draw_line(out, &loss, &s[k], 0, c);
        draw_line(out, &loss, &s[k], 1, c);
        draw_line(out, &acc, &s[k], 2, c);
        draw_line(out, &acc, &s[k], 3, c);
        fprintf(out, "</g>\n");
    }
    /* Legend: the line-style key, then one row per series. */
    double lx = MARGIN_L, ly = legend_top;
    fprintf(out, "<g class=\"legend\">\n");
    fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\" stroke-width=\"2\" "
                 "stroke-dasharray=\"6,4\"/>\n", lx, ly, lx + 30, ly);
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" dominant-baseline=\"middle\">train</text>\n", lx + 38, ly);
    fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\" stroke-width=\"2\"/>\n",
            lx + 90, ly, lx + 120, ly);
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" dominant-baseline=\"middle\">test</text>\n", lx + 128, ly);
    if (o->band_note) {
        fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"30\" height=\"12\" fill=\"#333\" fill-opacity=\"0.18\"/>\n",
                lx + 180, ly - 6);
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" dominant-baseline=\"middle\">", lx + 218, ly);
        xml_escaped(out, o->band_note, MAX_LABEL);
        fprintf(out, "</text>\n");
    }
    for (int k = 0; k < n; k++) {
        double y = ly + (k + 1) * LEGEND_ROW;
        fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"30\" height=\"4\" fill=\"%s\"/>\n", lx, y - 2,
                PALETTE[k % N_PALETTE]);
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" dominant-baseline=\"middle\">", lx + 38, y);
        xml_escaped(out, s[k].label ? s[k].label : "", MAX_LABEL);
        fprintf(out, "</text>\n");
    }
    fprintf(out, "</g>\n</svg>\n");
    return ferror(out) ? -1 : 0;
}
