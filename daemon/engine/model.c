/* WRN on the CPU: layout, initialization, forward and backward. */
#include "model.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "rng.h"

/* ---- building the tensor table ---------------------------------------------------------- */

static int add_tensor(brn_model *m, brn_tensor_kind kind, size_t *offset, int ndim, const int *shape,
                      const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int add_tensor(brn_model *m, brn_tensor_kind kind, size_t *offset, int ndim, const int *shape,
                      const char *fmt, ...)
{
    if (m->n_tensors == m->cap_tensors) {
        int cap = m->cap_tensors ? 2 * m->cap_tensors : 64;
        brn_tensor_info *t = realloc(m->tensors, sizeof *t * cap);
        if (!t) return BRN_ENOMEM;
        m->tensors = t;
        m->cap_tensors = cap;
    }
    brn_tensor_info *t = &m->tensors[m->n_tensors++];
    memset(t, 0, sizeof *t);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    t->kind = kind;
    t->ndim = ndim;
    t->count = 1;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        t->count *= (size_t)shape[i];
    }
    size_t *total = kind == BRN_TENSOR_PARAM ? &m->n_params : &m->n_buffers;
    t->offset = *total;
    *total += t->count;
    *offset = t->offset;
    return 0;
}

static int add_conv(brn_model *m, brn_conv_layer *l, int cin, int cout, int k, int stride, const char *name)
{
    l->cin = cin;
    l->cout = cout;
    l->k = k;
    l->stride = stride;
    int shape[4] = {cout, cin, k, k};
    return add_tensor(m, BRN_TENSOR_PARAM, &l->w, 4, shape, "%s.weight", name);
}

static int add_norm(brn_model *m, brn_norm_layer *l, int c, const char *name)
{
    snprintf(l->name, sizeof l->name, "%s", name);
    l->c = c;
    if (m->cfg.norm == BRN_NORM_NONE) return 0;
    int rc = add_tensor(m, BRN_TENSOR_PARAM, &l->gamma, 1, &c, "%s.weight", name);
    rc = rc ? rc : add_tensor(m, BRN_TENSOR_PARAM, &l->beta, 1, &c, "%s.bias", name);
    if (rc || (m->cfg.norm != BRN_NORM_BN && m->cfg.norm != BRN_NORM_BRN)) return rc;
    rc = add_tensor(m, BRN_TENSOR_BUFFER, &l->run_mean, 1, &c, "%s.running_mean", name);
    return rc ? rc : add_tensor(m, BRN_TENSOR_BUFFER, &l->run_var, 1, &c, "%s.%s", name,
                                m->cfg.norm == BRN_NORM_BRN ? "running_std" : "running_var");
}

/* ---- activations ------------------------------------------------------------------------- */

typedef struct arena_plan {
    size_t used;
    float *base;
} arena_plan;

/* First pass (base == NULL) only counts; second pass hands out pointers. */
static float *take(arena_plan *a, size_t count)
{
    count = (count + 15) & ~(size_t)15;   /* 64-byte alignment for vector loads */
    float *p = a->base ? a->base + a->used : NULL;
    a->used += count;
    return p;
}

static void plan_activations(brn_model *m, arena_plan *a)
{
    const brn_model_config *c = &m->cfg;
    const int N = c->max_batch;
    int h = c->in_h, w = c->in_w;
    size_t max_act = (size_t)N * c->in_c * h * w;
    m->input = take(a, max_act);
    m->stem_out = take(a, (size_t)N * 16 * h * w);
    for (int i = 0; i < m->n_blocks; i++) {
        brn_block *b = &m->blocks[i];
        size_t in_sz = (size_t)N * b->cin * h * w;
        int oh = (h - 1) / b->stride + 1, ow = (w - 1) / b->stride + 1;
        size_t out_sz = (size_t)N * b->cout * oh * ow;
        b->ih = h;
        b->iw = w;
        b->oh = oh;
        b->ow = ow;
        b->a1 = take(a, in_sz);
        b->c1 = take(a, out_sz);
        b->a2 = take(a, out_sz);
        b->d2 = c->dropout > 0 ? take(a, out_sz) : b->a2;
        b->keep = c->dropout > 0 ? (uint8_t *)take(a, (out_sz + 3) / 4) : NULL;
        b->out = take(a, out_sz);
        b->n1.saved = take(a, 4 * (size_t)b->cin * N + 2 * (size_t)N * c->gn_groups);
        b->n2.saved = take(a, 4 * (size_t)b->cout * N + 2 * (size_t)N * c->gn_groups);
        if (in_sz > max_act) max_act = in_sz;
        if (out_sz > max_act) max_act = out_sz;
        h = oh;
        w = ow;
    }
    m->final_a = take(a, (size_t)N * m->feat * h * w);
    m->final_norm.saved = take(a, 4 * (size_t)m->feat * N + 2 * (size_t)N * c->gn_groups);
    m->pooled = take(a, (size_t)N * m->feat);
    m->logits = take(a, (size_t)N * c->classes);
    m->dlogits = take(a, (size_t)N * c->classes);
    m->sc_tmp = take(a, max_act);
    for (int i = 0; i < 5; i++) m->g[i] = take(a, max_act);
}

