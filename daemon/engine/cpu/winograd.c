/* Winograd F(2x2, 3x3) for 3x3 stride-1 pad-1 convolutions: each 2x2 output tile is
 * A^T [ (G g G^T) . (B^T d B) ] A over the 4x4 input patch d, so a convolution becomes 16
 * GEMMs  M[xi] = U[xi] (O x C) * V[xi] (C x tiles)  with 2.25x fewer multiplies than
 * im2col. The backward pass is the exact adjoint of that forward (transposed transforms and
 * GEMMs), so the gradients are those of the function computed.
 *
 * Like conv.c, work is split over chunks of images; every thread transforms its chunk into
 * its own scratch and calls single-threaded GEMMs. The filter gradients of the chunks are
 * reduced in chunk order, so results do not depend on the thread count. */
#include <omp.h>
#include <string.h>

#include "real.h"
#include "winograd.h"

#define XI 16   /* positions of a transformed 4x4 tile */

/* ---- transforms of one tile (t: 4x4 row-major) --------------------------------------------- */

/* filter: u = G g G^T, G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1] */
static void filter_tile(real u[16], const real g[9])
{
    real t[12];   /* G g: 4x3 */
    for (int j = 0; j < 3; j++) {
        t[0 + j] = g[j];
        t[3 + j] = (real)0.5 * (g[j] + g[3 + j] + g[6 + j]);
        t[6 + j] = (real)0.5 * (g[j] - g[3 + j] + g[6 + j]);
        t[9 + j] = g[6 + j];
    }
    for (int i = 0; i < 4; i++) {
        const real *r = t + 3 * i;
        u[4 * i + 0] = r[0];
        u[4 * i + 1] = (real)0.5 * (r[0] + r[1] + r[2]);
        u[4 * i + 2] = (real)0.5 * (r[0] - r[1] + r[2]);
        u[4 * i + 3] = r[2];
    }
}

/* ---- per image: padded copies and tile loops (vectorized over a row of tiles) --------------- */

typedef struct wino_geom {
    int C, O, H, W, TH, TW;   /* tiles: TH x TW of 2x2 outputs */
    int PW;                   /* padded input row: 2*TW + 2 */
    size_t tiles;             /* tiles in this chunk */
    size_t ld;                /* row stride of V and M: tiles and WINO_SLACK for whole blocks */
} wino_geom;

/* The 1D transforms on four values (a 4x4 tile's row or column): B^T (input), B (its
 * adjoint), and the 4 -> 2 output transform A^T with its adjoint A. */
#define BT4(o, d0, d1, d2, d3) \
    real o##0 = (d0) - (d2), o##1 = (d1) + (d2), o##2 = (d2) - (d1), o##3 = (d1) - (d3)
#define B4(o, q0, q1, q2, q3) \
    real o##0 = (q0), o##1 = (q1) - (q2) + (q3), o##2 = (q1) + (q2) - (q0), o##3 = -(q3)
#define AT4(o, q0, q1, q2, q3) real o##0 = (q0) + (q1) + (q2), o##1 = (q1) - (q2) - (q3)
#define A2(o, y0, y1) real o##0 = (y0), o##1 = (y0) + (y1), o##2 = (y0) - (y1), o##3 = -(y1)

/* Tiles are transformed in blocks (of up to TB) into a local buffer and then copied to the 16
 * strided destinations: stores with a run-time stride defeat gcc's vectorizer. A block is
 * always computed whole (a fixed trip count vectorizes without a scalar tail): lanes past
 * the row read the padded buffer's or the rows' slack and are never stored as tiles. */
#define TB WINO_SLACK
#define INLINE static inline __attribute__((always_inline))

/* Lanes of a block: the narrowest of 4, 8, TB that covers a row of tiles, so that narrow
 * images (8x8, 16x16) neither compute nor store lanes past the row. The transforms are
 * compiled once per width (inlined with a constant w) to keep fixed trip counts. */
static int block_lanes(int TW) { return TW <= 4 ? 4 : TW <= 8 ? 8 : TB; }
#define BY_LANES(f, TW, ...) \
    switch (block_lanes(TW)) { \
    case 4: f(__VA_ARGS__, 4); break; \
    case 8: f(__VA_ARGS__, 8); break; \
    default: f(__VA_ARGS__, TB); \
    }

