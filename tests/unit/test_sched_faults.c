/* The scheduler and the store writer while every store write fails (the store's test VFS
 * answers SQLITE_FULL, as a full disk does), with real tiny jobs on a real loop:
 *  - a job that ends while writes fail keeps its final state queued (still RUNNING in the
 *    store, never lost), the next job waits to start, and the loop neither blocks nor spins;
 *  - a job whose epoch cannot be stored pauses: no step and no checkpoint after that epoch;
 *  - once writes succeed again every epoch is stored and every job ends SUCCEEDED. */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "check.h"
#include "scheduler/scheduler.h"
#include "store/store.h"
#include "store/store_writer.h"

#define TICK_MS 10
#define JOB_EPOCHS 3

static char tmpdir[256], dbpath[512];
static uv_loop_t loop;
static brn_store *rd;
static store_writer *writer;
static brn_scheduler *sched;
static brn_limits limits;
static uv_timer_t tick;

/* what the test watches */
static int64_t job_a, job_b, job_c;
/* 1: fault at A's last epoch; 2: fault at C's first; 3: as 2, then a stop while C is
 * paused; 4: a new start without faults resumes C */
static int scenario;
static double fault_at;           /* when faults were switched on (0: off) */
static int fault_done;
static long progress_c, progress_c_at_mark;
static double c_epoch2_trained_at;  /* the last batch of C's epoch 2 was reported */
static double mark_at, cpu_at_mark;
static int epochs_seen[8];        /* per job id (1..7): the highest epoch published */
static double max_tick_late;
static double last_tick;
static struct timespec ckpt_mtime;
static int stopping;
static double started;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
           1e-6 * ru.ru_stime.tv_usec;
}

static int64_t submit(brn_store *s, const char *name)
{
    brn_job_spec spec;
    brn_spec_defaults(&spec);
    snprintf(spec.dataset, sizeof spec.dataset, "synthetic");
    spec.depth = 10;
    spec.width = 1;
    spec.train_subset = 256;
    spec.test_subset = 64;
    spec.batch_size = 32;
    spec.threads = 1;
    spec.epochs = JOB_EPOCHS;
    json_t *j = brn_spec_to_json(&spec);
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    int64_t id = 0;
    char err[256];
    CHECK_EQ_INT(store_job_insert(s, name, 0, NULL, text, &id, NULL, err, sizeof err), 0);
    free(text);
    return id;
}

static brn_job_state state_of(int64_t id)
{
    brn_job_row row;
    char err[256];
    if (store_job_get(rd, id, &row, err, sizeof err)) return (brn_job_state)-1;
    brn_job_state st = row.state;
    brn_job_row_free(&row);
    return st;
}

static int stored_epochs(int64_t id)
{
    brn_epoch_metrics *m = NULL;
    int n = 0;
    char err[256];
    if (store_epochs_get(rd, id, 0, 0, &m, &n, err, sizeof err)) return -1;
    for (int i = 0; i < n; i++)
        if (m[i].epoch != i + 1) n = -100; /* a gap */
    store_epochs_free(m, n < 0 ? 0 : n);
    return n;
}

static void faults_on(void)
{
    store_fault_set(1);
    fault_at = now_s();
}

static void on_epoch(void *user, int64_t id, const brn_epoch_metrics *m)
{
    if (id >= 1 && id < 8) epochs_seen[id] = m->epoch;
    if (fault_done || fault_at > 0) return;
    if (scenario == 1 && id == job_a && m->epoch == JOB_EPOCHS) faults_on();
    if ((scenario == 2 || scenario == 3) && id == job_c && m->epoch == 1) faults_on();
}

static void on_progress(void *user, int64_t id, const brn_step_info *s)
{
    if (id != job_c) return;
    progress_c++;
    if (s->epoch == 2 && s->batch == s->batches_per_epoch && fault_at > 0) c_epoch2_trained_at = now_s();
}

static void on_job_changed(void *user, int64_t id) {}

static void on_writer_closed(void *user)
{
    scheduler_free(sched);
    uv_close((uv_handle_t *)&tick, NULL);
}

static void on_sched_stopped(void *user) { store_writer_close(writer, 1000, on_writer_closed, NULL); }