/* Conv scratch: the largest per-thread lowering of any convolution, times threads. */
static void conv_scratch_sizes(brn_model *m, size_t *scratch, size_t *dw)
{
    const brn_model_config *c = &m->cfg;
    brn_conv_shape s;
    int h = c->in_h, w = c->in_w;
    *scratch = 0;
    *dw = 0;
#define CONSIDER(cin, cout, k, stride, hh, ww)                                     \
    do {                                                                           \
        brn_conv_shape_init(&s, cin, cout, c->max_batch, hh, ww, k, stride);           \
        if (brn_cpu_conv_scratch_size(&s) > *scratch) *scratch = brn_cpu_conv_scratch_size(&s);    \
        if ((size_t)(cin) * (cout) * (k) * (k) > *dw) *dw = (size_t)(cin) * (cout) * (k) * (k); \
    } while (0)
    CONSIDER(c->in_c, 16, 3, 1, h, w);
    for (int i = 0; i < m->n_blocks; i++) {
        brn_block *b = &m->blocks[i];
        CONSIDER(b->cin, b->cout, 3, b->stride, h, w);
        if (b->projection) CONSIDER(b->cin, b->cout, 1, b->stride, h, w);
        h = (h - 1) / b->stride + 1;
        w = (w - 1) / b->stride + 1;
        CONSIDER(b->cout, b->cout, 3, 1, h, w);
    }
#undef CONSIDER
    *scratch *= (size_t)m->threads;
    *dw *= (size_t)m->threads;
}

/* The blocks, the tensor table and the list of norm layers: everything but memory. */
static int build_layout(brn_model *m, const brn_model_config *cfg, int threads, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->threads = threads > 0 ? threads : 1;
    if (cfg->depth < 10 || (cfg->depth - 4) % 6) {
        snprintf(err, errlen, "depth: %d is not 6n+4", cfg->depth);
        return BRN_EINVAL;
    }
    const int n = (cfg->depth - 4) / 6, k = cfg->width;
    const int widths[3] = {16 * k, 32 * k, 64 * k};
    m->n_blocks = 3 * n;
    m->blocks = calloc(m->n_blocks, sizeof *m->blocks);
    if (!m->blocks) return BRN_ENOMEM;
    int rc = add_conv(m, &m->stem, cfg->in_c, 16, 3, 1, "conv1");
    int cin = 16;
    char name[BRN_MODEL_NAME_LEN];
    for (int i = 0; i < m->n_blocks && !rc; i++) {
        brn_block *b = &m->blocks[i];
        int group = i / n;
        b->cin = cin;
        b->cout = widths[group];
        b->stride = (i % n == 0 && group > 0) ? 2 : 1;
        b->projection = b->cin != b->cout || b->stride != 1;
        snprintf(name, sizeof name, "blocks.%d.bn1", i);
        rc = rc ? rc : add_norm(m, &b->n1, b->cin, name);
        snprintf(name, sizeof name, "blocks.%d.conv1", i);
        rc = rc ? rc : add_conv(m, &b->conv1, b->cin, b->cout, 3, b->stride, name);
        snprintf(name, sizeof name, "blocks.%d.bn2", i);
        rc = rc ? rc : add_norm(m, &b->n2, b->cout, name);
        snprintf(name, sizeof name, "blocks.%d.conv2", i);
        rc = rc ? rc : add_conv(m, &b->conv2, b->cout, b->cout, 3, 1, name);
        if (b->projection) {
            snprintf(name, sizeof name, "blocks.%d.shortcut", i);
            rc = rc ? rc : add_conv(m, &b->shortcut, b->cin, b->cout, 1, b->stride, name);
        }
        cin = b->cout;
    }
    m->feat = cin;
    m->norms = malloc(sizeof *m->norms * (2 * (size_t)m->n_blocks + 1));
    if (!m->norms) return BRN_ENOMEM;
    for (int i = 0; i < m->n_blocks; i++) {
        m->norms[m->n_norms++] = &m->blocks[i].n1;
        m->norms[m->n_norms++] = &m->blocks[i].n2;
    }
    m->norms[m->n_norms++] = &m->final_norm;
    rc = rc ? rc : add_norm(m, &m->final_norm, cin, "bn");
    int fcw[2] = {cfg->classes, cin};
    rc = rc ? rc : add_tensor(m, BRN_TENSOR_PARAM, &m->fc_w, 2, fcw, "fc.weight");
    rc = rc ? rc : add_tensor(m, BRN_TENSOR_PARAM, &m->fc_b, 1, &cfg->classes, "fc.bias");
    if (rc) return rc;
    /* the arena: activations first, then the convolutions' scratch */
    arena_plan plan = {0, NULL};
    plan_activations(m, &plan);
    size_t scratch, dw;
    conv_scratch_sizes(m, &scratch, &dw);
    m->arena_size = plan.used + scratch + dw;
    return 0;
}