INLINE void store_block(real *dst, size_t ld, const real (*blk)[TB], const int w)
{
    /* whole blocks: a fixed-size copy is a vector move, a variable one a slow rep movs; the
     * tail beyond the row lands in tiles stored later or in the row's slack */
    for (int xi = 0; xi < XI; xi++) memcpy(dst + xi * ld, blk[xi], sizeof(real) * w);
}

/* V[xi][c][t0 + th*TW + tw] = (B^T d B)[xi] for the padded image p, whose rows hold their
 * even then their odd columns (PE = TW + 1 each) so that every load is unit-stride */
INLINE void input_transform_w(real *V, size_t ldv, const real *p, const wino_geom *g, size_t t0, const int w)
{
    const int TW = g->TW, PE = TW + 1;
    _Alignas(64) real blk[XI][TB];
    for (int th = 0; th < g->TH; th++) {
        const real *e0 = p + (size_t)2 * th * 2 * PE, *e1 = e0 + 2 * PE, *e2 = e1 + 2 * PE, *e3 = e2 + 2 * PE;
        const real *o0 = e0 + PE, *o1 = e1 + PE, *o2 = e2 + PE, *o3 = e3 + PE;
        for (int tb = 0; tb < TW; tb += w) {
            for (int l = 0; l < w; l++) {
                const int tw = tb + l;
                /* columns of B^T d */
                BT4(a, e0[tw], e1[tw], e2[tw], e3[tw]);
                BT4(b, o0[tw], o1[tw], o2[tw], o3[tw]);
                BT4(c, e0[tw + 1], e1[tw + 1], e2[tw + 1], e3[tw + 1]);
                BT4(d, o0[tw + 1], o1[tw + 1], o2[tw + 1], o3[tw + 1]);
                /* rows of (B^T d) B */
#define ROW(i) { BT4(u, a##i, b##i, c##i, d##i); \
                blk[4 * i + 0][l] = u0; blk[4 * i + 1][l] = u1; blk[4 * i + 2][l] = u2; blk[4 * i + 3][l] = u3; }
                ROW(0) ROW(1) ROW(2) ROW(3)
#undef ROW
            }
            store_block(V + t0 + (size_t)th * TW + tb, ldv, (const real(*)[TB])blk, w);
        }
    }
}

static void input_transform(real *V, size_t ldv, const real *p, const wino_geom *g, size_t t0)
{
    BY_LANES(input_transform_w, g->TW, V, ldv, p, g, t0)
}

/* adjoint: p += B dV B^T per tile, p laid out as in input_transform. Tiles overlap by two
 * columns (a tile's columns 2, 3 are the next one's 0, 1). */
INLINE void input_adjoint_w(real *restrict p, const real *restrict dV, size_t ldv, const wino_geom *g, size_t t0,
                            const int w)
{
    const int TW = g->TW, PE = TW + 1;
    _Alignas(64) real blk[XI][TB];
    for (int th = 0; th < g->TH; th++) {
        const real *v = dV + t0 + (size_t)th * TW;
        for (int tb = 0; tb < TW; tb += w) {
            const int n = TW - tb < w ? TW - tb : w;
            for (int l = 0; l < w; l++) {
                const int tw = tb + l;
#define ROW(i) B4(q##i, v[(4 * i + 0) * ldv + tw], v[(4 * i + 1) * ldv + tw], v[(4 * i + 2) * ldv + tw], \
                  v[(4 * i + 3) * ldv + tw])
                ROW(0); ROW(1); ROW(2); ROW(3);
#undef ROW
                /* blk[4 * j + r]: row r, column j of the tile */
#define COL(j) { B4(u, q0##j, q1##j, q2##j, q3##j); \
                blk[4 * j + 0][l] = u0; blk[4 * j + 1][l] = u1; blk[4 * j + 2][l] = u2; blk[4 * j + 3][l] = u3; }
                COL(0) COL(1) COL(2) COL(3)
#undef COL
            }
            for (int r = 0; r < 4; r++) {
                real *e = p + (size_t)(2 * th + r) * 2 * PE + tb, *o = e + PE;
                /* columns 0, 1 of tile l and 2, 3 of tile l - 1 meet at e[l], o[l]: one pass
                 * (two passes stalled on stores re-read one lane over), whole blocks again,
                 * adding zero past the row */
                for (int l = 0; l < w; l++) {
                    const int a = l < n, b = l > 0 && l <= n;
                    e[l] = e[l] + (a ? blk[r][l] : 0) + (b ? blk[8 + r][l - 1] : 0);
                    o[l] = o[l] + (a ? blk[4 + r][l] : 0) + (b ? blk[12 + r][l - 1] : 0);
                }
                if (n == w) {
                    e[w] += blk[8 + r][w - 1];
                    o[w] += blk[12 + r][w - 1];
                }
            }
        }
    }
}

