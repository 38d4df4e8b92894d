/* SVG plot: nice axes, tick labels, and the document's structure (panels, one path per
 * series and metric, dashed train lines, the legend, escaping, NaN gaps). */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "client/svg_plot.h"

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static void test_nice_axis(void)
{
    plot_axis a;
    plot_nice_axis(0.12, 2.31, 7, 0, &a);
    CHECK_CLOSE(a.step, 0.5, 1e-12, 0);
    CHECK_CLOSE(a.lo, 0.0, 1e-12, 0);
    CHECK_CLOSE(a.hi, 2.5, 1e-12, 0);
    CHECK_EQ_INT(a.n_ticks, 6);
    plot_nice_axis(1, 10, 10, 1, &a); /* epochs */
    CHECK_CLOSE(a.step, 1, 1e-12, 0);
    CHECK_CLOSE(a.lo, 1, 1e-12, 0);
    CHECK_CLOSE(a.hi, 10, 1e-12, 0);
    plot_nice_axis(1, 200, 10, 1, &a);
    CHECK(a.n_ticks <= 10);
    CHECK(a.lo <= 1 && a.hi >= 200);
    plot_nice_axis(5, 5, 7, 0, &a); /* flat data still gets a span */
    CHECK(a.lo < 5 && a.hi > 5);
    plot_nice_axis(83.1, 84.9, 7, 0, &a);
    CHECK(a.lo <= 83.1 && a.hi >= 84.9 && a.n_ticks <= 7 && a.n_ticks >= 2);
    plot_nice_axis(1, 1 + 1e-9, 7, 1, &a); /* one epoch with integer ticks */
    CHECK(a.step >= 1);
}

static void test_tick_labels(void)
{
    char b[32];
    plot_tick_label(b, sizeof b, 0.25, 0.05);
    CHECK_STR_CONTAINS(b, "0.25");
    plot_tick_label(b, sizeof b, 10, 5);
    CHECK(!strcmp(b, "10"));
    plot_tick_label(b, sizeof b, -1e-17, 0.5);
    CHECK(!strcmp(b, "0.0"));
    plot_tick_label(b, sizeof b, 1.5, 0.5);
    CHECK(!strcmp(b, "1.5"));
}

static char *render(const plot_series *s, int n, const char *title, int *rc)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    *rc = svg_plot_write(f, title, s, n);
    fclose(f);
    return buf;
}

static void test_document(void)
{
    plot_point a[3], b[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (plot_point){.x = i + 1, .train_loss = 1.0 / (i + 1), .train_acc = 0.5 + 0.1 * i,
                            .test_loss = 1.2 / (i + 1), .test_acc = 0.45 + 0.1 * i, .has_test = 1};
        b[i] = (plot_point){.x = i + 1, .train_loss = 0.9 / (i + 1), .train_acc = 0.55 + 0.1 * i,
                            .test_loss = 1.1 / (i + 1), .test_acc = 0.5 + 0.1 * i, .has_test = i != 1};
    }
    b[2].train_loss = NAN; /* a diverged step breaks the line instead of drawing garbage */
    plot_series s[2] = {{"#1 bn <a&b>", a, 3}, {"#2 brn rmax=3 dmax=5", b, 3}};
    int rc;
    char *svg = render(s, 2, "BN vs BRN", &rc);
    CHECK_EQ_INT(rc, 0);
    CHECK_STR_CONTAINS(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\"");
    CHECK_STR_CONTAINS(svg, "</svg>");
    CHECK_STR_CONTAINS(svg, "BN vs BRN");
    CHECK_STR_CONTAINS(svg, "#1 bn &lt;a&amp;b&gt;");
    CHECK_STR_CONTAINS(svg, "#2 brn rmax=3 dmax=5");
    CHECK_STR_CONTAINS(svg, ">epoch<");
    CHECK_STR_CONTAINS(svg, "accuracy (%)");
    CHECK_EQ_INT(count(svg, "<path "), 8);             /* 2 series x 4 metrics */
    CHECK_EQ_INT(count(svg, "stroke-dasharray=\"6,4\" d="), 4); /* train lines dashed */
    CHECK_EQ_INT(count(svg, "class=\"panel\""), 2);
    /* no non-finite coordinate was printed ("dominant" contains "nan": look at numbers) */
    CHECK(!strstr(svg, "nan,") && !strstr(svg, "nan\"") && !strstr(svg, "inf,") && !strstr(svg, "inf\""));
    free(svg);
}

