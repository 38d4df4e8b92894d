/* Sweep grids: parsing, expansion, labels and idempotency keys (see sweep.h). */
#include "sweep.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brn/v1/brn.pb-c.h"

#define FAIL(code, ...) do { snprintf(err, errlen, __VA_ARGS__); return (code); } while (0)

int sweep_init(sweep_plan *p, const char *name, int n_seeds, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    size_t len = strlen(name);
    if (len < 1 || len > SWEEP_NAME_MAX) FAIL(SWEEP_EUSAGE, "--name: '%s' is not 1..%d characters", name, SWEEP_NAME_MAX);
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_' ||
              *c == '.' || *c == '-'))
            FAIL(SWEEP_EUSAGE, "--name: '%s' may hold only A-Z a-z 0-9 _ . -", name);
    if (n_seeds < 1 || n_seeds > SWEEP_MAX_JOBS) FAIL(SWEEP_EUSAGE, "--seeds: %d is not in 1..%d", n_seeds, SWEEP_MAX_JOBS);
    memcpy(p->name, name, len + 1);
    p->n_seeds = n_seeds;
    return 0;
}

void sweep_free(sweep_plan *p)
{
    for (int a = 0; a < p->n_axes; a++)
        for (int k = 0; k < p->axes[a].n; k++) free(p->axes[a].values[k]);
    free(p->points);
    memset(p, 0, sizeof *p);
}

int sweep_add_axis(sweep_plan *p, const char *arg, char *err, size_t errlen)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || !eq[1]) FAIL(SWEEP_EUSAGE, "--grid: '%s' is not FIELD=V1,V2,...", arg);
    if (p->n_axes == SWEEP_MAX_AXES) FAIL(SWEEP_EUSAGE, "--grid: at most %d fields", SWEEP_MAX_AXES);
    sweep_axis *ax = &p->axes[p->n_axes];
    size_t len = (size_t)(eq - arg);
    if (len >= sizeof ax->field) FAIL(SWEEP_EUSAGE, "--grid: '%.*s' is not a job spec field", (int)len, arg);
    for (size_t i = 0; i < len; i++) ax->field[i] = arg[i] == '-' ? '_' : arg[i];
    ax->field[len] = 0;
    const char *f = ax->field;
    if (!strcmp(f, "seed")) FAIL(SWEEP_EUSAGE, "--grid seed: seeds come from --seeds N (counting up from --seed)");
    if (!strcmp(f, "milestones")) FAIL(SWEEP_EUSAGE, "--grid milestones: a list cannot be swept; run one sweep per list");
    if (!protobuf_c_message_descriptor_get_field_by_name(&brn__v1__job_spec__descriptor, f))
        FAIL(SWEEP_EUSAGE, "--grid %s: not a job spec field the daemon accepts (see `brnctl submit --help`)", f);
    for (int a = 0; a < p->n_axes; a++)
        if (!strcmp(p->axes[a].field, f)) FAIL(SWEEP_EUSAGE, "--grid %s: given twice", f);
    char *list = strdup(eq + 1), *save = NULL;
    if (!list) FAIL(SWEEP_EUSAGE, "out of memory");
    int rc = 0;
    ax->n = 0;
    for (char *v = strtok_r(list, ",", &save); v; v = strtok_r(NULL, ",", &save)) {
        brn_job_spec scratch;
        char why[256];
        brn_spec_defaults(&scratch);
        if (ax->n == SWEEP_MAX_VALUES) {
            snprintf(err, errlen, "--grid %s: at most %d values", f, SWEEP_MAX_VALUES);
            rc = SWEEP_EUSAGE;
            break;
        }
        if (brn_spec_set(&scratch, f, v, why, sizeof why)) {
            snprintf(err, errlen, "--grid %s: %s", f, why);
            rc = SWEEP_EUSAGE;
            break;
        }
        for (int k = 0; k < ax->n && !rc; k++)
            if (!strcmp(ax->values[k], v)) {
                snprintf(err, errlen, "--grid %s: value '%s' given twice", f, v);
                rc = SWEEP_EUSAGE;
            }
        if (rc) break;
        if (!(ax->values[ax->n] = strdup(v))) {
            snprintf(err, errlen, "out of memory");
            rc = SWEEP_EUSAGE;
            break;
        }
        ax->n++;
    }
    free(list);
    if (!rc && ax->n == 0) {
        snprintf(err, errlen, "--grid %s: no values", f);
        rc = SWEEP_EUSAGE;
    }
    if (rc) {
        for (int k = 0; k < ax->n; k++) free(ax->values[k]);
        memset(ax, 0, sizeof *ax);
        return rc;
    }
    p->n_axes++;
    return 0;
}

/* Copies one field's value from src to dst through its text form. */
typedef struct copy_ctx {
    brn_job_spec *dst;
    const char *field;
} copy_ctx;

static int copy_one(const char *name, const char *value, void *user)
{
    copy_ctx *c = user;
    char why[64];
    if (strcmp(name, c->field)) return 0;
    brn_spec_set(c->dst, name, value, why, sizeof why); /* the value came from a valid spec */
    return 1;
}

static void copy_field(brn_job_spec *dst, const brn_job_spec *src, const char *field)
{
    copy_ctx c = {dst, field};
    brn_spec_for_each(src, copy_one, &c);
}