static void input_adjoint(real *restrict p, const real *restrict dV, size_t ldv, const wino_geom *g, size_t t0)
{
    BY_LANES(input_adjoint_w, g->TW, p, dV, ldv, g, t0)
}

/* out (2TH x 2TW) = A^T M A per tile. Whole blocks are stored too: with TW < w the surplus
 * lands in rows written afterwards or in out's slack; with TW >= w the last block is moved
 * back to end at the row's end (some tiles computed twice, same values). */
INLINE void output_transform_w(real *restrict out, const real *restrict M, size_t ldm, const wino_geom *g,
                               size_t t0, const int w)
{
    const int TW = g->TW, OW = 2 * TW;
    _Alignas(64) real blk[4][TB];
    for (int th = 0; th < g->TH; th++) {
        real *o0 = out + (size_t)2 * th * OW, *o1 = o0 + OW;
        const real *m = M + t0 + (size_t)th * TW;
        for (int tb0 = 0; tb0 < TW; tb0 += w) {
            const int tb = TW >= w && tb0 > TW - w ? TW - w : tb0;
            for (int l = 0; l < w; l++) {
                const int tw = tb + l;
#define ROW(i) AT4(q##i, m[(4 * i + 0) * ldm + tw], m[(4 * i + 1) * ldm + tw], m[(4 * i + 2) * ldm + tw], \
                   m[(4 * i + 3) * ldm + tw])
                ROW(0); ROW(1); ROW(2); ROW(3);
#undef ROW
                AT4(c, q00, q10, q20, q30);
                AT4(e, q01, q11, q21, q31);
                blk[0][l] = c0; blk[1][l] = e0; blk[2][l] = c1; blk[3][l] = e1;
            }
            /* row o0 before o1: a surplus of o0 runs into o1 */
            for (int l = 0; l < w; l++) {
                o0[2 * (tb + l)] = blk[0][l];
                o0[2 * (tb + l) + 1] = blk[1][l];
            }
            for (int l = 0; l < w; l++) {
                o1[2 * (tb + l)] = blk[2][l];
                o1[2 * (tb + l) + 1] = blk[3][l];
            }
        }
    }
}

static void output_transform(real *out, const real *M, size_t ldm, const wino_geom *g, size_t t0)
{
    BY_LANES(output_transform_w, g->TW, out, M, ldm, g, t0)
}

/* adjoint: dM = A dy A^T per tile of the zero-padded gradient dy, whose 2TH rows hold
 * their even then their odd columns (TW each) */
INLINE void output_adjoint_w(real *dM, size_t ldm, const real *dy, const wino_geom *g, size_t t0, const int w)
{
    const int TW = g->TW;
    _Alignas(64) real blk[XI][TB];
    for (int th = 0; th < g->TH; th++) {
        const real *e0 = dy + (size_t)2 * th * 2 * TW, *o0 = e0 + TW, *e1 = o0 + TW, *o1 = e1 + TW;
        for (int tb = 0; tb < TW; tb += w) {
            for (int l = 0; l < w; l++) {
                const int tw = tb + l;
                A2(c, e0[tw], e1[tw]);
                A2(e, o0[tw], o1[tw]);
#define ROW(i) { A2(u, c##i, e##i); \
                blk[4 * i + 0][l] = u0; blk[4 * i + 1][l] = u1; blk[4 * i + 2][l] = u2; blk[4 * i + 3][l] = u3; }
                ROW(0) ROW(1) ROW(2) ROW(3)
#undef ROW
            }
            store_block(dM + t0 + (size_t)th * TW + tb, ldm, (const real(*)[TB])blk, w);
        }
    }
}

static void output_adjoint(real *dM, size_t ldm, const real *dy, const wino_geom *g, size_t t0)
{
    BY_LANES(output_adjoint_w, g->TW, dM, ldm, dy, g, t0)
}

