/* The WRN on a backend: layout, memory, initialization, forward and backward. */
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

/* ---- memory -------------------------------------------------------------------------------- */

typedef struct arena_plan {
    size_t used;
    char *base;
} arena_plan;

/* First pass (base == NULL) only counts; the second hands out pointers. */
static void *take(arena_plan *a, size_t bytes)
{
    bytes = (bytes + 63) & ~(size_t)63;   /* 64-byte alignment for vector loads */
    void *p = a->base ? a->base + a->used : NULL;
    a->used += bytes;
    return p;
}

/* Activations (the backend's element size), fp32 statistics and logits, the step's
 * labels, scalars, result and diagnostics, then the convolution workspace. */
static void plan_arena(brn_model *m, arena_plan *a)
{
    const brn_model_config *c = &m->cfg;
    const size_t N = (size_t)c->max_batch, E = m->be->act_bytes, F = sizeof(float);
    int h = c->in_h, w = c->in_w;
    size_t max_act = N * c->in_c * h * w;
    m->input = take(a, E * max_act);
    m->stem_out = take(a, E * N * 16 * h * w);
    for (int i = 0; i < m->n_blocks; i++) {
        brn_block *b = &m->blocks[i];
        size_t in_sz = N * b->cin * h * w;
        int oh = (h - 1) / b->stride + 1, ow = (w - 1) / b->stride + 1;
        size_t out_sz = N * b->cout * oh * ow;
        b->ih = h;
        b->iw = w;
        b->oh = oh;
        b->ow = ow;
        b->n1.h = h, b->n1.w = w;
        b->n2.h = oh, b->n2.w = ow;
        b->a1 = take(a, E * in_sz);
        b->c1 = take(a, E * out_sz);
        b->a2 = take(a, E * out_sz);
        b->d2 = c->dropout > 0 ? take(a, E * out_sz) : b->a2;
        b->keep = c->dropout > 0 ? take(a, out_sz) : NULL;
        b->out = take(a, E * out_sz);
        b->n1.saved = take(a, F * (4 * b->cin * N + 2 * N * c->gn_groups));
        b->n2.saved = take(a, F * (4 * b->cout * N + 2 * N * c->gn_groups));
        if (in_sz > max_act) max_act = in_sz;
        if (out_sz > max_act) max_act = out_sz;
        h = oh;
        w = ow;
    }
    m->final_norm.h = h, m->final_norm.w = w;
    m->final_a = take(a, E * N * m->feat * h * w);
    m->final_norm.saved = take(a, F * (4 * m->feat * N + 2 * N * c->gn_groups));
    m->pooled = take(a, F * N * m->feat);
    m->logits = take(a, F * N * c->classes);
    m->dlogits = take(a, F * N * c->classes);
    m->sc_tmp = take(a, E * max_act);
    for (int i = 0; i < 5; i++) m->g[i] = take(a, E * max_act);
    m->labels = take(a, sizeof(int) * N);
    m->plan = take(a, sizeof *m->plan * N);
    m->scalars = take(a, sizeof *m->scalars);
    m->result = take(a, sizeof *m->result);
    m->diag = take(a, sizeof *m->diag * m->n_norms);
    m->workspace = take(a, m->workspace_bytes);
}

static brn_norm_desc norm_desc(const brn_model *m, brn_act_shape s);

/* The largest workspace any of the model's convolutions or norms needs at the largest
 * batch (norms: with the training groups and as one group, for evaluation batches). */
