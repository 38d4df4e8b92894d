/* Daemon logging: one line per message, level-filtered, stamped with an ISO 8601 UTC time
 * ("2026-11-30T05:48:46.123Z brnd info: ..."), to stderr or to a file (--log-file).
 * Thread-safe: each line is formatted first and written with one write(2) call, so lines
 * from the loop, the store writer and the device workers never interleave mid-line.
 *
 * Repeated errors: the *_LIMITED macros let at most LOG_LIMIT_BURST lines from one call site
 * through per LOG_LIMIT_WINDOW_MS, then print how many were suppressed when the next
 * window opens; a failing disk or a held lock must not flood the log. */
#ifndef BRN_COMMON_LOG_H
#define BRN_COMMON_LOG_H

#include <stdint.h>

typedef enum { BRN_LOG_ERROR, BRN_LOG_WARN, BRN_LOG_INFO, BRN_LOG_DEBUG } brn_log_level;

void brnd_log_set_level(brn_log_level lvl);
/* "error" | "warn" | "info" | "debug" -> level, or -1 */
int brnd_log_parse_level(const char *name);
void brnd_log(brn_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Log to path (appending, created mode 0600) instead of stderr. Returns 0 or -errno;
 * on failure the previous destination stays. */
int brnd_log_set_file(const char *path);

/* Back to stderr, closing the log file (at the end of serve_main). */
void brnd_log_close(void);

/* Reopen the log file at the same path (after logrotate moved it; call from SIGHUP).
 * Lines written meanwhile go to the old file. Returns 0 (also when logging to stderr)
 * or -errno, keeping the old file open. */
int brnd_log_reopen(void);

/* The ISO 8601 UTC stamp of the current time, "2026-11-30T05:48:46.123Z" (needs 25 bytes). */
void brnd_log_timestamp(char *buf, int n);

/* Per-call-site state of a rate-limited log line (a static zero-initialised struct). */
typedef struct brn_log_limit {
    int64_t window_start_ms;
    int in_window;
    long suppressed;
} brn_log_limit;

#define LOG_LIMIT_BURST 5
#define LOG_LIMIT_WINDOW_MS 10000

void brnd_log_limited(brn_log_limit *lim, brn_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define LOG_ERROR(...) brnd_log(BRN_LOG_ERROR, __VA_ARGS__)
#define LOG_WARN(...) brnd_log(BRN_LOG_WARN, __VA_ARGS__)
#define LOG_INFO(...) brnd_log(BRN_LOG_INFO, __VA_ARGS__)
#define LOG_DEBUG(...) brnd_log(BRN_LOG_DEBUG, __VA_ARGS__)

#define LOG_ERROR_LIMITED(...) do { static brn_log_limit lim_; brnd_log_limited(&lim_, BRN_LOG_ERROR, __VA_ARGS__); } while (0)
#define LOG_WARN_LIMITED(...) do { static brn_log_limit lim_; brnd_log_limited(&lim_, BRN_LOG_WARN, __VA_ARGS__); } while (0)

#endif
