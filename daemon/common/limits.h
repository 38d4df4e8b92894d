/* The daemon's budgets and limits: what one brnd accepts and keeps, set by flags or the
 * config file (`--max-epochs 1000`, "max_epochs": 1000) and read by the service (admission
 * at SubmitJob, WatchJob streams) and the scheduler (threads, crash loops, retention, disk).
 *
 * Memory budgets are per device name ("cpu", later "cuda:0"): a job whose estimated peak
 * (brn_job_estimate) exceeds its device's budget is refused at submit. A device without a
 * configured budget gets one from the machine (limits_resolve). 0 in a count limit means
 * "no limit" where the option says so. */
#ifndef BRN_COMMON_LIMITS_H
#define BRN_COMMON_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#define LIMITS_MAX_DEVICES 16
#define LIMITS_DEVICE_NAME 32

/* Defaults (see limits_defaults and README "Operating brnd"). */
#define LIMITS_DEFAULT_MEMORY_FRACTION 0.8     /* of MemAvailable (or the cgroup's limit) */
#define LIMITS_DEFAULT_GPU_MEMORY_FRACTION 0.9 /* of a GPU's memory (its context and cuDNN take the rest) */
#define LIMITS_DEFAULT_MAX_EPOCHS 10000
#define LIMITS_DEFAULT_MAX_STEPS 1000000000L
#define LIMITS_DEFAULT_MAX_QUEUED 1000
#define LIMITS_DEFAULT_MAX_WATCH_STREAMS 1024
#define LIMITS_DEFAULT_MAX_JOB_DISK (16LL << 30)
#define LIMITS_DEFAULT_KEEP_EPOCH_CHECKPOINTS 3
#define LIMITS_DEFAULT_MAX_CRASHES 3

typedef struct brn_device_budget {
    char device[LIMITS_DEVICE_NAME];   /* "cpu", "cuda:0" */
    int64_t bytes;
    int from_machine;                  /* 1: derived by limits_resolve, not configured */
} brn_device_budget;

typedef struct brn_limits {
    brn_device_budget memory[LIMITS_MAX_DEVICES];
    int n_memory;
    int max_epochs;              /* a job's epochs (or the epochs its steps imply) */
    long max_steps;              /* a job's optimizer steps */
    int max_queued;              /* QUEUED jobs at once */
    int max_watch_streams;       /* open WatchJob streams */
    int64_t max_job_disk;        /* bytes of checkpoint files one job may keep */
    int keep_epoch_checkpoints;  /* epoch-N files kept per job (the newest); 0 = none */
    int max_crashes;             /* brnd deaths during one job before it is FAILED; 0 = never */
    int cpu_cores;               /* cores brnd may use (sched_getaffinity), set by limits_resolve */
} brn_limits;

void limits_defaults(brn_limits *l);

/* Set one option by its config key ("max_epochs") or flag name ("max-epochs").
 * Returns 1 when the key is not a limit (the caller tries its own keys), 0 when set,
 * or -1 with "key: reason" in err. memory_budget takes "SIZE" (the CPU's) or
 * "DEVICE=SIZE[,DEVICE=SIZE...]"; sizes are bytes or K/M/G/T (binary) with optional "iB". */
int limits_set_option(brn_limits *l, const char *key, const char *value, char *err, size_t errlen);

/* 1 when key (config spelling, '_') is a limit's key. */
int limits_is_key(const char *key);

/* Fill what the machine decides: the cores brnd may use, and a memory budget for "cpu"
 * when none was configured. Call once at start-up, after the options. */
void limits_resolve(brn_limits *l);

/* The memory budget of a device, or -1 when it has none (an unknown device). */
int64_t limits_memory_budget(const brn_limits *l, const char *device);

/* "12.0 GiB", "512 MiB", "900 B" into buf (n >= 16). */
const char *limits_format_bytes(char *buf, size_t n, int64_t bytes);

/* Parse a size ("12G", "512MiB", "1048576"); 0 or -1. */
int limits_parse_size(const char *s, int64_t *out);

/* Help lines for `brnd serve --help`. */
extern const char LIMITS_USAGE[];

#endif
