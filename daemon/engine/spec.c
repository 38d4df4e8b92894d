/* Job spec: one field table drives flags, JSON, help and error messages. */
#include "spec.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "data/dataset.h"
#include "text_scalar.h"

typedef enum { F_INT, F_LONG, F_DOUBLE, F_BOOL, F_STR, F_ENUM, F_U64, F_LIST } field_type;

typedef struct {
    const char *name;      /* with '_' */
    field_type type;
    size_t offset;
    size_t size;           /* F_STR buffer size */
    const char *const *choices; /* F_ENUM names, indexed by value */
    const char *help;
} field_def;

static const char *const NORM_NAMES[] = {"bn", "brn", "gn", "ln", "none", NULL};
static const char *const EVAL_NAMES[] = {"moving", "batch", NULL};
static const char *const RENORM_NAMES[] = {"linear", "logistic", NULL};
static const char *const LR_NAMES[] = {"constant", "step", "cosine", NULL};
static const char *const SAMPLING_NAMES[] = {"iid", "non_iid", NULL};
static const char *const PRECISION_NAMES[] = {"fp32", "tf32", "bf16", NULL};

#define OFF(f) offsetof(brn_job_spec, f)
#define SZ(f) sizeof(((brn_job_spec *)0)->f)

static const field_def FIELDS[] = {
    {"depth", F_INT, OFF(depth), 0, NULL, "WRN depth d = 6n+4"},
    {"width", F_INT, OFF(width), 0, NULL, "WRN widening factor k"},
    {"dropout", F_DOUBLE, OFF(dropout), 0, NULL, "dropout between the block's convolutions, in [0,1)"},
    {"dataset", F_STR, OFF(dataset), SZ(dataset), NULL, NULL /* the registry's names */},
    {"data_dir", F_STR, OFF(data_dir), SZ(data_dir), NULL, "data directory (default: search /usr/share/datasets)"},
    {"train_subset", F_INT, OFF(train_subset), 0, NULL, "use the first N training examples (0 = all)"},
    {"test_subset", F_INT, OFF(test_subset), 0, NULL, "use the first N test examples (0 = all)"},
    {"epochs", F_INT, OFF(epochs), 0, NULL, "epochs to train (when --steps is 0)"},
    {"steps", F_LONG, OFF(steps), 0, NULL, "optimizer steps to train (0 = use --epochs)"},
    {"batch_size", F_INT, OFF(batch_size), 0, NULL, "minibatch size"},
    {"lr", F_DOUBLE, OFF(lr), 0, NULL, "base learning rate"},
    {"momentum", F_DOUBLE, OFF(momentum), 0, NULL, "SGD momentum"},
    {"nesterov", F_BOOL, OFF(nesterov), 0, NULL, "Nesterov momentum"},
    {"weight_decay", F_DOUBLE, OFF(weight_decay), 0, NULL, "L2 weight decay, every parameter"},
    {"lr_schedule", F_ENUM, OFF(lr_schedule), 0, LR_NAMES, "constant | step | cosine"},
    {"milestones", F_LIST, OFF(milestones), 0, NULL, "step schedule: comma-separated epochs"},
    {"lr_factor", F_DOUBLE, OFF(lr_factor), 0, NULL, "step schedule: LR multiplier at each milestone"},
    {"warmup_epochs", F_DOUBLE, OFF(warmup_epochs), 0, NULL, "linear LR warm-up length in epochs"},
    {"norm", F_ENUM, OFF(norm), 0, NORM_NAMES, "bn | brn | gn | ln | none"},
    {"norm_eps", F_DOUBLE, OFF(norm_eps), 0, NULL, "normalization epsilon"},
    {"norm_momentum", F_DOUBLE, OFF(norm_momentum), 0, NULL, "running-average momentum (default: bn 0.1; brn 50/steps within [0.01, 0.1])"},
    {"microbatch", F_INT, OFF(microbatch), 0, NULL, "normalization group size in examples (0 = whole batch)"},
    {"eval_stats", F_ENUM, OFF(eval_stats), 0, EVAL_NAMES, "moving | batch: statistics used at evaluation"},
    {"rmax", F_DOUBLE, OFF(rmax), 0, NULL, "BRN final r_max (the paper's: 3)"},
    {"dmax", F_DOUBLE, OFF(dmax), 0, NULL, "BRN final d_max (the paper's: 5)"},
    {"renorm_warmup", F_LONG, OFF(renorm_warmup), 0, NULL, "BRN: steps of plain BN first (default: 25% of the run)"},
    {"rmax_steps", F_LONG, OFF(rmax_steps), 0, NULL, "BRN: step at which r_max is reached (default: 75% of the run)"},
    {"dmax_steps", F_LONG, OFF(dmax_steps), 0, NULL, "BRN: step at which d_max is reached (default: 75% of the run)"},
    {"renorm_schedule", F_ENUM, OFF(renorm_schedule), 0, RENORM_NAMES, "linear (paper) | logistic (seed)"},
    {"t_delta", F_DOUBLE, OFF(t_delta), 0, NULL, "logistic schedule: t grows by this per step"},
    {"gn_groups", F_INT, OFF(gn_groups), 0, NULL, "group norm: groups per layer"},
    {"augment", F_BOOL, OFF(augment), 0, NULL, "pad-4 random crop and horizontal flip"},
    {"shuffle", F_BOOL, OFF(shuffle), 0, NULL, "shuffle the training set every epoch"},
    {"sampling", F_ENUM, OFF(sampling), 0, SAMPLING_NAMES, "iid | non_iid (L labels x M examples per batch)"},
    {"labels_per_batch", F_INT, OFF(labels_per_batch), 0, NULL,
     "non_iid: labels per batch L (auto: the largest divisor of batch-size up to min(16, classes/2))"},
    {"seed", F_U64, OFF(seed), 0, NULL, "random seed"},
    {"threads", F_INT, OFF(threads), 0, NULL, "CPU threads (0 = all cores)"},
    {"device", F_STR, OFF(device), SZ(device), NULL, "cpu | cuda | cuda:N | auto (a GPU when one is usable)"},
    {"precision", F_ENUM, OFF(precision), 0, PRECISION_NAMES, "fp32 | tf32 | bf16 (GPU only: tf32, bf16)"},
    {"init", F_STR, OFF(init), SZ(init), NULL, "initial weights from a safetensors checkpoint"},
    {"checkpoint_dir", F_STR, OFF(checkpoint_dir), SZ(checkpoint_dir), NULL, "directory for last.safetensors"},
    {"eval_every", F_INT, OFF(eval_every), 0, NULL, "evaluate every N epochs (and after the last)"},
    {"log_steps", F_INT, OFF(log_steps), 0, NULL, "print a line every N steps (0 = off)"},
    {"save_every", F_INT, OFF(save_every), 0, NULL, "also keep epoch-N.safetensors every N epochs (0 = off)"},
};
#define N_FIELDS (sizeof FIELDS / sizeof FIELDS[0])