int brn_model_init(brn_model *m, const brn_model_config *cfg, int threads, char *err, size_t errlen)
{
    int rc = build_layout(m, cfg, threads, err, errlen);
    if (rc == BRN_EINVAL) {
        brn_model_free(m);
        return rc;
    }
    if (rc) goto oom;
    m->params = calloc(m->n_params, sizeof(float));
    m->grads = calloc(m->n_params, sizeof(float));
    m->buffers = calloc(m->n_buffers ? m->n_buffers : 1, sizeof(float));
    m->arena = aligned_alloc(64, ((m->arena_size * sizeof(float)) + 63) & ~(size_t)63);
    if (!m->params || !m->grads || !m->buffers || !m->arena) goto oom;
    arena_plan plan = {0, m->arena};
    plan_activations(m, &plan);
    size_t scratch, dw;
    conv_scratch_sizes(m, &scratch, &dw);
    m->conv_scratch = m->arena + plan.used;
    m->dw_scratch = m->conv_scratch + scratch;
    return 0;
oom:
    snprintf(err, errlen, "out of memory for WRN-%d-%d at batch %d (%zu MiB of activations)", cfg->depth,
             cfg->width, cfg->max_batch, m->arena_size * sizeof(float) >> 20);
    brn_model_free(m);
    return BRN_ENOMEM;
}

int brn_model_estimate(const brn_model_config *cfg, int threads, brn_memory_estimate *out, char *err, size_t errlen)
{
    brn_model m;
    int rc = build_layout(&m, cfg, threads, err, errlen);
    if (rc == BRN_ENOMEM) snprintf(err, errlen, "out of memory");
    if (!rc) {
        arena_plan plan = {0, NULL};
        plan_activations(&m, &plan);
        size_t scratch, dw;
        conv_scratch_sizes(&m, &scratch, &dw);
        out->parameters = m.n_params;
        out->state_bytes = sizeof(float) * (3 * m.n_params + m.n_buffers);
        out->activation_bytes = sizeof(float) * plan.used;
        out->scratch_bytes = sizeof(float) * (scratch + dw);
        out->total_bytes = out->state_bytes + out->activation_bytes + out->scratch_bytes;
    }
    brn_model_free(&m);
    return rc;
}

void brn_model_free(brn_model *m)
{
    free(m->tensors);
    free(m->params);
    free(m->grads);
    free(m->buffers);
    free(m->arena);
    free(m->blocks);
    free(m->norms);
    memset(m, 0, sizeof *m);
}

const brn_tensor_info *brn_model_find_tensor(const brn_model *m, const char *name)
{
    for (int i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i].name, name)) return &m->tensors[i];
    return NULL;
}

float *brn_model_tensor_data(brn_model *m, const brn_tensor_info *t)
{
    return (t->kind == BRN_TENSOR_PARAM ? m->params : m->buffers) + t->offset;
}

