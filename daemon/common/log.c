/* Logging with a level filter, ISO 8601 UTC stamps, an optional log file and per-call-site
 * rate limits. A line is formatted into one buffer and written with one write(2). */
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile brn_log_level log_level = BRN_LOG_INFO;
static const char *const LEVEL_NAMES[] = {"error", "warn", "info", "debug"};

/* The destination: stderr, or a file descriptor that reopen replaces in place (dup2), so
 * writers never see a closed descriptor. */
static int log_fd = STDERR_FILENO;
static char log_path[4096];
static pthread_mutex_t limit_mu = PTHREAD_MUTEX_INITIALIZER;

void brnd_log_set_level(brn_log_level lvl) { log_level = lvl; }

int brnd_log_parse_level(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, LEVEL_NAMES[i]) == 0) return i;
    if (strcmp(name, "warning") == 0) return BRN_LOG_WARN;
    return -1;
}

static int open_log(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
}

int brnd_log_set_file(const char *path)
{
    if (strlen(path) >= sizeof log_path) return -ENAMETOOLONG;
    int fd = open_log(path);
    if (fd < 0) return -errno;
    snprintf(log_path, sizeof log_path, "%s", path);
    if (log_fd != STDERR_FILENO) { /* a second file replaces the first in place */
        int rc = dup2(fd, log_fd) < 0 ? -errno : 0;
        close(fd);
        return rc;
    }
    log_fd = fd;
    return 0;
}

void brnd_log_close(void)
{
    if (log_fd == STDERR_FILENO) return;
    int fd = log_fd;
    log_fd = STDERR_FILENO;
    close(fd);
    log_path[0] = 0;
}

int brnd_log_reopen(void)
{
    if (!log_path[0]) return 0;
    int fd = open_log(log_path);
    if (fd < 0) return -errno;
    int rc = dup2(fd, log_fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

void brnd_log_timestamp(char *buf, int n)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char date[32];
    if (!strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm)) date[0] = 0;
    snprintf(buf, (size_t)n, "%s.%03ldZ", date, ts.tv_nsec / 1000000);
}

static void log_va(brn_log_level lvl, const char *fmt, va_list ap)
{
    char line[2048], stamp[32];
    brnd_log_timestamp(stamp, sizeof stamp);
    int n = snprintf(line, sizeof line, "%s brnd %s: ", stamp, LEVEL_NAMES[lvl]);
    if (n >= 0 && (size_t)n < sizeof line) n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    if (n < 0) return;
    if ((size_t)n >= sizeof line - 1) n = (int)sizeof line - 2; /* truncated: keep the newline */
    line[n++] = '\n';
    ssize_t w = write(log_fd, line, (size_t)n);
    (void)w; /* nowhere left to report a failing log */
}

void brnd_log(brn_log_level lvl, const char *fmt, ...)
{
    if (lvl > log_level) return;
    va_list ap;
    va_start(ap, fmt);
    log_va(lvl, fmt, ap);
    va_end(ap);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void brnd_log_limited(brn_log_limit *lim, brn_log_level lvl, const char *fmt, ...)
{
    if (lvl > log_level) return;
    int64_t now = mono_ms();
    long dropped = 0;
    pthread_mutex_lock(&limit_mu);
    if (lim->window_start_ms == 0 || now - lim->window_start_ms >= LOG_LIMIT_WINDOW_MS) {
        dropped = lim->suppressed;
        lim->suppressed = 0;
        lim->window_start_ms = now;
        lim->in_window = 0;
    }
    int pass = lim->in_window < LOG_LIMIT_BURST;
    if (pass) lim->in_window++;
    else lim->suppressed++;
    pthread_mutex_unlock(&limit_mu);
    if (dropped) brnd_log(lvl, "(%ld similar message%s suppressed in the last %d s)", dropped, dropped == 1 ? "" : "s",
                          LOG_LIMIT_WINDOW_MS / 1000);
    if (!pass) return;
    va_list ap;
    va_start(ap, fmt);
    log_va(lvl, fmt, ap);
    va_end(ap);
}