void brn_spec_defaults(brn_job_spec *s)
{
    memset(s, 0, sizeof *s);
    s->depth = 16;
    s->width = 4;
    s->dropout = 0.0;
    strcpy(s->dataset, "fashion-mnist");
    s->epochs = 1;
    s->batch_size = 128;
    s->lr = 0.1;
    s->momentum = 0.9;
    s->weight_decay = 5e-4;
    s->lr_schedule = BRN_LR_COSINE;
    s->lr_factor = 0.2;
    s->norm = BRN_NORM_BN;
    s->norm_eps = 1e-5;
    s->norm_momentum = -1.0;
    s->eval_stats = BRN_EVAL_MOVING;
    s->rmax = BRN_DEFAULT_RMAX;
    s->dmax = BRN_DEFAULT_DMAX;
    s->renorm_warmup = BRN_SPEC_AUTO;
    s->rmax_steps = BRN_SPEC_AUTO;
    s->dmax_steps = BRN_SPEC_AUTO;
    s->renorm_schedule = BRN_RENORM_LINEAR;
    s->t_delta = 1.0;
    s->gn_groups = 8;
    s->augment = 1;
    s->shuffle = 1;
    s->sampling = BRN_SAMPLING_IID;
    s->labels_per_batch = BRN_SPEC_AUTO;
    s->seed = 1;
    s->threads = 0;
    strcpy(s->device, "auto");
    s->eval_every = 1;
}