static void ckpt_stat(struct timespec *out)
{
    char path[600];
    struct stat st;
    snprintf(path, sizeof path, "%s/jobs/%lld/last.safetensors", tmpdir, (long long)job_c);
    memset(out, 0, sizeof *out);
    if (stat(path, &st) == 0) *out = st.st_mtim;
}

/* Scenario 1, once A's worker is free and a second later: A ended but its final state
 * waits (still RUNNING in the store), B waits to start, and the process is idle. */
static void check_scenario1(double t)
{
    double cpu = cpu_s() - cpu_at_mark;
    fprintf(stderr, "scenario 1: %.2f s into the fault: A %s, B %s, CPU %.3f s in the last %.2f s, %d writes waiting\n",
            t - fault_at, store_job_state_name(state_of(job_a)), store_job_state_name(state_of(job_b)), cpu,
            t - mark_at, store_writer_pending(writer));
    CHECK_EQ_INT(state_of(job_a), BRN_JOB_RUNNING); /* SUCCEEDED is queued, not lost */
    CHECK_EQ_INT(state_of(job_b), BRN_JOB_QUEUED);  /* its start waits */
    CHECK_EQ_INT(stored_epochs(job_a), JOB_EPOCHS);
    CHECK(store_writer_failing(writer, NULL));
    CHECK(store_writer_pending(writer) >= 2);
    CHECK(cpu < 0.4); /* no busy loop: nothing trains, the writer sleeps between attempts */
}

/* Scenario 2: C trained epoch 2 and waits for it to be stored: no step, no checkpoint. */
static void check_scenario2(double t)
{
    struct timespec m;
    ckpt_stat(&m);
    fprintf(stderr, "scenario 2: %.2f s into the fault: C %s, epochs stored %d, progress events in the last %.2f s: %ld\n",
            t - fault_at, store_job_state_name(state_of(job_c)), stored_epochs(job_c), t - mark_at,
            progress_c - progress_c_at_mark);
    CHECK_EQ_INT(state_of(job_c), BRN_JOB_RUNNING);
    CHECK_EQ_INT(stored_epochs(job_c), 1);
    CHECK_EQ_INT(progress_c, progress_c_at_mark);          /* paused: no step since */
    CHECK(m.tv_sec == ckpt_mtime.tv_sec && m.tv_nsec == ckpt_mtime.tv_nsec); /* no checkpoint */
}

/* No worker runs job id any more (it may be starting the next one). */
static int worker_done_with(int64_t id)
{
    brn_device_info d[4];
    int n = scheduler_devices(sched, d, 4);
    for (int i = 0; i < n; i++)
        if (d[i].running_job == id) return 0;
    return 1;
}

static void on_tick(uv_timer_t *t)
{
    double now = now_s();
    if (last_tick > 0 && now - last_tick - TICK_MS / 1000.0 > max_tick_late) max_tick_late = now - last_tick - TICK_MS / 1000.0;
    last_tick = now;
    if (fault_at > 0 && !fault_done) {
        /* the moment to start watching: A's worker is free / C finished epoch 2 (+0.5 s
         * for its evaluation and the call into on_epoch) */
        if (mark_at == 0 && ((scenario == 1 && worker_done_with(job_a)) || (scenario >= 2 && c_epoch2_trained_at > 0 &&
                                                                   now - c_epoch2_trained_at >= 0.5))) {
            mark_at = now;
            cpu_at_mark = cpu_s();
            progress_c_at_mark = progress_c;
            ckpt_stat(&ckpt_mtime);
        }
        if (mark_at > 0 && now - mark_at >= 1.0) {
            if (scenario == 1) check_scenario1(now);
            else check_scenario2(now);
            fault_done = 1;
            if (scenario == 3) { /* stop with the disk still full: C must stay paused */
                stopping = 1;
                scheduler_stop(sched, on_sched_stopped, NULL);
            } else {
                store_fault_set(0);
            }
        }
    }
    int done = scenario == 1 ? state_of(job_a) == BRN_JOB_SUCCEEDED && state_of(job_b) == BRN_JOB_SUCCEEDED
                             : scenario == 3 ? 0 : state_of(job_c) == BRN_JOB_SUCCEEDED;
    if ((done || now - started > 60) && !stopping) {
        CHECK(done); /* else: gave up after 60 s */
        stopping = 1;
        scheduler_stop(sched, on_sched_stopped, NULL);
    }
}