/* ---- chunk level ------------------------------------------------------------------------------ */

static wino_geom geom(const brn_conv_shape *s, int cnt)
{
    wino_geom g = {.C = s->cin, .O = s->cout, .H = s->h, .W = s->w, .TH = (s->h + 1) / 2, .TW = (s->w + 1) / 2};
    g.PW = 2 * g.TW + 2;
    g.tiles = (size_t)cnt * g.TH * g.TW;
    g.ld = g.tiles + WINO_SLACK;
    return g;
}

/* The padded image buffer: (2TH+2) x PW, zero outside the image; also holds a gradient. */
static size_t pad_size(const wino_geom *g) { return (size_t)(2 * g->TH + 2) * g->PW; }

/* even[k] = src[2k], odd[k] = src[2k + 1] for the n values of src */
static void split_row(real *restrict even, real *restrict odd, const real *restrict src, int n)
{
    for (int k = 0; k < n / 2; k++) {
        even[k] = src[2 * k];
        odd[k] = src[2 * k + 1];
    }
    if (n % 2) even[n / 2] = src[n - 1];
}

/* dst[2k] (+)= even[k], dst[2k + 1] (+)= odd[k]: the inverse of split_row */
static void merge_row(real *restrict dst, const real *restrict even, const real *restrict odd, int n, int accumulate)
{
    if (!accumulate)
        for (int k = 0; k < n / 2; k++) {
            dst[2 * k] = even[k];
            dst[2 * k + 1] = odd[k];
        }
    else
        for (int k = 0; k < n / 2; k++) {
            dst[2 * k] += even[k];
            dst[2 * k + 1] += odd[k];
        }
    if (n % 2) dst[n - 1] = (accumulate ? dst[n - 1] : 0) + even[n / 2];
}

/* V (16 x C x tiles) from images n0..n0+cnt-1 of x */
static void lower_input(real *V, real *pad, const real *x, const brn_conv_shape *s, const wino_geom *g, int n0,
                        int cnt)
{
    const size_t HW = (size_t)s->h * s->w, NHW = (size_t)s->n * HW, per_img = (size_t)g->TH * g->TW;
    memset(pad, 0, sizeof(real) * pad_size(g));
    for (int c = 0; c < g->C; c++)
        for (int j = 0; j < cnt; j++) {
            const real *img = x + c * NHW + (size_t)(n0 + j) * HW;
            for (int h = 0; h < g->H; h++) {
                /* image column w is padded column w + 1 */
                real *even = pad + (size_t)(h + 1) * g->PW, *odd = even + g->PW / 2;
                split_row(odd, even + 1, img + (size_t)h * g->W, g->W);
            }
            input_transform(V + c * g->ld, g->C * g->ld, pad, g, j * per_img);
        }
}

/* y images n0.. from M (16 x O x tiles) */
static void raise_output(real *y, real *buf, const real *M, const brn_conv_shape *s, const wino_geom *g,
                         int n0, int cnt)
{
    const size_t OHW = (size_t)s->oh * s->ow, NOHW = (size_t)s->n * OHW, per_img = (size_t)g->TH * g->TW;
    const int OW2 = 2 * g->TW;
    for (int o = 0; o < g->O; o++)
        for (int j = 0; j < cnt; j++) {
            real *img = y + o * NOHW + (size_t)(n0 + j) * OHW;
            output_transform(buf, M + o * g->ld, g->O * g->ld, g, j * per_img);
            for (int h = 0; h < s->oh; h++) memcpy(img + (size_t)h * s->ow, buf + (size_t)h * OW2,
                                                   sizeof(real) * s->ow);
        }
}

/* dM (16 x O x tiles) from dy images n0.. */
static void lower_output_grad(real *dM, real *buf, const real *dy, const brn_conv_shape *s, const wino_geom *g,
                              int n0, int cnt)
{
    const size_t OHW = (size_t)s->oh * s->ow, NOHW = (size_t)s->n * OHW, per_img = (size_t)g->TH * g->TW;
    const int OW2 = 2 * g->TW;
    memset(buf, 0, sizeof(real) * 4 * g->TH * g->TW);
    for (int o = 0; o < g->O; o++)
        for (int j = 0; j < cnt; j++) {
            const real *img = dy + o * NOHW + (size_t)(n0 + j) * OHW;
            for (int h = 0; h < s->oh; h++) split_row(buf + (size_t)h * OW2, buf + (size_t)h * OW2 + g->TW,
                                                      img + (size_t)h * s->ow, s->ow);
            output_adjoint(dM + o * g->ld, g->O * g->ld, buf, g, j * per_img);
        }
}