static void canonical(char *dst, size_t n, const char *name)
{
    size_t i = 0;
    for (; name[i] && i + 1 < n; i++) dst[i] = name[i] == '-' ? '_' : name[i];
    dst[i] = 0;
}

static const field_def *find_field(const char *name)
{
    char key[64];
    canonical(key, sizeof key, name);
    for (size_t i = 0; i < N_FIELDS; i++)
        if (strcmp(FIELDS[i].name, key) == 0) return &FIELDS[i];
    return NULL;
}

int brn_spec_is_bool_flag(const char *name)
{
    const field_def *f = find_field(name);
    return f && f->type == F_BOOL;
}

static void flag_name(char *dst, size_t n, const char *field)
{
    size_t i = 0;
    for (; field[i] && i + 1 < n; i++) dst[i] = field[i] == '_' ? '-' : field[i];
    dst[i] = 0;
}

static int parse_long(const char *v, long *out)
{
    char *end;
    if (!brn_text_plain_integer(v, 1)) return -1;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end) return -1;
    *out = x;
    return 0;
}

int brn_spec_set(brn_job_spec *s, const char *name, const char *value, char *err, size_t errlen)
{
    const field_def *f = find_field(name);
    char fl[64];
    if (!f) {
        snprintf(err, errlen, "%s: unknown field", name);
        return -1;
    }
    flag_name(fl, sizeof fl, f->name);
    char *p = (char *)s + f->offset;
    long lv;
    switch (f->type) {
    case F_INT:
        if (parse_long(value, &lv) || lv < -2147483647L || lv > 2147483647L) goto bad_int;
        *(int *)p = (int)lv;
        return 0;
    case F_LONG:
        if (parse_long(value, &lv)) goto bad_int;
        *(long *)p = lv;
        return 0;
    case F_U64: {
        char *end;
        errno = 0;
        if (!brn_text_plain_integer(value, 0)) goto bad_int;
        unsigned long long x = strtoull(value, &end, 10);
        if (errno || end == value || *end) goto bad_int;
        *(uint64_t *)p = x;
        return 0;
    }
    case F_DOUBLE: {
        char *end;
        errno = 0;
        double x = value[0] == ' ' || value[0] == '\t' || value[0] == '\n' ? NAN : strtod(value, &end);
        /* ERANGE on underflow is fine (a tiny value); overflow gives an infinity */
        if (isnan(x) || end == value || *end || !isfinite(x)) {
            snprintf(err, errlen, "%s: '%s' is not a finite number", fl, value);
            return -1;
        }
        *(double *)p = x;
        return 0;
    }
    case F_BOOL:
        if (brn_text_parse_bool(value, (int *)p)) {
            snprintf(err, errlen, "%s: '%s' is not a boolean (true/false)", fl, value);
            return -1;
        }
        return 0;
    case F_STR:
        if (strlen(value) >= f->size) {
            snprintf(err, errlen, "%s: longer than %zu characters", fl, f->size - 1);
            return -1;
        }
        strcpy(p, value);
        return 0;
    case F_ENUM:
        for (int i = 0; f->choices[i]; i++) {
            char a[32], b[32];
            canonical(a, sizeof a, f->choices[i]);
            canonical(b, sizeof b, value);
            if (!strcasecmp(a, b)) {
                *(int *)p = i;
                return 0;
            }
        }
        {
            size_t o = (size_t)snprintf(err, errlen, "%s: '%s' is not one of", fl, value);
            for (int i = 0; f->choices[i] && o < errlen; i++)
                o += (size_t)snprintf(err + o, errlen - o, "%s %s", i ? "," : "", f->choices[i]);
        }
        return -1;
    case F_LIST: {
        int n = 0;
        const char *q = value;
        if (*q == 0) {
            s->n_milestones = 0;
            return 0;
        }
        while (*q) {
            char *end;
            errno = 0;
            long x = *q >= '0' && *q <= '9' ? strtol(q, &end, 10) : -1;
            if (x < 0 || errno || (*end && *end != ',') || (*end == ',' && !end[1]) || x > 1000000) {
                snprintf(err, errlen, "%s: '%s' is not a comma-separated list of epochs", fl, value);
                return -1;
            }
            if (n == BRN_SPEC_MAX_MILESTONES) {
                snprintf(err, errlen, "%s: at most %d milestones", fl, BRN_SPEC_MAX_MILESTONES);
                return -1;
            }
            s->milestones[n++] = (int)x;
            q = *end ? end + 1 : end;
        }
        s->n_milestones = n;
        return 0;
    }
    }
bad_int:
    snprintf(err, errlen, "%s: '%s' is not an integer", fl, value);
    return -1;
}

