/* Budgets and limits: parsing, defaults, and what the machine gives (cores, memory). */
#define _GNU_SOURCE
#include "common/limits.h"

#include "backend.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

const char LIMITS_USAGE[] =
    "  --memory-budget B   memory a job may need per device: SIZE (the CPU) or DEVICE=SIZE[,...]\n"
    "                      (default: 80% of MemAvailable at start, within the cgroup's memory.max;\n"
    "                      a GPU: 90% of its memory)\n"
    "  --max-epochs N      epochs per job (default 10000)\n"
    "  --max-steps N       optimizer steps per job (default 1000000000)\n"
    "  --max-queued N      queued jobs at once (default 1000)\n"
    "  --max-watch-streams N  open WatchJob streams (default 1024)\n"
    "  --max-job-disk SIZE checkpoint files one job may keep (default 16G)\n"
    "  --keep-epoch-checkpoints K  epoch-N checkpoint files kept per job, newest first (default 3)\n"
    "  --max-crashes N     brnd deaths while a job runs before it is FAILED (crashed); 0 = never (default 3)\n";

void limits_defaults(brn_limits *l)
{
    memset(l, 0, sizeof *l);
    l->max_epochs = LIMITS_DEFAULT_MAX_EPOCHS;
    l->max_steps = LIMITS_DEFAULT_MAX_STEPS;
    l->max_queued = LIMITS_DEFAULT_MAX_QUEUED;
    l->max_watch_streams = LIMITS_DEFAULT_MAX_WATCH_STREAMS;
    l->max_job_disk = LIMITS_DEFAULT_MAX_JOB_DISK;
    l->keep_epoch_checkpoints = LIMITS_DEFAULT_KEEP_EPOCH_CHECKPOINTS;
    l->max_crashes = LIMITS_DEFAULT_MAX_CRASHES;
    l->cpu_cores = 1;
}

int limits_parse_size(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !(v >= 0)) return -1;
    double mult = 1;
    switch (*end) {
    case 'k': case 'K': mult = 1024.0; end++; break;
    case 'm': case 'M': mult = 1024.0 * 1024; end++; break;
    case 'g': case 'G': mult = 1024.0 * 1024 * 1024; end++; break;
    case 't': case 'T': mult = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: break;
    }
    if (mult > 1 && (!strcasecmp(end, "ib") || !strcasecmp(end, "b"))) end += strlen(end);
    else if (mult == 1 && !strcasecmp(end, "b")) end++;
    if (*end) return -1;
    v *= mult;
    if (v > 9.0e18) return -1;
    *out = (int64_t)v;
    return 0;
}

const char *limits_format_bytes(char *buf, size_t n, int64_t b)
{
    if (b >= (1LL << 30)) snprintf(buf, n, "%.1f GiB", (double)b / (1LL << 30));
    else if (b >= (1LL << 20)) snprintf(buf, n, "%.1f MiB", (double)b / (1LL << 20));
    else if (b >= (1LL << 10)) snprintf(buf, n, "%.1f KiB", (double)b / (1LL << 10));
    else snprintf(buf, n, "%lld B", (long long)b);
    return buf;
}