static void run_scenario(int which)
{
    char err[512];
    scenario = which;
    fault_at = 0;
    fault_done = 0;
    stopping = 0;
    mark_at = c_epoch2_trained_at = 0;
    max_tick_late = 0;
    last_tick = 0;
    started = now_s();
    CHECK_EQ_INT(uv_loop_init(&loop), 0);
    CHECK_EQ_INT(store_open(dbpath, &rd, err, sizeof err), 0);
    if (which == 1) {
        job_a = submit(rd, "a");
        job_b = submit(rd, "b");
    } else if (which <= 3) {
        job_c = submit(rd, "c");
        progress_c = 0;
    } else {
        fault_done = 1; /* no faults: resume and finish */
    }
    CHECK_EQ_INT(store_set_busy_timeout(rd, 100, err, sizeof err), 0);
    CHECK_EQ_INT(store_set_query_only(rd, err, sizeof err), 0);
    CHECK_EQ_INT(store_writer_start(&loop, dbpath, &writer, err, sizeof err), 0);
    brn_sched_listener l = {.user = NULL, .on_job_changed = on_job_changed, .on_progress = on_progress,
                            .on_epoch = on_epoch};
    brn_sched_config cfg = {.state_dir = tmpdir, .data_dir = "", .limits = &limits};
    CHECK_EQ_INT(scheduler_create(&loop, rd, writer, &cfg, &l, &sched, err, sizeof err), 0);
    CHECK_EQ_INT(scheduler_recover(sched, err, sizeof err), 0);
    scheduler_kick(sched);
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, on_tick, TICK_MS, TICK_MS);
    uv_run(&loop, UV_RUN_DEFAULT);
    store_writer_free(writer);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);

    CHECK(fault_done);
    fprintf(stderr, "scenario %d: the loop was at most %.0f ms late\n", which, max_tick_late * 1e3);
    CHECK(max_tick_late < 0.5);
    if (which == 3) {
        /* stopped while C was paused on an epoch the store could not take: its worker is
         * left paused, so C's checkpoint is still the one from before that epoch */
        usleep(700 * 1000);
        struct timespec m;
        ckpt_stat(&m);
        CHECK(m.tv_sec == ckpt_mtime.tv_sec && m.tv_nsec == ckpt_mtime.tv_nsec);
        CHECK_EQ_INT(stored_epochs(job_c), 1);
        CHECK_EQ_INT(state_of(job_c), BRN_JOB_RUNNING); /* resumed at the next start */
        store_fault_set(0);
    } else if (which == 1) {
        CHECK_EQ_INT(state_of(job_a), BRN_JOB_SUCCEEDED);
        CHECK_EQ_INT(state_of(job_b), BRN_JOB_SUCCEEDED);
        CHECK_EQ_INT(stored_epochs(job_a), JOB_EPOCHS);
        CHECK_EQ_INT(stored_epochs(job_b), JOB_EPOCHS);
    } else {
        CHECK_EQ_INT(state_of(job_c), BRN_JOB_SUCCEEDED);
        CHECK_EQ_INT(stored_epochs(job_c), JOB_EPOCHS); /* epoch 2 was kept (or trained again) and written */
        CHECK_EQ_INT(epochs_seen[job_c], JOB_EPOCHS);
    }
    store_close(rd);
}

static void test_final_state_waits_for_the_disk(void) { run_scenario(1); }
static void test_job_pauses_on_an_unstored_epoch(void) { run_scenario(2); }
static void test_stop_while_paused_loses_nothing(void)
{
    run_scenario(3);
    run_scenario(4);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/brn-sched-faults-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) return 2;
    snprintf(dbpath, sizeof dbpath, "%s/brnd.db", tmpdir);
    if (store_fault_enable(NULL)) return 2;
    limits_defaults(&limits);
    limits_resolve(&limits);
    TEST(test_final_state_waits_for_the_disk);
    TEST(test_job_pauses_on_an_unstored_epoch);
    TEST(test_stop_while_paused_loses_nothing);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", tmpdir);
    return CHECK_DONE();
}