int brn_spec_parse_args(brn_job_spec *s, int argc, char **argv, char *err, size_t errlen,
                    int allow_unknown, int *rest, int *n_rest)
{
    if (n_rest) *n_rest = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || a[2] == 0) goto unknown;
        char name[64];
        const char *eq = strchr(a + 2, '=');
        size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (len >= sizeof name) goto unknown;
        memcpy(name, a + 2, len);
        name[len] = 0;
        const field_def *f = find_field(name);
        int negated = 0;
        if (!f && strncmp(name, "no-", 3) == 0) {
            f = find_field(name + 3);
            if (f && f->type != F_BOOL) f = NULL;
            negated = 1;
        }
        if (!f) goto unknown;
        const char *value;
        if (f->type == F_BOOL && !eq) {
            value = negated ? "false" : "true";
        } else if (negated) {
            snprintf(err, errlen, "--%s takes no value", name);
            return -1;
        } else if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            snprintf(err, errlen, "--%s needs a value", name);
            return -1;
        }
        if (brn_spec_set(s, f->name, value, err, errlen)) return -1;
        continue;
    unknown:
        if (!allow_unknown) {
            snprintf(err, errlen, "unknown option '%s'", a);
            return -1;
        }
        if (rest) rest[(*n_rest)++] = i;
    }
    return 0;
}

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