void brn_model_init_weights(brn_model *m, uint64_t seed)
{
    brn_rng r;
    brn_rng_init(&r, brn_rng_derive(seed, BRN_RNG_INIT, 0));
    for (int i = 0; i < m->n_tensors; i++) {
        const brn_tensor_info *t = &m->tensors[i];
        float *d = brn_model_tensor_data(m, t);
        const char *suffix = strrchr(t->name, '.');
        if (t->ndim == 4) {
            /* kaiming normal, fan_out, gain sqrt(2) */
            double std = sqrt(2.0 / ((double)t->shape[0] * t->shape[2] * t->shape[3]));
            for (size_t j = 0; j < t->count; j++) d[j] = (float)(std * brn_rng_normal(&r));
        } else if (!strcmp(t->name, "fc.weight") || !strcmp(t->name, "fc.bias")) {
            double bound = 1.0 / sqrt((double)m->feat);
            for (size_t j = 0; j < t->count; j++) d[j] = (float)(bound * (2 * brn_rng_uniform(&r) - 1));
        } else {
            float v = (!strcmp(suffix, ".weight") || !strcmp(suffix, ".running_var") ||
                       !strcmp(suffix, ".running_std")) ? 1.0f : 0.0f;
            for (size_t j = 0; j < t->count; j++) d[j] = v;
        }
    }
}

/* ---- forward / backward -------------------------------------------------------------------- */

typedef struct step_ctx {
    int train, batch_stats;
    const brn_norm_step *ns;
    char *err;
    size_t errlen;
} step_ctx;

static brn_norm_params_f32 norm_params(brn_model *m, const brn_norm_layer *l)
{
    brn_norm_params_f32 p = {m->params + l->gamma, m->params + l->beta, m->grads + l->gamma,
                             m->grads + l->beta, NULL, NULL};
    if (m->cfg.norm == BRN_NORM_BN || m->cfg.norm == BRN_NORM_BRN) {
        p.run_mean = m->buffers + l->run_mean;
        p.run_var = m->buffers + l->run_var;
    }
    return p;
}

static int norm_group(const brn_model *m, int n)
{
    int mb = m->cfg.microbatch;
    return mb > 0 && mb < n && n % mb == 0 ? mb : n;
}

static void accumulate_diag(brn_norm_layer *l, int groups, const brn_norm_step *ns)
{
    const float rmax = (float)ns->rmax, rmin = (float)(1.0 / ns->rmax), dmax = (float)ns->dmax;
    for (int c = 0; c < l->c; c++)
        for (int g = 0; g < groups; g++) {
            const float *sv = l->saved + 4 * ((size_t)c * groups + g);
            float r = sv[2], d = sv[3];
            l->diag.sum_abs_r1 += fabs((double)r - 1.0);
            l->diag.sum_abs_d += fabs((double)d);
            l->diag.r_clipped += r >= rmax || r <= rmin;
            l->diag.d_clipped += d >= dmax || d <= -dmax;
            l->diag.count++;
        }
}

/* a = relu(norm(x)) */
static int norm_forward(brn_model *m, brn_norm_layer *l, float *a, const float *x, brn_act_shape s,
                        const step_ctx *ctx)
{
    const brn_model_config *c = &m->cfg;
    brn_norm_params_f32 p = norm_params(m, l);
    int rc = 0;
    switch (c->norm) {
    case BRN_NORM_NONE:
        brn_cpu_relu_forward_f32(a, x, (size_t)s.c * s.n * s.h * s.w);
        return 0;
    case BRN_NORM_GN:
    case BRN_NORM_LN:
        rc = brn_cpu_groupnorm_forward_f32(a, l->saved, x, &p, c->eps, &s, c->norm == BRN_NORM_LN ? 1 : c->gn_groups, 1);
        break;
    case BRN_NORM_BN:
    case BRN_NORM_BRN: {
        brn_bn_config bc = {c->norm == BRN_NORM_BRN, c->eps, ctx->ns ? ctx->ns->momentum : 0,
                            ctx->ns ? ctx->ns->rmax : 1, ctx->ns ? ctx->ns->dmax : 0, 1};
        if (!ctx->train && !ctx->batch_stats) {
            brn_cpu_batchnorm_forward_eval_f32(a, x, &p, &bc, &s, 1);
            return 0;
        }
        int group = norm_group(m, s.n);
        if (!ctx->train) bc = (brn_bn_config){0, c->eps, 0, 1, 0, 0}; /* plain batch statistics */
        rc = brn_cpu_batchnorm_forward_train_f32(a, l->saved, x, &p, &bc, &s, group, 1);
        if (!rc && ctx->train && c->norm == BRN_NORM_BRN) accumulate_diag(l, s.n / group, ctx->ns);
        break;
    }
    }
    if (rc)
        snprintf(ctx->err, ctx->errlen,
                 "microbatch: layer %s normalizes groups of %d example(s) x %dx%d = fewer than 2 values per "
                 "channel; use a larger microbatch/batch-size",
                 l->name, norm_group(m, s.n), s.h, s.w);
    return rc;
}