static void test_legend_below_panels(void)
{
    /* The legend's rows start under the x-axis labels: the picture grows with the series. */
    plot_point p[1] = {{.x = 1, .train_loss = 1, .train_acc = 0.5, .test_loss = 1, .test_acc = 0.5, .has_test = 1}};
    plot_series one[1] = {{"x", p, 1}}, many[6];
    for (int i = 0; i < 6; i++) many[i] = one[0];
    int rc1, rc6;
    char *s1 = render(one, 1, NULL, &rc1), *s6 = render(many, 6, NULL, &rc6);
    int h1 = 0, h6 = 0;
    sscanf(strstr(s1, "height=\"") + 8, "%d", &h1);
    sscanf(strstr(s6, "height=\"") + 8, "%d", &h6);
    CHECK_EQ_INT(rc1, 0);
    CHECK_EQ_INT(rc6, 0);
    CHECK(h6 > h1);
    free(s1);
    free(s6);
}

static void test_bands(void)
{
    /* Bands around the test curves: one closed path per panel and run of banded points,
     * behind the lines, widening the axes to fit, and the legend says what they are. */
    plot_point p[4];
    for (int i = 0; i < 4; i++)
        p[i] = (plot_point){.x = i + 1, .train_loss = 1.0, .train_acc = 0.5, .test_loss = 1.0, .test_acc = 0.5,
                            .has_test = 1, .has_band = i != 2, .test_loss_lo = 0.9, .test_loss_hi = 1.1,
                            .test_acc_lo = 0.4, .test_acc_hi = 0.97};
    plot_series s[1] = {{.label = "bn", .pts = p, .n = 4}};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    const plot_options o = {.title = "t", .band_note = "band: ±1 std over seeds"};
    CHECK_EQ_INT(svg_plot_write_opts(f, &o, s, 1), 0);
    fclose(f);
    /* points 1-2 and 4 (3 has none): two runs in each of the two panels */
    CHECK_EQ_INT(count(buf, "class=\"band\""), 4);
    CHECK(strstr(buf, "class=\"band\"") < strstr(buf, "stroke-width=\"2\""));
    CHECK_STR_CONTAINS(buf, "band: ±1 std over seeds");
    CHECK_STR_CONTAINS(buf, ">100<"); /* the accuracy axis reaches the band's 97% */
    free(buf);
    /* without bands nothing is shaded and the legend has no band entry */
    for (int i = 0; i < 4; i++) p[i].has_band = 0;
    int rc;
    buf = render(s, 1, "t", &rc);
    CHECK_EQ_INT(count(buf, "class=\"band\""), 0);
    CHECK(!strstr(buf, "band:"));
    free(buf);
}

static void test_nothing_to_plot(void)
{
    int rc;
    char *svg = render(NULL, 0, NULL, &rc);
    CHECK_EQ_INT(rc, -1);
    free(svg);
    plot_series empty[1] = {{"x", NULL, 0}};
    svg = render(empty, 1, NULL, &rc);
    CHECK_EQ_INT(rc, -1);
    free(svg);
}

int main(void)
{
    TEST(test_nice_axis);
    TEST(test_tick_labels);
    TEST(test_document);
    TEST(test_legend_below_panels);
    TEST(test_bands);
    TEST(test_nothing_to_plot);
    return CHECK_DONE();
}