int brn_spec_validate(const brn_job_spec *s, char *err, size_t errlen)
{
    if (s->depth < 10 || (s->depth - 4) % 6 != 0 || s->depth > 1000)
        FAIL("depth: %d is not 6n+4 with n >= 1 (10, 16, 22, 28, 40, ...)", s->depth);
    if (s->width < 1 || s->width > 64) FAIL("width: %d is not in 1..64", s->width);
    if (!(s->dropout >= 0 && s->dropout < 1)) FAIL("dropout: %g is not in [0,1)", s->dropout);
    if (!brn_dataset_known(s->dataset)) FAIL("dataset: '%s' is not one of %s", s->dataset, brn_dataset_names());
    if (s->train_subset < 0) FAIL("train-subset: %d is negative", s->train_subset);
    if (s->test_subset < 0) FAIL("test-subset: %d is negative", s->test_subset);
    if (s->steps < 0 || s->steps > BRN_SPEC_MAX_STEPS)
        FAIL("steps: %ld is not in 0..%ld", s->steps, BRN_SPEC_MAX_STEPS);
    if (s->steps == 0 && (s->epochs < 1 || s->epochs > BRN_SPEC_MAX_EPOCHS))
        FAIL("epochs: %d is not in 1..%d", s->epochs, BRN_SPEC_MAX_EPOCHS);
    if (s->batch_size < 1 || s->batch_size > 65536) FAIL("batch-size: %d is not in 1..65536", s->batch_size);
    if (s->steps > 0) {
        /* steps mode: the epochs it implies on the dataset's nominal size are bounded too
           (the trainer checks again on the size it loads) */
        brn_dataset_dims d;
        if (brn_dataset_nominal_dims(s->dataset, &d) == 0) {
            long n = s->train_subset > 0 && s->train_subset < d.train_n ? s->train_subset : d.train_n;
            long spe = n / s->batch_size;
            if (spe > 0 && (s->steps + spe - 1) / spe > BRN_SPEC_MAX_EPOCHS)
                FAIL("steps: %ld steps are %ld epochs of %ld steps on %s; at most %d epochs", s->steps,
                     (s->steps + spe - 1) / spe, spe, s->dataset, BRN_SPEC_MAX_EPOCHS);
        }
    }
    if (!(s->lr > 0 && s->lr < 1e3)) FAIL("lr: %g is not in (0, 1000)", s->lr);
    if (!(s->momentum >= 0 && s->momentum < 1)) FAIL("momentum: %g is not in [0,1)", s->momentum);
    if (s->nesterov && s->momentum == 0) FAIL("nesterov: needs momentum > 0");
    if (!(s->weight_decay >= 0 && s->weight_decay < 1)) FAIL("weight-decay: %g is not in [0,1)", s->weight_decay);
    if (s->lr_schedule == BRN_LR_STEP && s->n_milestones == 0) FAIL("milestones: the step schedule needs at least one");
    for (int i = 1; i < s->n_milestones; i++)
        if (s->milestones[i] <= s->milestones[i - 1]) FAIL("milestones: must increase");
    if (!(s->lr_factor > 0 && s->lr_factor <= 1)) FAIL("lr-factor: %g is not in (0,1]", s->lr_factor);
    if (!(s->warmup_epochs >= 0 && s->warmup_epochs <= 1e4)) FAIL("warmup-epochs: %g is negative or too large", s->warmup_epochs);
    if (!(s->norm_eps > 0 && s->norm_eps < 1)) FAIL("norm-eps: %g is not in (0,1)", s->norm_eps);
    if (s->norm_momentum >= 0 && !(s->norm_momentum > 0 && s->norm_momentum <= 1))
        FAIL("norm-momentum: %g is not in (0,1]", s->norm_momentum);
    if (s->microbatch < 0) FAIL("microbatch: %d is negative", s->microbatch);
    if (s->microbatch > 0 && s->batch_size % s->microbatch != 0)
        FAIL("microbatch: %d does not divide batch-size %d", s->microbatch, s->batch_size);
    if (s->norm == BRN_NORM_BRN) {
        if (!(s->rmax >= 1 && s->rmax < 1e6)) FAIL("rmax: %g is below 1", s->rmax);
        if (!(s->dmax >= 0 && s->dmax < 1e6)) FAIL("dmax: %g is negative", s->dmax);
        if (s->renorm_warmup < BRN_SPEC_AUTO || s->renorm_warmup > BRN_SPEC_MAX_STEPS)
            FAIL("renorm-warmup: %ld is not -1 (auto) or in 0..%ld", s->renorm_warmup, BRN_SPEC_MAX_STEPS);
        if (s->rmax_steps < BRN_SPEC_AUTO || s->rmax_steps > BRN_SPEC_MAX_STEPS)
            FAIL("rmax-steps: %ld is not -1 (auto) or in 0..%ld", s->rmax_steps, BRN_SPEC_MAX_STEPS);
        if (s->dmax_steps < BRN_SPEC_AUTO || s->dmax_steps > BRN_SPEC_MAX_STEPS)
            FAIL("dmax-steps: %ld is not -1 (auto) or in 0..%ld", s->dmax_steps, BRN_SPEC_MAX_STEPS);
        if (!(s->t_delta > 0 && s->t_delta < 1e6)) FAIL("t-delta: %g is not positive", s->t_delta);
    }
    if (s->norm == BRN_NORM_GN) {
        if (s->gn_groups < 1) FAIL("gn-groups: %d is not positive", s->gn_groups);
        /* every WRN width is 16*2^j or 16k*2^j: the groups must divide 16 and 16k */
        if (16 % s->gn_groups != 0)
            FAIL("gn-groups: %d does not divide the stem's 16 channels", s->gn_groups);
    }
    if (s->sampling == BRN_SAMPLING_NON_IID) {
        if (s->labels_per_batch < 1 && s->labels_per_batch != BRN_SPEC_AUTO)
            FAIL("labels-per-batch: %d is not positive or -1 (auto)", s->labels_per_batch);
        if (s->labels_per_batch > 0 && s->batch_size % s->labels_per_batch != 0)
            FAIL("labels-per-batch: %d does not divide batch-size %d", s->labels_per_batch, s->batch_size);
        brn_dataset_dims dims;
        if (brn_dataset_nominal_dims(s->dataset, &dims) == 0 && s->labels_per_batch > dims.classes)
            FAIL("labels-per-batch: %d is more than the %d classes of %s", s->labels_per_batch, dims.classes,
                 s->dataset);
    }
    if (s->threads < 0 || s->threads > 1024) FAIL("threads: %d is not in 0..1024", s->threads);
    int gpu;
    if (strcmp(s->device, "cpu") && strcmp(s->device, "auto") && !brn_device_is_cuda(s->device, &gpu))
        FAIL("device: '%s' is not one of cpu, cuda, cuda:N (N = 0..%d), auto", s->device, BRN_MAX_GPUS - 1);
    if (s->eval_every < 0) FAIL("eval-every: %d is negative", s->eval_every);
    if (s->log_steps < 0) FAIL("log-steps: %d is negative", s->log_steps);
    if (s->save_every < 0) FAIL("save-every: %d is negative", s->save_every);
    return 0;
}