static void norm_backward(brn_model *m, brn_norm_layer *l, float *dx, const float *da, const float *a,
                          const float *x, brn_act_shape s)
{
    const brn_model_config *c = &m->cfg;
    brn_norm_params_f32 p = norm_params(m, l);
    switch (c->norm) {
    case BRN_NORM_NONE:
        brn_cpu_relu_backward_f32(dx, da, a, (size_t)s.c * s.n * s.h * s.w);
        break;
    case BRN_NORM_GN:
    case BRN_NORM_LN:
        brn_cpu_groupnorm_backward_f32(dx, &p, da, a, x, l->saved, &s, c->norm == BRN_NORM_LN ? 1 : c->gn_groups, 1);
        break;
    case BRN_NORM_BN:
    case BRN_NORM_BRN:
        brn_cpu_batchnorm_backward_f32(dx, &p, da, a, x, l->saved, &s, norm_group(m, s.n), 1);
        break;
    }
}

static void conv_fwd(brn_model *m, const brn_conv_layer *l, float *y, const float *x, int n, int h, int w)
{
    brn_conv_shape s;
    brn_conv_shape_init(&s, l->cin, l->cout, n, h, w, l->k, l->stride);
    brn_cpu_conv_forward_f32(y, x, m->params + l->w, &s, m->conv_scratch);
}

static void conv_bwd(brn_model *m, const brn_conv_layer *l, float *dx, const float *dy, const float *x, int n,
                     int h, int w, int accumulate)
{
    brn_conv_shape s;
    brn_conv_shape_init(&s, l->cin, l->cout, n, h, w, l->k, l->stride);
    brn_cpu_conv_backward_f32(dx, m->grads + l->w, dy, x, m->params + l->w, &s, accumulate, m->conv_scratch,
                      m->dw_scratch);
}


int brn_model_forward(brn_model *m, const float *x, int n, int train, int batch_stats, const brn_norm_step *ns,
                  char *err, size_t errlen)
{
    const brn_model_config *c = &m->cfg;
    step_ctx ctx = {train, batch_stats, ns, err, errlen};
    int h = c->in_h, w = c->in_w, rc;
    if (x != m->input) memcpy(m->input, x, sizeof(float) * n * c->in_c * h * w);
    conv_fwd(m, &m->stem, m->stem_out, m->input, n, h, w);
    const float *cur = m->stem_out;
    for (int i = 0; i < m->n_blocks; i++) {
        brn_block *b = &m->blocks[i];
        const int oh = b->oh, ow = b->ow;
        size_t out_sz = (size_t)n * b->cout * oh * ow;
        if ((rc = norm_forward(m, &b->n1, b->a1, cur, (brn_act_shape){b->cin, n, h, w}, &ctx))) return rc;
        conv_fwd(m, &b->conv1, b->c1, b->a1, n, h, w);
        if ((rc = norm_forward(m, &b->n2, b->a2, b->c1, (brn_act_shape){b->cout, n, oh, ow}, &ctx))) return rc;
        const int dropping = c->dropout > 0 && train;
        if (dropping)
            brn_cpu_dropout_forward_f32(b->d2, b->keep, b->a2, out_sz, c->dropout, ns->dropout_seed ^ brn_rng_mix((uint64_t)i));
        conv_fwd(m, &b->conv2, b->out, dropping ? b->d2 : b->a2, n, oh, ow);
        if (b->projection) {
            conv_fwd(m, &b->shortcut, m->sc_tmp, b->a1, n, h, w);
            brn_cpu_add_inplace_f32(b->out, m->sc_tmp, out_sz);
        } else {
            brn_cpu_add_inplace_f32(b->out, cur, out_sz);
        }
        cur = b->out;
        h = oh;
        w = ow;
    }
    brn_act_shape fs = {m->feat, n, h, w};
    if ((rc = norm_forward(m, &m->final_norm, m->final_a, cur, fs, &ctx))) return rc;
    brn_cpu_avgpool_forward_f32(m->pooled, m->final_a, &fs);
    brn_cpu_linear_forward_f32(m->logits, m->pooled, m->params + m->fc_w, m->params + m->fc_b, n, m->feat, c->classes);
    return 0;
}