/* dx images n0.. = (or +=) the adjoint of lower_input applied to dV */
static void raise_input_grad(real *dx, real *pad, const real *dV, const brn_conv_shape *s, const wino_geom *g,
                             int n0, int cnt, int accumulate)
{
    const size_t HW = (size_t)s->h * s->w, NHW = (size_t)s->n * HW, per_img = (size_t)g->TH * g->TW;
    for (int c = 0; c < g->C; c++)
        for (int j = 0; j < cnt; j++) {
            real *img = dx + c * NHW + (size_t)(n0 + j) * HW;
            memset(pad, 0, sizeof(real) * pad_size(g));
            input_adjoint(pad, dV + c * g->ld, g->C * g->ld, g, j * per_img);
            for (int h = 0; h < g->H; h++) {
                const real *even = pad + (size_t)(h + 1) * g->PW, *odd = even + g->PW / 2;
                merge_row(img + (size_t)h * g->W, odd, even + 1, g->W, accumulate);
            }
        }
}

/* U[xi][o][c] for the whole filter bank w[O][C][3][3] */
static void transform_filters(real *U, const real *w, int O, int C)
{
    const size_t OC = (size_t)O * C;
#pragma omp parallel for schedule(static) num_threads(brn_cpu_threads())
    for (size_t i = 0; i < OC; i++) {
        real u[16];
        filter_tile(u, w + 9 * i);
        for (int xi = 0; xi < XI; xi++) U[xi * OC + i] = u[xi];
    }
}

/* Per-thread scratch: V (16 x C x ld), M (16 x O x ld), dU (16 x OCp), a padded image. */
typedef struct wino_scratch {
    real *V, *M, *dU, *pad;
} wino_scratch;

static wino_scratch thread_scratch(real *scratch, const brn_conv_shape *s, int tid)
{
    const wino_geom g = geom(s, brn_cpu_wino_chunk_images(s));
    real *base = scratch + brn_cpu_wino_shared_size(s) + brn_cpu_wino_thread_size(s) * tid;
    wino_scratch t;
    t.V = base;
    t.M = t.V + XI * g.C * g.ld;
    t.dU = t.M + XI * g.O * g.ld;
    t.pad = t.dU + XI * brn_cpu_wino_filters_padded(s);
    return t;
}

void FN(wino_conv_forward)(real *y, const real *x, const real *w, const brn_conv_shape *s, real *scratch)
{
    const int nc = brn_cpu_wino_chunk_images(s), chunks = (s->n + nc - 1) / nc;
    real *U = scratch;
    transform_filters(U, w, s->cout, s->cin);
#pragma omp parallel for schedule(dynamic) num_threads(brn_cpu_threads())
    for (int ch = 0; ch < chunks; ch++) {
        const int n0 = ch * nc, cnt = s->n - n0 < nc ? s->n - n0 : nc;
        const wino_geom g = geom(s, cnt);
        const wino_scratch t = thread_scratch(scratch, s, omp_get_thread_num());
        const int T = (int)g.tiles, ld = (int)g.ld;
        lower_input(t.V, t.pad, x, s, &g, n0, cnt);
        for (int xi = 0; xi < XI; xi++)
            cblas_gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g.O, T, g.C, 1, U + (size_t)xi * g.O * g.C, g.C,
                       t.V + (size_t)xi * g.C * ld, ld, 0, t.M + (size_t)xi * g.O * ld, ld);
        raise_output(y, t.pad, t.M, s, &g, n0, cnt);
    }
}

/* g[k][i] = (G^T dU G)[k] for every (o, c) = i < OCp: one chunk's filter gradient. OCp is
 * a multiple of TB, and the filters past O*C (padding of dU) give unused values. */