static long round_frac(long total, double frac)
{
    return (long)llround((double)total * frac);
}

/* BRN's auto momentum: the running averages remember ~2% of the run (see spec.h). */
static double brn_auto_momentum(long total_steps)
{
    double a = total_steps > 0 ? BRN_DEFAULT_MOMENTUM_STEPS / (double)total_steps : BRN_MAX_AUTO_MOMENTUM;
    return a < BRN_MIN_AUTO_MOMENTUM ? BRN_MIN_AUTO_MOMENTUM : a > BRN_MAX_AUTO_MOMENTUM ? BRN_MAX_AUTO_MOMENTUM : a;
}

void brn_spec_resolve(const brn_job_spec *s, long train_examples, brn_resolved *r)
{
    memset(r, 0, sizeof *r);
    const int brn = s->norm == BRN_NORM_BRN;
    r->steps_per_epoch = s->batch_size > 0 ? train_examples / s->batch_size : 0;
    r->total_steps = s->steps ? s->steps : r->steps_per_epoch * s->epochs;
    r->norm_momentum = s->norm_momentum >= 0 ? s->norm_momentum
                       : brn                 ? brn_auto_momentum(r->total_steps)
                                             : BRN_BN_DEFAULT_MOMENTUM;
    /* The paper's 5k/25k/40k steps exceed most CIFAR-sized runs: scale to the run. */
    int linear = s->renorm_schedule == BRN_RENORM_LINEAR;
    r->renorm_warmup = s->renorm_warmup != BRN_SPEC_AUTO ? s->renorm_warmup
                       : linear ? round_frac(r->total_steps, BRN_DEFAULT_WARMUP_FRACTION) : 0;
    /* an automatic ramp end never comes before the warm-up's end (a warm-up given past 75%) */
    long auto_end = round_frac(r->total_steps, BRN_DEFAULT_RAMP_END_FRACTION);
    if (auto_end < r->renorm_warmup) auto_end = r->renorm_warmup;
    r->dmax_steps = s->dmax_steps != BRN_SPEC_AUTO ? s->dmax_steps : auto_end;
    r->rmax_steps = s->rmax_steps != BRN_SPEC_AUTO ? s->rmax_steps : auto_end;
    r->renorm_never = brn && r->renorm_warmup >= r->total_steps;
    r->ramp_end_before_start = brn && linear && !r->renorm_never &&
                               (r->rmax_steps < r->renorm_warmup || r->dmax_steps < r->renorm_warmup);
    const double converged = BRN_MOMENTUM_CONVERGED_STEPS(r->norm_momentum);
    r->momentum_too_slow = (s->norm == BRN_NORM_BN || brn) && s->eval_stats == BRN_EVAL_MOVING &&
                           (double)r->total_steps < converged;
    /* r and d compare each batch with the running averages: before those converged (from
       their start at 0 and 1) the comparison is with the initial values */
    r->renorm_before_converged = brn && r->renorm_warmup < r->total_steps && (double)r->renorm_warmup < converged;
}