/* Backward from m->dlogits (already holding dL/dlogits). */
int brn_model_backward(brn_model *m, int n)
{
    const brn_model_config *c = &m->cfg;
    const int h = m->n_blocks ? m->blocks[m->n_blocks - 1].oh : c->in_h;
    const int w = m->n_blocks ? m->blocks[m->n_blocks - 1].ow : c->in_w;
    float *dpool = m->g[3];
    brn_cpu_linear_backward_f32(dpool, m->grads + m->fc_w, m->grads + m->fc_b, m->dlogits, m->pooled,
                        m->params + m->fc_w, n, m->feat, c->classes);
    brn_act_shape fs = {m->feat, n, h, w};
    brn_cpu_avgpool_backward_f32(m->g[2], dpool, &fs);
    const float *last = m->n_blocks ? m->blocks[m->n_blocks - 1].out : m->stem_out;
    float *gcur = m->g[0], *gnext = m->g[1];
    norm_backward(m, &m->final_norm, gcur, m->g[2], m->final_a, last, fs);
    float *dd2 = m->g[2], *dc1 = m->g[3], *da1 = m->g[4];
    for (int i = m->n_blocks - 1; i >= 0; i--) {
        brn_block *b = &m->blocks[i];
        const int ih = b->ih, iw = b->iw, oh = b->oh, ow = b->ow;
        size_t out_sz = (size_t)n * b->cout * oh * ow;
        const float *x_in = i ? m->blocks[i - 1].out : m->stem_out;
        if (b->projection) conv_bwd(m, &b->shortcut, da1, gcur, b->a1, n, ih, iw, 0);
        conv_bwd(m, &b->conv2, dd2, gcur, b->d2, n, oh, ow, 0);
        if (c->dropout > 0) brn_cpu_dropout_backward_f32(dd2, dd2, b->keep, out_sz, c->dropout);
        norm_backward(m, &b->n2, dc1, dd2, b->a2, b->c1, (brn_act_shape){b->cout, n, oh, ow});
        conv_bwd(m, &b->conv1, da1, dc1, b->a1, n, ih, iw, b->projection);
        norm_backward(m, &b->n1, gnext, da1, b->a1, x_in, (brn_act_shape){b->cin, n, ih, iw});
        if (!b->projection) brn_cpu_add_inplace_f32(gnext, gcur, (size_t)n * b->cin * ih * iw);
        float *t = gcur;
        gcur = gnext;
        gnext = t;
    }
    conv_bwd(m, &m->stem, NULL, gcur, m->input, n, c->in_h, c->in_w, 0);
    return 0;
}


int brn_model_train_step(brn_model *m, const float *x, const int *labels, int n, const brn_norm_step *ns,
                     double *loss, int *correct, char *err, size_t errlen)
{
    memset(m->grads, 0, sizeof(float) * m->n_params);
    int rc = brn_model_forward(m, x, n, 1, 0, ns, err, errlen);
    if (rc) return rc;
    *loss = brn_cpu_softmax_xent_f32(m->dlogits, m->logits, labels, n, m->cfg.classes, correct);
    return brn_model_backward(m, n);
}

int brn_model_eval_batch(brn_model *m, const float *x, const int *labels, int n, int batch_stats,
                     double *loss_sum, int *correct, char *err, size_t errlen)
{
    int rc = brn_model_forward(m, x, n, 0, batch_stats, NULL, err, errlen);
    if (rc) return rc;
    *loss_sum = n * brn_cpu_softmax_xent_f32(NULL, m->logits, labels, n, m->cfg.classes, correct);
    return 0;
}