static void filter_grads(real *g, const real *dU, size_t OCp)
{
    _Alignas(64) real blk[9][TB];
    for (size_t i0 = 0; i0 < OCp; i0 += TB) {
        const real *u = dU + i0;
        for (int l = 0; l < TB; l++) {
#define ROW(r, i) const real r##1 = u[(4 * i + 1) * OCp + l], r##2 = u[(4 * i + 2) * OCp + l]; \
            const real t##r##0 = u[4 * i * OCp + l] + (real)0.5 * (r##1 + r##2), t##r##1 = (real)0.5 * (r##1 - r##2); \
            const real t##r##2 = u[(4 * i + 3) * OCp + l] + (real)0.5 * (r##1 + r##2);
            ROW(a, 0) ROW(b, 1) ROW(c, 2) ROW(d, 3)
#undef ROW
            /* u G above (rows a..d of 4x3), G^T (u G) here */
#define COL(j) blk[j][l] = ta##j + (real)0.5 * (tb##j + tc##j); blk[3 + j][l] = (real)0.5 * (tb##j - tc##j); \
            blk[6 + j][l] = td##j + (real)0.5 * (tb##j + tc##j);
            COL(0) COL(1) COL(2)
#undef COL
        }
        for (int k = 0; k < 9; k++) memcpy(g + k * OCp + i0, blk[k], sizeof(real) * TB);
    }
}

#define RB 256   /* filters per block of the reduction */

/* dw[i][k] += the chunks' gradients g[chunk][k][i] (row stride OCp), summed in chunk order */
static void reduce_filter_grads(real *dw, const real *g, int chunks, size_t OC, size_t OCp)
{
#pragma omp parallel for schedule(static) num_threads(brn_cpu_threads())
    for (size_t i0 = 0; i0 < OC; i0 += RB) {
        const size_t n = OC - i0 < RB ? OC - i0 : RB;
        real acc[9][RB];
        memset(acc, 0, sizeof acc);
        for (int ch = 0; ch < chunks; ch++)
            for (int k = 0; k < 9; k++) {
                const real *p = g + ((size_t)ch * 9 + k) * OCp + i0;
                for (size_t l = 0; l < n; l++) acc[k][l] += p[l];
            }
        for (size_t l = 0; l < n; l++)
            for (int k = 0; k < 9; k++) dw[9 * (i0 + l) + k] += acc[k][l];
    }
}

/* Each chunk's filter gradient has its own slot, reduced in chunk order afterwards: the
 * chunks can go to whichever thread is free and the sum stays the same. */
void FN(wino_conv_backward)(real *dx, real *dw, const real *dy, const real *x, const real *w,
                            const brn_conv_shape *s, int accumulate_dx, real *scratch)
{
    const int nc = brn_cpu_wino_chunk_images(s), chunks = (s->n + nc - 1) / nc, O = s->cout, C = s->cin;
    const size_t OC = (size_t)O * C, OCp = brn_cpu_wino_filters_padded(s);
    real *U = scratch, *grads = scratch + XI * OC;
    if (dx) transform_filters(U, w, O, C);
#pragma omp parallel num_threads(brn_cpu_threads())
    {
        const wino_scratch t = thread_scratch(scratch, s, omp_get_thread_num());
#pragma omp for schedule(dynamic)
        for (int ch = 0; ch < chunks; ch++) {
            const int n0 = ch * nc, cnt = s->n - n0 < nc ? s->n - n0 : nc;
            const wino_geom g = geom(s, cnt);
            const int T = (int)g.tiles, ld = (int)g.ld;
            lower_input(t.V, t.pad, x, s, &g, n0, cnt);
            lower_output_grad(t.M, t.pad, dy, s, &g, n0, cnt);
            for (int xi = 0; xi < XI; xi++) {
                real *V = t.V + (size_t)xi * C * ld;
                const real *dM = t.M + (size_t)xi * O * ld;
                cblas_gemm(CblasRowMajor, CblasNoTrans, CblasTrans, O, C, T, 1, dM, ld, V, ld, 0,
                           t.dU + xi * OCp, C);
                /* V[xi] is no longer needed: it takes dV[xi] = U[xi]^T dM[xi] */
                if (dx)
                    cblas_gemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, T, O, 1, U + xi * OC, C, dM, ld, 0, V,
                               ld);
            }
            filter_grads(grads + (size_t)ch * 9 * OCp, t.dU, OCp);
            if (dx) raise_input_grad(dx, t.pad, t.V, s, &g, n0, cnt, accumulate_dx);
        }
    }
    reduce_filter_grads(dw, grads, chunks, OC, OCp);
}