int brn_spec_describe_renorm(const brn_job_spec *s, const brn_resolved *r, char *buf, size_t n)
{
    if (s->norm != BRN_NORM_BRN) {
        if (n) buf[0] = 0;
        return 0;
    }
    const int linear = s->renorm_schedule == BRN_RENORM_LINEAR;
    /* name what was scaled to the run: the parts of the schedule not given, and the momentum */
    const char *scaled[3];
    int n_scaled = 0;
    if (linear && s->renorm_warmup == BRN_SPEC_AUTO) scaled[n_scaled++] = "warm-up";
    if (linear && (s->rmax_steps == BRN_SPEC_AUTO || s->dmax_steps == BRN_SPEC_AUTO)) scaled[n_scaled++] = "ramp end";
    if (s->norm_momentum < 0) scaled[n_scaled++] = "momentum";
    char tail[128] = "";
    size_t o = 0;
    for (int i = 0; i < n_scaled; i++)   /* "; a", "; a and b", "; a, b and c" */
        o += (size_t)snprintf(tail + o, sizeof tail - o, "%s%s", i == 0 ? "; " : i == n_scaled - 1 ? " and " : ", ",
                              scaled[i]);
    if (n_scaled) snprintf(tail + o, sizeof tail - o, " scaled to the run's %ld steps", r->total_steps);
    if (r->renorm_never)
        return snprintf(buf, n,
                        "renorm schedule: plain BN throughout (renorm-warmup %ld >= the run's %ld steps: r and d "
                        "never apply); running averages: momentum %g%s",
                        r->renorm_warmup, r->total_steps, r->norm_momentum, tail);
    if (linear)
        return snprintf(buf, n,
                        "renorm schedule (linear): plain BN for %ld steps, dmax %g at step %ld, rmax %g at step %ld; "
                        "running averages: momentum %g%s",
                        r->renorm_warmup, s->dmax, r->dmax_steps, s->rmax, r->rmax_steps, r->norm_momentum, tail);
    return snprintf(buf, n,
                    "renorm schedule (logistic, t_delta %g): plain BN for %ld steps, then towards dmax %g and rmax %g; "
                    "running averages: momentum %g%s",
                    s->t_delta, r->renorm_warmup, s->dmax, s->rmax, r->norm_momentum, tail);
}

static void format_field(const brn_job_spec *s, const field_def *f, char *buf, size_t n)
{
    const char *p = (const char *)s + f->offset;
    switch (f->type) {
    case F_INT: snprintf(buf, n, "%d", *(const int *)p); break;
    case F_LONG: snprintf(buf, n, "%ld", *(const long *)p); break;
    case F_U64: snprintf(buf, n, "%llu", (unsigned long long)*(const uint64_t *)p); break;
    case F_DOUBLE: snprintf(buf, n, "%.17g", *(const double *)p); break;
    case F_BOOL: snprintf(buf, n, "%s", *(const int *)p ? "true" : "false"); break;
    case F_STR: snprintf(buf, n, "%s", p); break;
    case F_ENUM: snprintf(buf, n, "%s", f->choices[*(const int *)p]); break;
    case F_LIST: {
        size_t o = 0;
        buf[0] = 0;
        for (int i = 0; i < s->n_milestones && o < n; i++)
            o += (size_t)snprintf(buf + o, n - o, "%s%d", i ? "," : "", s->milestones[i]);
        break;
    }
    }
}

int brn_spec_for_each(const brn_job_spec *s, brn_spec_field_fn fn, void *user)
{
    char buf[BRN_SPEC_PATH_LEN + 8];
    for (size_t i = 0; i < N_FIELDS; i++) {
        format_field(s, &FIELDS[i], buf, sizeof buf);
        int rc = fn(FIELDS[i].name, buf, user);
        if (rc) return rc;
    }
    return 0;
}

json_t *brn_spec_to_json(const brn_job_spec *s)
{
    json_t *o = json_object();
    char buf[BRN_SPEC_PATH_LEN + 8];
    for (size_t i = 0; i < N_FIELDS; i++) {
        const field_def *f = &FIELDS[i];
        const char *p = (const char *)s + f->offset;
        json_t *v;
        switch (f->type) {
        case F_INT: v = json_integer(*(const int *)p); break;
        case F_LONG: v = json_integer(*(const long *)p); break;
        case F_U64: /* as a string: JSON integers lose 64-bit precision in many readers */
            snprintf(buf, sizeof buf, "%llu", (unsigned long long)*(const uint64_t *)p);
            v = json_string(buf);
            break;
        case F_DOUBLE: v = json_real(*(const double *)p); break;
        case F_BOOL: v = json_boolean(*(const int *)p); break;
        case F_LIST:
            v = json_array();
            for (int k = 0; k < s->n_milestones; k++) json_array_append_new(v, json_integer(s->milestones[k]));
            break;
        default:
            format_field(s, f, buf, sizeof buf);
            v = json_string(buf);
        }
        json_object_set_new(o, f->name, v);
    }
    return o;
}

