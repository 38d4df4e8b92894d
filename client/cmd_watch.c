/* brnctl watch / submit --wait: follow a job's WatchJob stream to its terminal state.
 *
 * On a terminal the in-epoch progress is a bar redrawn in place; otherwise only state
 * changes and epoch lines are printed (logs stay short). With --json every event is one
 * JSON line. If the daemon restarts mid-job the stream is reopened; the server replays
 * stored epochs, which are printed once. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "job_format.h"
#include "pb_json.h"

typedef struct watch_state {
    cli *c;
    int tty, width, json;
    int bar_shown;
    int total_epochs;
    int last_state;
    int printed_epoch;        /* highest epoch line already shown */
    int64_t started_ms;
    int terminal;             /* a terminal state was seen; the server then ends the stream */
    char final_line[768];
} watch_state;

/* Set while a progress bar is on screen, so Ctrl-C leaves the shell prompt on a clean line. */
static volatile sig_atomic_t bar_on_screen;

static void on_interrupt(int sig)
{
    if (bar_on_screen) {
        static const char nl[] = "\n";
        ssize_t r = write(STDOUT_FILENO, nl, 1);
        (void)r;
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void clear_bar(watch_state *w)
{
    if (w->bar_shown) {
        fputs("\r\033[K", stdout);
        w->bar_shown = 0;
        bar_on_screen = 0;
    }
}

static void on_job(watch_state *w, const Brn__V1__Job *j)
{
    const Brn__V1__JobSpec *s = j->spec;
    if (s && s->epochs_opt_case && !(s->steps_opt_case && s->steps > 0)) w->total_epochs = s->epochs;
    if (j->state == w->last_state) return;
    w->last_state = j->state;
    char line[sizeof w->final_line];
    size_t o = (size_t)snprintf(line, sizeof line, "job %lld: %s", (long long)j->id, jobfmt_state_name(j->state));
    if (j->state == BRN__V1__JOB_STATE__JOB_STATE_RUNNING && j->device && j->device[0] && o < sizeof line)
        o += (size_t)snprintf(line + o, sizeof line - o, " on %s", j->device);
    if (j->reason && j->reason[0] && o < sizeof line) o += (size_t)snprintf(line + o, sizeof line - o, ": %s", j->reason);
    if (jobfmt_state_terminal(j->state) && j->started_ms > 0 && j->finished_ms >= j->started_ms && o < sizeof line) {
        char d[24];
        jobfmt_duration(d, sizeof d, j->finished_ms - j->started_ms);
        snprintf(line + o, sizeof line - o, " after %s", d);
    }
    if (jobfmt_state_terminal(j->state)) {
        /* A finished job's stored epochs follow its state: say how it ended last. */
        w->terminal = 1;
        snprintf(w->final_line, sizeof w->final_line, "%s", line);
        return;
    }
    clear_bar(w);
    printf("%s\n", line);
}

static int on_event(const ProtobufCMessage *m, void *user)
{
    watch_state *w = user;
    const Brn__V1__WatchEvent *e = (const Brn__V1__WatchEvent *)m;
    char line[512];
    if (w->json) {
        json_t *j = pb_to_json(m);
        json_dumpf(j, stdout, JSON_COMPACT);
        json_decref(j);
        fputc('\n', stdout);
        if (e->event_case == BRN__V1__WATCH_EVENT__EVENT_JOB && jobfmt_state_terminal(e->job->state)) {
            w->last_state = e->job->state;
            w->terminal = 1;
        }
    } else {
        switch (e->event_case) {
        case BRN__V1__WATCH_EVENT__EVENT_JOB:
            on_job(w, e->job);
            break;
        case BRN__V1__WATCH_EVENT__EVENT_EPOCH:
            if (e->epoch->epoch <= w->printed_epoch) break;
            w->printed_epoch = e->epoch->epoch;
            clear_bar(w);
            jobfmt_epoch_line(line, sizeof line, e->epoch, w->total_epochs);
            printf("%s\n", line);
            break;
        case BRN__V1__WATCH_EVENT__EVENT_PROGRESS:
            if (!w->tty) break;
            jobfmt_progress_bar(line, sizeof line, e->progress, w->total_epochs, w->width - 1);
            printf("\r\033[K%s", line);
            w->bar_shown = 1;
            bar_on_screen = 1;
            break;
        default:
            break;
        }
    }
    fflush(stdout);
    return 0;
}

static int terminal_width(void)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40) return ws.ws_col;
    return 80;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int cli_watch_job(cli *c, int64_t id)
{
    int rc = cli_connect(c);
    if (rc) return rc;
    watch_state w = {0};
    w.c = c;
    w.json = c->json;
    w.tty = !c->json && isatty(STDOUT_FILENO);
    w.width = terminal_width();
    if (w.tty) signal(SIGINT, on_interrupt);
    w.last_state = -1;
    Brn__V1__WatchJobRequest req = BRN__V1__WATCH_JOB_REQUEST__INIT;
    req.id = id;
    ctl_status st;
    int64_t lost_since = 0;
    for (;;) {
        ctl_stream(&c->conn, M_WATCH, &req.base, &brn__v1__watch_event__descriptor, CLI_WATCH_DEADLINE_S,
                          on_event, &w, &st);
        clear_bar(&w);
        if (w.terminal) {
            if (st.code != GRPC_STATUS_OK) { /* the job ended, but the stream broke: part of it is missing */
                if (w.final_line[0] && !w.json) printf("%s\n", w.final_line);
                return cli_fail(c, &st, "watch");
            }
            break;
        }
        /* The stream broke before the job ended: the daemon went away (restart, crash).
         * UNAVAILABLE also covers a refused reconnect; anything else is final. */
        int retry = st.code == GRPC_STATUS_UNAVAILABLE || st.code == GRPC_STATUS_OK ||
                    st.code == GRPC_STATUS_INTERNAL || st.code == GRPC_STATUS_UNKNOWN;
        if (!retry || (st.code == GRPC_STATUS_UNAVAILABLE && w.last_state < 0 && !lost_since)) {
            if (st.code == GRPC_STATUS_OK) {
                fprintf(stderr, "%s: watch: the stream ended before job %lld finished\n", c->prog, (long long)id);
                return EX_PROTOCOL;
            }
            return cli_fail(c, &st, "watch");
        }
        int64_t now = cli_now_ms();
        if (!lost_since) {
            lost_since = now;
            if (!w.json) fprintf(stderr, "%s: lost the daemon (%s); reconnecting...\n", c->prog, ctl_code_name(st.code));
        }
        if (now - lost_since > (int64_t)(CLI_RECONNECT_S * 1000)) return cli_fail(c, &st, "watch");
        sleep_ms(500);
    }
    if (w.final_line[0]) printf("%s\n", w.final_line);
    if (w.last_state == BRN__V1__JOB_STATE__JOB_STATE_SUCCEEDED) return 0;
    return 1;
}

int cmd_watch(cli *c, int argc, char **argv)
{
    int64_t id = 0;
    int have = 0, rc;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("Usage: %s watch ID [--json]\n\nFollows a job until it SUCCEEDED, FAILED or was CANCELLED: a live\n"
                   "progress bar on a terminal, plain lines otherwise, one JSON object per event with --json.\n"
                   "Exits 0 iff the job SUCCEEDED (and the whole stream arrived), 1 when it failed or was\n"
                   "cancelled, and a sysexits code (75, 69, ...) when the stream broke.\n", c->prog);
            return 0;
        }
        if (cli_global_opt(c, argc, argv, &i, &rc)) {
            if (rc) return rc;
        } else if (!have && !cli_parse_id(argv[i], &id)) {
            have = 1;
        } else {
            return cli_usage(c, "watch", "unexpected argument '%s'", argv[i]);
        }
    }
    if (!have) return cli_usage(c, "watch", "which job? give its ID");
    return cli_watch_job(c, id);
}