static size_t workspace_bytes(brn_model *m)
{
    const brn_model_config *c = &m->cfg;
    brn_conv_shape s;
    size_t most = 0;
    int h = c->in_h, w = c->in_w;
#define CONSIDER(cin, cout, k, stride, hh, ww)                                    \
    do {                                                                          \
        brn_conv_shape_init(&s, cin, cout, c->max_batch, hh, ww, k, stride);      \
        size_t need = m->be->ops->conv_workspace(m->be, &s);                      \
        if (need > most) most = need;                                             \
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
    for (int i = 0; i < m->n_norms; i++) {
        const brn_norm_layer *l = m->norms[i];
        const brn_act_shape as = {.c = l->c, .n = c->max_batch, .h = l->h, .w = l->w};
        brn_norm_desc d = norm_desc(m, as);
        for (int whole = 0; whole < 2; whole++) {
            if (whole) d.group = c->max_batch;
            size_t need = m->be->ops->norm_workspace(m->be, &d);
            if (need > most) most = need;
        }
    }
    return most;
}

/* The blocks, the tensor table and the list of norm layers: everything but memory. */
static int build_layout(brn_model *m, const brn_model_config *cfg, brn_backend *be, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->be = be;
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
    for (int i = 0; i < m->n_norms; i++) m->norms[i]->index = i;
    rc = rc ? rc : add_norm(m, &m->final_norm, cin, "bn");
    int fcw[2] = {cfg->classes, cin};
    rc = rc ? rc : add_tensor(m, BRN_TENSOR_PARAM, &m->fc_w, 2, fcw, "fc.weight");
    rc = rc ? rc : add_tensor(m, BRN_TENSOR_PARAM, &m->fc_b, 1, &cfg->classes, "fc.bias");
    if (rc) return rc;
    arena_plan plan = {0, NULL};
    plan_arena(m, &plan);           /* first: the layers' spatial sizes */
    m->workspace_bytes = workspace_bytes(m);
    plan = (arena_plan){0, NULL};
    plan_arena(m, &plan);
    m->arena_bytes = plan.used;
    return 0;
}

int brn_model_init(brn_model *m, const brn_model_config *cfg, brn_backend *be, char *err, size_t errlen)
{
    int rc = build_layout(m, cfg, be, err, errlen);
    if (rc) {
        if (rc == BRN_ENOMEM) snprintf(err, errlen, "out of host memory building the model");
        brn_model_free(m);
        return rc;
    }
    const size_t F = sizeof(float);
    m->params = be->ops->alloc(be, F * m->n_params);
    m->grads = be->ops->alloc(be, F * m->n_params);
    m->velocity = be->ops->alloc(be, F * m->n_params);
    m->buffers = be->ops->alloc(be, F * (m->n_buffers ? m->n_buffers : 1));
    m->arena = be->ops->alloc(be, m->arena_bytes);
    if (!m->params || !m->grads || !m->velocity || !m->buffers || !m->arena) {
        snprintf(err, errlen, "out of memory on %s for WRN-%d-%d at batch %d (%zu MiB of parameters and state, "
                 "%zu MiB of activations and workspace)", be->description, cfg->depth, cfg->width, cfg->max_batch,
                 (3 * F * m->n_params + F * m->n_buffers) >> 20, m->arena_bytes >> 20);
        brn_model_free(m);
        return BRN_ENOMEM;
    }
    arena_plan plan = {0, m->arena};
    plan_arena(m, &plan);
    be->ops->zero(be, m->grads, F * m->n_params);
    be->ops->zero(be, m->velocity, F * m->n_params);
    be->ops->zero(be, m->diag, sizeof *m->diag * m->n_norms);
    return be->ops->synchronize(be, err, errlen);
}

int brn_model_estimate(const brn_model_config *cfg, brn_backend *be, brn_memory_estimate *out, char *err,
                       size_t errlen)
{
    brn_model m;
    int rc = build_layout(&m, cfg, be, err, errlen);
    if (rc == BRN_ENOMEM) snprintf(err, errlen, "out of host memory building the model");
    if (!rc) {
        out->parameters = m.n_params;
        out->state_bytes = sizeof(float) * (3 * m.n_params + m.n_buffers);
        out->scratch_bytes = m.workspace_bytes;
        out->activation_bytes = m.arena_bytes - m.workspace_bytes;
        out->total_bytes = out->state_bytes + m.arena_bytes;
    }
    brn_model_free(&m);
    return rc;
}

static void release_step(brn_model *m);

void brn_model_free(brn_model *m)
{
    brn_backend *be = m->be;
    if (be) {
        release_step(m);
        be->ops->free(be, m->params);
        be->ops->free(be, m->grads);
        be->ops->free(be, m->velocity);
        be->ops->free(be, m->buffers);
        be->ops->free(be, m->arena);
    }
    free(m->tensors);
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

/* A tensor's copy in backend memory. */
static float *tensor_ptr(brn_model *m, const brn_tensor_info *t, brn_tensor_view view)
{
    if (t->kind == BRN_TENSOR_BUFFER) return view == BRN_VIEW_VALUE ? m->buffers + t->offset : NULL;
    float *base = view == BRN_VIEW_GRAD ? m->grads : view == BRN_VIEW_VELOCITY ? m->velocity : m->params;
    return base + t->offset;
}

static brn_tensor_layout tensor_layout(const brn_tensor_info *t)
{
    return t->ndim == 4 ? BRN_TENSOR_LAYOUT_CONV : BRN_TENSOR_LAYOUT_PLAIN;
}

int brn_model_read_tensor(brn_model *m, const brn_tensor_info *t, brn_tensor_view view, float *host, char *err,
                          size_t errlen)
{
    const float *src = tensor_ptr(m, t, view);
    if (!src) return brn_errorf(err, errlen, BRN_EINVAL, "%s has no gradient or velocity", t->name);
    return m->be->ops->download_tensor(m->be, host, src, t->shape, t->ndim, tensor_layout(t), err, errlen);
}

void brn_model_write_tensor(brn_model *m, const brn_tensor_info *t, brn_tensor_view view, const float *host)
{
    float *dst = tensor_ptr(m, t, view);
    if (dst) m->be->ops->upload_tensor(m->be, dst, host, t->shape, t->ndim, tensor_layout(t));
}

int brn_model_read_act(brn_model *m, const void *act, brn_act_shape s, float *host, char *err, size_t errlen)
{
    return m->be->ops->download_act(m->be, host, act, s, err, errlen);
}

int brn_model_init_weights(brn_model *m, uint64_t seed, char *err, size_t errlen)
{
    brn_rng r;
    brn_rng_init(&r, brn_rng_derive(seed, BRN_RNG_INIT, 0));
    size_t most = 0;
    for (int i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].count > most) most = m->tensors[i].count;
    float *d = malloc(sizeof(float) * (most ? most : 1));
    if (!d) return brn_errorf(err, errlen, BRN_ENOMEM, "out of memory");
    for (int i = 0; i < m->n_tensors; i++) {
        const brn_tensor_info *t = &m->tensors[i];
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
        brn_model_write_tensor(m, t, BRN_VIEW_VALUE, d);
    }
    m->be->ops->zero(m->be, m->velocity, sizeof(float) * m->n_params);
    int rc = m->be->ops->synchronize(m->be, err, errlen);
    free(d);
    return rc;
}

/* ---- the step ------------------------------------------------------------------------------ */

#define OP(name, ...) m->be->ops->name(m->be, __VA_ARGS__)

void brn_model_set_batch(brn_model *m, const float *x, const int *labels, int n)
{
    const brn_model_config *c = &m->cfg;
    m->data = NULL;
    OP(upload_act, m->input, x, (brn_act_shape){.c = c->in_c, .n = n, .h = c->in_h, .w = c->in_w});
    if (labels) OP(upload, m->labels, labels, sizeof(int) * n);
}

int brn_model_set_plan(brn_model *m, const brn_device_data *d, const brn_batch_entry *plan, int n, char *err,
                       size_t errlen)
{
    const brn_model_config *c = &m->cfg;
    const brn_batch_source *src = &d->src;
    if (!d->handle) return brn_errorf(err, errlen, BRN_EINVAL, "batch plan: the dataset was not uploaded");
    if (src->c != c->in_c || src->h != c->in_h || src->w != c->in_w)
        return brn_errorf(err, errlen, BRN_EINVAL, "batch plan: the dataset's images are %dx%dx%d, the model's %dx%dx%d",
                          src->h, src->w, src->c, c->in_h, c->in_w, c->in_c);
    if (n < 1 || n > c->max_batch)
        return brn_errorf(err, errlen, BRN_EINVAL, "batch plan: %d examples (1 to %d)", n, c->max_batch);
    int rc = brn_batch_plan_check(src, plan, n, err, errlen);
    if (rc) return rc;
    OP(upload, m->plan, plan, sizeof *plan * n);
    m->data = d->handle;
    m->plan_n = n;
    return 0;
}

void brn_model_set_scalars(brn_model *m, const brn_step_scalars *sc) { OP(upload, m->scalars, sc, sizeof *sc); }

static int norm_group(const brn_model *m, int n)
{
    int mb = m->cfg.microbatch;
    return mb > 0 && mb < n && n % mb == 0 ? mb : n;
}

static brn_norm_tensors norm_tensors(brn_model *m, const brn_norm_layer *l)
{
    brn_norm_tensors t = {.saved = l->saved};
    if (m->cfg.norm == BRN_NORM_NONE) return t;
    t.gamma = m->params + l->gamma;
    t.beta = m->params + l->beta;
    t.dgamma = m->grads + l->gamma;
    t.dbeta = m->grads + l->beta;
    if (m->cfg.norm == BRN_NORM_BN || m->cfg.norm == BRN_NORM_BRN) {
        t.run_mean = m->buffers + l->run_mean;
        t.run_var = m->buffers + l->run_var;
    }
    return t;
}

static brn_norm_desc norm_desc(const brn_model *m, brn_act_shape s)
{
    const brn_model_config *c = &m->cfg;
    return (brn_norm_desc){.kind = c->norm, .shape = s, .group = norm_group(m, s.n), .gn_groups = c->gn_groups,
                           .eps = c->eps, .relu = 1};
}

/* a = relu(norm(x)); the group-size rule is checked here, before the backend runs */
static int norm_forward(brn_model *m, brn_norm_layer *l, void *a, const void *x, brn_act_shape s,
                        brn_norm_mode mode, char *err, size_t errlen)
{
    const brn_norm_desc d = norm_desc(m, s);
    const int batch_norm = d.kind == BRN_NORM_BN || d.kind == BRN_NORM_BRN;
    if (batch_norm && mode != BRN_NORM_EVAL_RUNNING && (size_t)d.group * s.h * s.w < 2)
        return brn_errorf(err, errlen, BRN_EINVAL,
                          "microbatch: layer %s normalizes groups of %d example(s) x %dx%d = fewer than 2 values per "
                          "channel; use a larger microbatch/batch-size",
                          l->name, d.group, s.h, s.w);
    const brn_norm_tensors t = norm_tensors(m, l);
    OP(norm_forward, &d, mode, &t, a, x, m->scalars, m->workspace);
    if (mode == BRN_NORM_TRAIN && d.kind == BRN_NORM_BRN)
        OP(renorm_diag, m->diag + l->index, l->saved, s.c, s.n / d.group, m->scalars);
    return 0;
}

static void norm_backward(brn_model *m, brn_norm_layer *l, void *dx, const void *da, const void *a, const void *x,
                          brn_act_shape s)
{
    const brn_norm_desc d = norm_desc(m, s);
    const brn_norm_tensors t = norm_tensors(m, l);
    OP(norm_backward, &d, &t, dx, da, a, x, m->workspace);
}

static void conv_fwd(brn_model *m, const brn_conv_layer *l, void *y, const void *x, int n, int h, int w)
{
    brn_conv_shape s;
    brn_conv_shape_init(&s, l->cin, l->cout, n, h, w, l->k, l->stride);
    OP(conv_forward, y, x, m->params + l->w, &s, m->workspace);
}

static void conv_bwd(brn_model *m, const brn_conv_layer *l, void *dx, const void *dy, const void *x, int n, int h,
                     int w, int accumulate)
{
    brn_conv_shape s;
    brn_conv_shape_init(&s, l->cin, l->cout, n, h, w, l->k, l->stride);
    OP(conv_backward, dx, m->grads + l->w, dy, x, m->params + l->w, &s, accumulate, m->workspace);
}

/* A step on a plan must be the plan's size (a replayed step builds its batch from it too). */
static int check_plan_size(const brn_model *m, int n, char *err, size_t errlen)
{
    if (m->data && n != m->plan_n)
        return brn_errorf(err, errlen, BRN_EINVAL, "batch: the plan set has %d examples, the step %d", m->plan_n, n);
    return 0;
}

int brn_model_forward(brn_model *m, int n, brn_norm_mode mode, char *err, size_t errlen)
{
    const brn_model_config *c = &m->cfg;
    int h = c->in_h, w = c->in_w, rc;
    if ((rc = check_plan_size(m, n, err, errlen))) return rc;
    if (m->data) OP(batch_build, m->input, m->labels, m->data, m->plan, n);
    conv_fwd(m, &m->stem, m->stem_out, m->input, n, h, w);
    const void *cur = m->stem_out;
    for (int i = 0; i < m->n_blocks; i++) {
        brn_block *b = &m->blocks[i];
        const brn_act_shape in = {.c = b->cin, .n = n, .h = h, .w = w};
        const brn_act_shape out = {.c = b->cout, .n = n, .h = b->oh, .w = b->ow};
        if ((rc = norm_forward(m, &b->n1, b->a1, cur, in, mode, err, errlen))) return rc;
        conv_fwd(m, &b->conv1, b->c1, b->a1, n, h, w);
        if ((rc = norm_forward(m, &b->n2, b->a2, b->c1, out, mode, err, errlen))) return rc;
        const int dropping = c->dropout > 0 && mode == BRN_NORM_TRAIN;
        if (dropping) OP(dropout_forward, b->d2, b->keep, b->a2, out, c->dropout, brn_rng_mix((uint64_t)i), m->scalars);
        conv_fwd(m, &b->conv2, b->out, dropping ? b->d2 : b->a2, n, b->oh, b->ow);
        if (b->projection) {
            conv_fwd(m, &b->shortcut, m->sc_tmp, b->a1, n, h, w);
            OP(add, b->out, m->sc_tmp, out);
        } else {
            OP(add, b->out, cur, out);
        }
        cur = b->out;
        h = b->oh;
        w = b->ow;
    }
    const brn_act_shape fs = {.c = m->feat, .n = n, .h = h, .w = w};
    if ((rc = norm_forward(m, &m->final_norm, m->final_a, cur, fs, mode, err, errlen))) return rc;
    OP(avgpool_forward, m->pooled, m->final_a, fs);
    OP(linear_forward, m->logits, m->pooled, m->params + m->fc_w, m->params + m->fc_b, n, m->feat, c->classes);
    return 0;
}

/* Backward from m->dlogits (already holding dL/dlogits). */
static void model_backward(brn_model *m, int n)
{
    const brn_model_config *c = &m->cfg;
    const int h = m->n_blocks ? m->blocks[m->n_blocks - 1].oh : c->in_h;
    const int w = m->n_blocks ? m->blocks[m->n_blocks - 1].ow : c->in_w;
    float *dpool = m->g[3];
    OP(linear_backward, dpool, m->grads + m->fc_w, m->grads + m->fc_b, m->dlogits, m->pooled, m->params + m->fc_w, n,
       m->feat, c->classes);
    const brn_act_shape fs = {.c = m->feat, .n = n, .h = h, .w = w};
    OP(avgpool_backward, m->g[2], dpool, fs);
    const void *last = m->n_blocks ? m->blocks[m->n_blocks - 1].out : m->stem_out;
    void *gcur = m->g[0], *gnext = m->g[1];
    norm_backward(m, &m->final_norm, gcur, m->g[2], m->final_a, last, fs);
    void *dd2 = m->g[2], *dc1 = m->g[3], *da1 = m->g[4];
    for (int i = m->n_blocks - 1; i >= 0; i--) {
        brn_block *b = &m->blocks[i];
        const int ih = b->ih, iw = b->iw, oh = b->oh, ow = b->ow;
        const brn_act_shape in = {.c = b->cin, .n = n, .h = ih, .w = iw};
        const brn_act_shape out = {.c = b->cout, .n = n, .h = oh, .w = ow};
        const void *x_in = i ? m->blocks[i - 1].out : m->stem_out;
        if (b->projection) conv_bwd(m, &b->shortcut, da1, gcur, b->a1, n, ih, iw, 0);
        conv_bwd(m, &b->conv2, dd2, gcur, b->d2, n, oh, ow, 0);
        if (c->dropout > 0) OP(dropout_backward, dd2, dd2, b->keep, out, c->dropout);
        norm_backward(m, &b->n2, dc1, dd2, b->a2, b->c1, out);
        conv_bwd(m, &b->conv1, da1, dc1, b->a1, n, ih, iw, b->projection);
        norm_backward(m, &b->n1, gnext, da1, b->a1, x_in, in);
        if (!b->projection) OP(add, gnext, gcur, in);
        void *t = gcur;
        gcur = gnext;
        gnext = t;
    }
    conv_bwd(m, &m->stem, NULL, gcur, m->input, n, c->in_h, c->in_w, 0);
}

int brn_model_train_step(brn_model *m, int n, char *err, size_t errlen)
{
    OP(zero, m->grads, sizeof(float) * m->n_params);
    int rc = brn_model_forward(m, n, BRN_NORM_TRAIN, err, errlen);
    if (rc) return rc;
    OP(softmax_xent, m->dlogits, m->logits, m->labels, n, m->cfg.classes, m->result);
    model_backward(m, n);
    return 0;
}

void brn_model_sgd_step(brn_model *m, const brn_sgd *opt)
{
    OP(sgd_step, m->params, m->grads, m->velocity, m->n_params, opt, m->scalars);
}

static void release_step(brn_model *m)
{
    if (m->step_unit) m->be->ops->release(m->be, m->step_unit);
    m->step_unit = NULL;
}

int brn_model_train_update(brn_model *m, int n, const brn_sgd *opt, char *err, size_t errlen)
{
    const brn_backend_ops *o = m->be->ops;
    int rc = check_plan_size(m, n, err, errlen);
    if (rc) return rc;
    const int same = m->step_n == n && m->step_data == m->data && brn_sgd_equal(&m->step_opt, opt);
    if (same && m->step_unit) {
        o->replay(m->be, m->step_unit);
        return 0;
    }
    release_step(m);
    /* The first step with these settings runs op by op: code loads and libraries choose (and
       compile) their algorithms outside any recording. The second is recorded, and replayed
       from then on. */
    const int capture = same && m->cfg.capture && o->capture_begin;
    m->step_n = 0;
    rc = capture ? o->capture_begin(m->be, err, errlen) : 0;
    if (rc) return rc;
    rc = brn_model_train_step(m, n, err, errlen);
    if (!rc) brn_model_sgd_step(m, opt);
    if (!rc) {
        m->step_n = n;
        m->step_data = m->data;
        m->step_opt = *opt;
    }
    if (!capture) return rc;
    void *unit = NULL;
    int end = o->capture_end(m->be, &unit, rc ? NULL : err, errlen);
    if (rc || end) {
        if (unit) o->release(m->be, unit);
        m->step_n = 0;
        return rc ? rc : end;
    }
    /* recorded, not run: run it now, and again at every later step */
    m->step_unit = unit;
    o->replay(m->be, unit);
    return 0;
}

int brn_model_step_result(brn_model *m, double *loss, int *correct, char *err, size_t errlen)
{
    brn_step_result r;
    int rc = OP(download, &r, m->result, sizeof r, err, errlen);
    if (rc) return rc;
    *loss = r.loss;
    *correct = (int)r.correct;
    return 0;
}

int brn_model_eval_batch(brn_model *m, int n, int batch_stats, char *err, size_t errlen)
{
    int rc = brn_model_forward(m, n, batch_stats ? BRN_NORM_EVAL_BATCH : BRN_NORM_EVAL_RUNNING, err, errlen);
    if (rc) return rc;
    OP(softmax_xent, NULL, m->logits, m->labels, n, m->cfg.classes, m->result);
    return 0;
}

void brn_model_diag_reset(brn_model *m) { OP(zero, m->diag, sizeof *m->diag * m->n_norms); }

int brn_model_diag_read(brn_model *m, brn_diag_acc *host, char *err, size_t errlen)
{
    return OP(download, host, m->diag, sizeof *m->diag * m->n_norms, err, errlen);
}

void brn_model_diag_write(brn_model *m, const brn_diag_acc *host)
{
    OP(upload, m->diag, host, sizeof *m->diag * m->n_norms);
}