int sweep_expand(sweep_plan *p, const brn_job_spec *base, char *err, size_t errlen)
{
    long total = 1;
    for (int a = 0; a < p->n_axes; a++) {
        total *= p->axes[a].n;
        if (total > SWEEP_MAX_POINTS) FAIL(SWEEP_EUSAGE, "--grid: more than %d points", SWEEP_MAX_POINTS);
    }
    free(p->points);
    p->points = calloc((size_t)total, sizeof *p->points);
    p->n_points = p->n_merged = 0;
    if (!p->points) FAIL(SWEEP_EUSAGE, "out of memory");
    p->seed0 = base->seed;
    if (p->seed0 > UINT64_MAX - (uint64_t)p->n_seeds) FAIL(SWEEP_EUSAGE, "--seed: too large for %d seeds", p->n_seeds);
    for (long g = 0; g < total; g++) {
        sweep_point pt;
        char why[512], text[512];
        pt.spec = *base;
        long rem = g;
        for (int a = p->n_axes - 1; a >= 0; a--) { /* the last axis varies fastest */
            pt.value[a] = (int)(rem % p->axes[a].n);
            rem /= p->axes[a].n;
        }
        for (int a = 0; a < p->n_axes; a++)
            if (brn_spec_set(&pt.spec, p->axes[a].field, p->axes[a].values[pt.value[a]], why, sizeof why))
                FAIL(SWEEP_EUSAGE, "--grid %s: %s", p->axes[a].field, why);
        /* A field without effect here keeps the base value, so the job is the one a
         * submit without it would create. */
        brn_job_spec applied = pt.spec;
        for (int a = 0; a < p->n_axes; a++)
            if (brn_spec_field_inert(&applied, p->axes[a].field)) {
                copy_field(&pt.spec, base, p->axes[a].field);
                pt.value[a] = -1;
            }
        int dup = 0;
        for (int k = 0; k < p->n_points && !dup; k++)
            dup = !memcmp(p->points[k].value, pt.value, sizeof(int) * (size_t)p->n_axes);
        if (dup) {
            p->n_merged++;
            continue;
        }
        p->points[p->n_points] = pt;
        if (brn_spec_validate(&pt.spec, why, sizeof why)) {
            sweep_point_text(p, p->n_points, text, sizeof text);
            FAIL(SWEEP_EINVALID, "point %s: %s", text, why);
        }
        p->n_points++;
    }
    if ((long)p->n_points * p->n_seeds > SWEEP_MAX_JOBS)
        FAIL(SWEEP_EUSAGE, "%d points x %d seeds: more than %d jobs", p->n_points, p->n_seeds, SWEEP_MAX_JOBS);
    return 0;
}

int sweep_job_count(const sweep_plan *p)
{
    return p->n_points * p->n_seeds;
}

void sweep_job_at(const sweep_plan *p, int j, int *point, uint64_t *seed)
{
    *point = j % p->n_points;
    *seed = p->seed0 + (uint64_t)(j / p->n_points);
}

void sweep_job_spec(const sweep_plan *p, int point, uint64_t seed, brn_job_spec *out)
{
    *out = p->points[point].spec;
    out->seed = seed;
}

void sweep_job_given(const sweep_plan *p, const ctl_spec_given *base_given, int point, ctl_spec_given *out)
{
    *out = *base_given;
    const char *extra[SWEEP_MAX_AXES + 1];
    int n = 0;
    for (int a = 0; a < p->n_axes; a++)
        if (p->points[point].value[a] >= 0) extra[n++] = p->axes[a].field;
    extra[n++] = "seed";
    for (int k = 0; k < n; k++)
        if (!ctl_spec_given_has(out, extra[k]) && out->n < SPEC_PROTO_MAX_FIELDS)
            snprintf(out->names[out->n++], sizeof out->names[0], "%s", extra[k]);
}

int sweep_job_labels(const sweep_plan *p, int point, uint64_t seed, ctl_labels *out)
{
    char s[24];
    if (ctl_labels_add(out, "sweep", p->name)) return -1;
    for (int a = 0; a < p->n_axes; a++) {
        int v = p->points[point].value[a];
        if (v >= 0 && ctl_labels_add(out, p->axes[a].field, p->axes[a].values[v])) return -1;
    }
    snprintf(s, sizeof s, "%" PRIu64, seed);
    return ctl_labels_add(out, "seed", s);
}

uint64_t sweep_fnv1a64(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

static int by_field(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void sweep_job_key(const sweep_plan *p, int point, uint64_t seed, char *out, size_t n)
{
    /* "field=value" lines sorted by field: the order of --grid options does not matter */
    char lines[SWEEP_MAX_AXES + 1][1100], *order[SWEEP_MAX_AXES + 1], canon[(SWEEP_MAX_AXES + 1) * 1100];
    int k = 0;
    for (int a = 0; a < p->n_axes; a++) {
        int v = p->points[point].value[a];
        if (v < 0) continue;
        snprintf(lines[k], sizeof lines[k], "%s=%s\n", p->axes[a].field, p->axes[a].values[v]);
        order[k] = lines[k];
        k++;
    }
    snprintf(lines[k], sizeof lines[k], "seed=%" PRIu64 "\n", seed);
    order[k] = lines[k];
    k++;
    qsort(order, (size_t)k, sizeof *order, by_field);
    size_t o = 0;
    canon[0] = 0;
    for (int i = 0; i < k && o < sizeof canon; i++) o += (size_t)snprintf(canon + o, sizeof canon - o, "%s", order[i]);
    snprintf(out, n, "sweep:%s:%016" PRIx64, p->name, sweep_fnv1a64(canon));
}

void sweep_point_text(const sweep_plan *p, int point, char *out, size_t n)
{
    size_t o = 0;
    out[0] = 0;
    for (int a = 0; a < p->n_axes && o < n; a++) {
        int v = p->points[point].value[a];
        if (v < 0) continue;
        o += (size_t)snprintf(out + o, n - o, "%s%s=%s", o ? " " : "", p->axes[a].field, p->axes[a].values[v]);
    }
    if (o == 0) snprintf(out, n, "(base)");
}