int brn_spec_from_json(brn_job_spec *s, const json_t *j, char *err, size_t errlen)
{
    const char *key;
    json_t *v;
    char buf[BRN_SPEC_PATH_LEN + 8];
    if (!json_is_object(j)) FAIL("spec: not a JSON object");
    json_object_foreach((json_t *)j, key, v) {
        if (json_is_string(v)) snprintf(buf, sizeof buf, "%s", json_string_value(v));
        else if (json_is_integer(v)) snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        else if (json_is_real(v)) snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
        else if (json_is_boolean(v)) snprintf(buf, sizeof buf, "%s", json_is_true(v) ? "true" : "false");
        else if (json_is_array(v)) {
            size_t o = 0, idx;
            json_t *x;
            buf[0] = 0;
            json_array_foreach(v, idx, x) o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%lld", idx ? "," : "",
                                                                  (long long)json_integer_value(x));
        } else FAIL("%s: unsupported JSON value", key);
        if (brn_spec_set(s, key, buf, err, errlen)) return -1;
    }
    return 0;
}

int brn_spec_from_json_text(const char *text, brn_job_spec *s, char *err, size_t errlen)
{
    brn_spec_defaults(s);
    json_error_t je;
    json_t *j = json_loads(text ? text : "{}", 0, &je);
    if (!j) FAIL("stored spec: %s", je.text);
    int rc = brn_spec_from_json(s, j, err, errlen);
    json_decref(j);
    return rc;
}

void brn_spec_print_help(FILE *out)
{
    brn_job_spec d;
    brn_spec_defaults(&d);
    char buf[BRN_SPEC_PATH_LEN + 8], fl[64];
    for (size_t i = 0; i < N_FIELDS; i++) {
        const field_def *f = &FIELDS[i];
        format_field(&d, f, buf, sizeof buf);
        flag_name(fl, sizeof fl, f->name);
        if (f->type == F_BOOL) fprintf(out, "  --%s / --no-%s", fl, fl);
        else fprintf(out, "  --%s VALUE", fl);
        if ((f->type == F_LONG || f->type == F_INT) && !strcmp(buf, "-1")) snprintf(buf, sizeof buf, "auto");
        if (f->type == F_DOUBLE) {   /* the shortest text that reads back the same: 0.1, not 0.10000000000000001 */
            const double v = *(const double *)((const char *)&d + f->offset);
            if (v < 0) snprintf(buf, sizeof buf, "auto");
            else brn_text_shortest_double(buf, sizeof buf, v);
        }
        const char *help = f->help ? f->help : brn_dataset_names();
        if (strstr(help, "(default:")) fprintf(out, "\n      %s\n", help);   /* the help says it already */
        else fprintf(out, "\n      %s (default: %s)\n", help, buf[0] ? buf : "none");
    }
}

const char *brn_norm_kind_name(brn_norm_kind k) { return NORM_NAMES[k]; }
const char *brn_lr_schedule_name(brn_lr_schedule k) { return LR_NAMES[k]; }
const char *brn_precision_name(brn_precision p) { return PRECISION_NAMES[p]; }

int brn_spec_labels_per_batch(const brn_job_spec *s, int classes)
{
    if (s->labels_per_batch > 0) return s->labels_per_batch;
    /* few labels per batch (the paper: 16 of ImageNet's 1000), and whole examples per label */
    int most = classes / 2 < 16 ? classes / 2 : 16, best = 1;
    for (int l = 1; l <= most; l++)
        if (s->batch_size % l == 0) best = l;
    return best;
}

int brn_device_is_cuda(const char *device, int *index)
{
    if (strncmp(device, "cuda", 4)) return 0;
    if (!device[4]) {
        *index = 0;
        return 1;
    }
    long n;
    if (device[4] != ':' || !device[5] || device[5] == '-' || device[5] == '+' || parse_long(device + 5, &n) ||
        n >= BRN_MAX_GPUS)
        return 0;
    *index = (int)n;
    return 1;
}