/* A whole number in [lo, hi]. */
static int parse_count(const char *key, const char *v, long lo, long hi, long *out, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end || errno || x < lo || x > hi) {
        snprintf(err, errlen, "%s: '%s' is not a whole number in %ld..%ld", key, v, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

static brn_device_budget *budget_slot(brn_limits *l, const char *device)
{
    for (int i = 0; i < l->n_memory; i++)
        if (!strcmp(l->memory[i].device, device)) return &l->memory[i];
    if (l->n_memory == LIMITS_MAX_DEVICES) return NULL;
    brn_device_budget *b = &l->memory[l->n_memory++];
    memset(b, 0, sizeof *b);
    snprintf(b->device, sizeof b->device, "%s", device);
    return b;
}

/* "SIZE" or "DEVICE=SIZE[,DEVICE=SIZE...]" */
static int parse_budgets(brn_limits *l, const char *v, char *err, size_t errlen)
{
    char buf[512];
    if (strlen(v) >= sizeof buf || !v[0]) {
        snprintf(err, errlen, "memory_budget: '%s' is empty or too long", v);
        return -1;
    }
    snprintf(buf, sizeof buf, "%s", v);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(t, '=');
        const char *device = "cpu", *size = t;
        if (eq) {
            *eq = 0;
            device = t;
            size = eq + 1;
        }
        int64_t bytes;
        if (!device[0] || strlen(device) >= LIMITS_DEVICE_NAME || limits_parse_size(size, &bytes) || bytes <= 0) {
            snprintf(err, errlen, "memory_budget: '%s' is not SIZE or DEVICE=SIZE (e.g. 12G or cpu=12G,cuda:0=70G)", v);
            return -1;
        }
        brn_device_budget *b = budget_slot(l, device);
        if (!b) {
            snprintf(err, errlen, "memory_budget: more than %d devices", LIMITS_MAX_DEVICES);
            return -1;
        }
        b->bytes = bytes;
        b->from_machine = 0;
    }
    return 0;
}

static const char *const KEYS[] = {"memory_budget", "max_epochs", "max_steps", "max_queued", "max_watch_streams",
                                   "max_job_disk", "keep_epoch_checkpoints", "max_crashes"};

int limits_is_key(const char *key)
{
    for (size_t i = 0; i < sizeof KEYS / sizeof KEYS[0]; i++)
        if (!strcmp(key, KEYS[i])) return 1;
    return 0;
}

int limits_set_option(brn_limits *l, const char *name, const char *v, char *err, size_t errlen)
{
    char key[64];
    size_t i = 0;
    for (; name[i] && i + 1 < sizeof key; i++) key[i] = name[i] == '-' ? '_' : name[i];
    key[i] = 0;
    if (!limits_is_key(key)) return 1;
    long x;
    if (!strcmp(key, "memory_budget")) return parse_budgets(l, v, err, errlen);
    if (!strcmp(key, "max_job_disk")) {
        int64_t b;
        if (limits_parse_size(v, &b) || b <= 0) {
            snprintf(err, errlen, "max_job_disk: '%s' is not a positive size (e.g. 16G)", v);
            return -1;
        }
        l->max_job_disk = b;
        return 0;
    }
    if (!strcmp(key, "max_epochs")) {
        if (parse_count(key, v, 1, 100000, &x, err, errlen)) return -1;
        l->max_epochs = (int)x;
    } else if (!strcmp(key, "max_steps")) {
        if (parse_count(key, v, 1, LONG_MAX, &x, err, errlen)) return -1;
        l->max_steps = x;
    } else if (!strcmp(key, "max_queued")) {
        if (parse_count(key, v, 1, 10000000, &x, err, errlen)) return -1;
        l->max_queued = (int)x;
    } else if (!strcmp(key, "max_watch_streams")) {
        if (parse_count(key, v, 1, 1000000, &x, err, errlen)) return -1;
        l->max_watch_streams = (int)x;
    } else if (!strcmp(key, "keep_epoch_checkpoints")) {
        if (parse_count(key, v, 0, 1000000, &x, err, errlen)) return -1;
        l->keep_epoch_checkpoints = (int)x;
    } else if (!strcmp(key, "max_crashes")) {
        if (parse_count(key, v, 0, 1000000, &x, err, errlen)) return -1;
        l->max_crashes = (int)x;
    }
    return 0;
}

/* A "Key:   N kB" line of /proc/meminfo, in bytes; -1 when missing. */
static int64_t meminfo_bytes(const char *key)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return -1;
    char line[256];
    int64_t v = -1;
    size_t n = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, n) && line[n] == ':') {
            v = strtoll(line + n + 1, NULL, 10) * 1024;
            break;
        }
    fclose(f);
    return v;
}

/* The cgroup v2 memory.max of this process, or -1 ("max" or no cgroup v2). */
static int64_t cgroup_memory_max(void)
{
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f) return -1;
    char line[1024], path[1200];
    int64_t v = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "0::", 3)) continue;
        line[strcspn(line, "\n")] = 0;
        snprintf(path, sizeof path, "/sys/fs/cgroup%s/memory.max", line + 3);
        FILE *m = fopen(path, "r");
        if (m) {
            char val[64] = "";
            if (fgets(val, sizeof val, m) && strncmp(val, "max", 3)) v = strtoll(val, NULL, 10);
            fclose(m);
        }
        break;
    }
    fclose(f);
    return v;
}

void limits_resolve(brn_limits *l)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    int cores = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : (int)sysconf(_SC_NPROCESSORS_ONLN);
    l->cpu_cores = cores > 0 ? cores : 1;
    /* every GPU without a configured budget gets a share of its memory */
    brn_device_desc devs[1 + BRN_MAX_GPUS];
    const int n = brn_devices_list(devs, 1 + BRN_MAX_GPUS, NULL, 0);
    for (int i = 1; i < n; i++) {
        if (limits_memory_budget(l, devs[i].id) > 0) continue;
        brn_device_budget *g = budget_slot(l, devs[i].id);
        if (!g) break;
        g->bytes = (int64_t)((double)devs[i].memory_bytes * LIMITS_DEFAULT_GPU_MEMORY_FRACTION);
        g->from_machine = 1;
    }
    if (limits_memory_budget(l, "cpu") > 0) return;
    int64_t avail = meminfo_bytes("MemAvailable"), cg = cgroup_memory_max();
    if (avail <= 0) avail = (int64_t)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE);
    if (cg > 0 && cg < avail) avail = cg;
    brn_device_budget *b = budget_slot(l, "cpu");
    if (!b) return;
    b->bytes = (int64_t)((double)avail * LIMITS_DEFAULT_MEMORY_FRACTION);
    b->from_machine = 1;
}

int64_t limits_memory_budget(const brn_limits *l, const char *device)
{
    for (int i = 0; i < l->n_memory; i++)
        if (!strcmp(l->memory[i].device, device)) return l->memory[i].bytes;
    return -1;
}
