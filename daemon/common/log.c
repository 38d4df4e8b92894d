/* stderr logging with a level filter. Lines are formatted into one buffer first so that
 * lines from the loop and the worker threads never interleave mid-line. */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static volatile brn_log_level log_level = BRN_LOG_INFO;
static const char *const LEVEL_NAMES[] = {"error", "warn", "info", "debug"};

void brnd_log_set_level(brn_log_level lvl) { log_level = lvl; }

int brnd_log_parse_level(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, LEVEL_NAMES[i]) == 0) return i;
    if (strcmp(name, "warning") == 0) return BRN_LOG_WARN;
    return -1;
}

void brnd_log(brn_log_level lvl, const char *fmt, ...)
{
    if (lvl > log_level) return;
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%02d:%02d:%02d.%03ld brnd %s: ", tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, LEVEL_NAMES[lvl]);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < sizeof line) vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line);
}
